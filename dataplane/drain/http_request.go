package drain

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2/hpack"

	"github.com/logplex/logplex/config"
)

// The request an HTTP drain sends (docs/logplex.md §5.4), headers in this
// order and nothing else:
//
//	POST <path or />[?query] HTTP/1.1
//	Host: <host>[:<port> if the URL names it]
//	Authorization: Basic <base64(user:pass)>     (URL with userinfo)
//	Content-Type: application/logplex-1
//	Logplex-Msg-Count: <frames in the body, L10 included>
//	Logplex-Frame-Id: <32 uppercase hex, the same on every try of a frame>
//	Logplex-Drain-Token: d.<uuid>
//	User-Agent: <Options.UserAgent>
//	Content-Encoding: gzip|zstd                  (compressed drains; an extension)
//	Content-Length: <body bytes as sent>
//
// An OTLP drain (an extension) sends Host, Authorization (URL with
// userinfo), Content-Type: application/x-protobuf, User-Agent,
// Content-Encoding (unless "none"), then the drain's own headers in their
// stored order; no Logplex-* headers.
//
// What does not change from one request to the next is rendered once, in
// two pieces around the Logplex-Msg-Count and Logplex-Frame-Id lines.

// httpRequestTemplate holds what every request of one drain shares.
type httpRequestTemplate struct {
	pre  []byte // request line to Content-Type
	post []byte // Logplex-Drain-Token (or, OTLP, User-Agent) to the line before Content-Length
	otlp bool
}

func newHTTPRequestTemplate(o *Options, d *Drain, coding string) (*httpRequestTemplate, error) {
	u := d.URL
	uri, err := httpRequestURI(u)
	if err != nil {
		return nil, err
	}
	t := &httpRequestTemplate{otlp: u.Kind == config.DrainOTLP}
	line := func(b []byte, name, value string) []byte {
		return append(append(append(append(b, name...), ": "...), value...), "\r\n"...)
	}
	pre := append(append([]byte("POST "), uri...), " HTTP/1.1\r\n"...)
	pre = line(pre, "Host", httpHostHeader(u))
	if u.HasUser {
		pre = line(pre, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(httpBasicCredentials(u))))
	}
	var post []byte
	if t.otlp {
		pre = line(pre, "Content-Type", "application/x-protobuf")
	} else {
		pre = line(pre, "Content-Type", "application/logplex-1")
		post = line(post, "Logplex-Drain-Token", d.Config.Token)
	}
	post = line(post, "User-Agent", o.UserAgent)
	if coding != "" {
		post = line(post, "Content-Encoding", coding)
	}
	if t.otlp {
		for _, h := range config.DrainHeaders(d.Config.Headers) {
			post = line(post, h.Name, h.Value)
		}
	}
	t.pre, t.post = pre, post
	return t, nil
}

// httpRequestURI is the request-URI of u's requests as the URL gives it
// (path not normalised), "/" when it has no path.
func httpRequestURI(u *config.DrainURL) ([]byte, error) {
	var uri fasthttp.URI
	if err := uri.Parse(nil, []byte("http://drain"+u.RequestURI())); err != nil {
		return nil, err
	}
	uri.DisablePathNormalizing = true // after Parse, which resets it
	return uri.RequestURI(), nil
}

// httpHostHeader is the Host header of u: the host, with ":port" only when the
// URL names the port (docs/logplex.md §5.4); IPv6 literals in brackets.
func httpHostHeader(u *config.DrainURL) string {
	h := u.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if u.ExplicitPort {
		h += ":" + strconv.Itoa(u.Port)
	}
	return h
}

// httpBasicCredentials is the user:pass an HTTP drain authenticates with. Like
// Logplex (string:tokens on ':', empty parts dropped), "user", "user:" and
// ":user" give "user:", "user:pass" and "user::pass" give "user:pass". Three
// or more parts, which made Logplex fail every request, keep the first as
// the user and the rest, ':'-joined, as the password.
func httpBasicCredentials(u *config.DrainURL) string {
	var parts []string
	for _, p := range strings.Split(u.User+":"+u.Pass, ":") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	switch len(parts) {
	case 0:
		return ":"
	case 1:
		return parts[0] + ":"
	}
	return parts[0] + ":" + strings.Join(parts[1:], ":")
}

// appendHead appends to dst the head of the POST of a body of bodyLen
// bytes holding count frames under frame id id.
func (t *httpRequestTemplate) appendHead(dst []byte, bodyLen, count int, id []byte) []byte {
	dst = append(dst, t.pre...)
	if !t.otlp {
		dst = append(dst, "Logplex-Msg-Count: "...)
		dst = strconv.AppendInt(dst, int64(count), 10)
		dst = append(dst, "\r\nLogplex-Frame-Id: "...)
		dst = append(dst, id...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, t.post...)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(bodyLen), 10)
	return append(dst, "\r\n\r\n"...)
}

// h2Block is the HPACK block of the header fields every HTTP/2 request of
// the drain carries (http2.go), translated from the HTTP/1.1 head the
// template renders, so both say the same: the pseudo-headers (:authority
// from Host), then the other fields with lowercase names. Every field is a
// literal never indexed: the block depends on no table state, so it is
// encoded once per drain and copied into each request, where indexing would
// cost the writer a table search per field and request (~10 % of the
// router's CPU in many-channels) to save bytes on loopback-cheap writes.
func (t *httpRequestTemplate) h2Block(https bool) []byte {
	scheme := "http"
	if https {
		scheme = "https"
	}
	lines := strings.Split(strings.TrimSuffix(string(t.pre)+string(t.post), "\r\n"), "\r\n")
	reqLine := strings.Fields(lines[0]) // POST <uri> HTTP/1.1
	fields := []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: scheme},
		{Name: ":authority"}, {Name: ":path", Value: reqLine[1]}}
	for _, l := range lines[1:] {
		name, value, _ := strings.Cut(l, ": ")
		name = strings.ToLower(name)
		if name == "host" {
			fields[2].Value = value
			continue
		}
		fields = append(fields, hpack.HeaderField{Name: name, Value: value})
	}
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	for _, f := range fields {
		f.Sensitive = true // never indexed: no table state
		_ = e.WriteField(f)
	}
	return b.Bytes()
}

// appendH2Dynamic appends to block the fields of one HTTP/2 request that
// change from request to request: Logplex-Msg-Count (count) and
// Logplex-Frame-Id (id), not for OTLP, and Content-Length, as literals
// never indexed (h2Block); appendHead renders the same for HTTP/1.1.
func (t *httpRequestTemplate) appendH2Dynamic(block []byte, count int, id []byte, bodyLen int) []byte {
	var n [20]byte
	if !t.otlp {
		block = appendHpackLiteral(block, "logplex-msg-count", strconv.AppendInt(n[:0], int64(count), 10))
		block = appendHpackLiteral(block, "logplex-frame-id", id)
	}
	return appendHpackLiteral(block, "content-length", strconv.AppendInt(n[:0], int64(bodyLen), 10))
}

// appendHpackLiteral appends a "literal header field never indexed, new
// name" (RFC 7541 §6.2.3), strings without Huffman coding.
func appendHpackLiteral(dst []byte, name string, value []byte) []byte {
	dst = append(dst, 0x10)
	dst = appendHpackInt(dst, len(name))
	dst = append(dst, name...)
	dst = appendHpackInt(dst, len(value))
	return append(dst, value...)
}

// appendHpackInt appends v as an HPACK integer with a 7-bit prefix and the
// Huffman bit clear (RFC 7541 §5.1).
func appendHpackInt(dst []byte, v int) []byte {
	if v < 127 {
		return append(dst, byte(v))
	}
	dst = append(dst, 127)
	for v -= 127; v >= 128; v >>= 7 {
		dst = append(dst, byte(v&127|128))
	}
	return append(dst, byte(v))
}

// newHTTPFrameID returns a fresh random frame id: 16 random bytes as 32
// uppercase hex digits (Logplex: the hex of an md5 of node, pid and time).
func newHTTPFrameID() (id [32]byte) {
	const digits = "0123456789ABCDEF"
	for half := 0; half < 2; half++ {
		v := rand.Uint64()
		for i := 0; i < 16; i++ {
			id[half*16+i] = digits[v&15]
			v >>= 4
		}
	}
	return id
}

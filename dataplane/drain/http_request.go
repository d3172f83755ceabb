package drain

import (
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
)

// The request an HTTP drain sends (docs/logplex.md §5.4), headers in this order and
// nothing else (fasthttp's own headers are disabled; it appends only
// Content-Length, last):
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

var (
	hdrHost        = []byte("Host")
	hdrAuth        = []byte("Authorization")
	hdrContentType = []byte("Content-Type")
	hdrMsgCount    = []byte("Logplex-Msg-Count")
	hdrFrameID     = []byte("Logplex-Frame-Id")
	hdrDrainToken  = []byte("Logplex-Drain-Token")
	hdrUserAgent   = []byte("User-Agent")
	hdrEncoding    = []byte("Content-Encoding")
	valLogplex1    = []byte("application/logplex-1")
	valProtobuf    = []byte("application/x-protobuf")
	methodPost     = []byte(fasthttp.MethodPost)
)

// httpRequestTemplate holds what every request of one drain shares.
type httpRequestTemplate struct {
	uri    fasthttp.URI // only its path and query reach the wire
	host   []byte
	auth   []byte // "Basic …", or nil
	token  []byte
	ua     []byte
	coding []byte // Content-Encoding, or nil
	otlp   bool
	extra  [][2][]byte // an OTLP drain's own headers (secret: never logged)
}

func newHTTPRequestTemplate(o *Options, d *Drain, coding string) (*httpRequestTemplate, error) {
	u := d.URL
	t := &httpRequestTemplate{
		host:  []byte(httpHostHeader(u)),
		token: []byte(d.Config.Token),
		ua:    []byte(o.UserAgent),
	}
	if u.HasUser {
		t.auth = []byte("Basic " + base64.StdEncoding.EncodeToString([]byte(httpBasicCredentials(u))))
	}
	if coding != "" {
		t.coding = []byte(coding)
	}
	if u.Kind == config.DrainOTLP {
		t.otlp = true
		for _, h := range config.DrainHeaders(d.Config.Headers) {
			t.extra = append(t.extra, [2][]byte{[]byte(h.Name), []byte(h.Value)})
		}
	}
	// The scheme must match the HostClient (IsTLS false: TLS is done when
	// dialing); the host part is not sent (the Host header above is).
	if err := t.uri.Parse(nil, []byte("http://drain"+u.RequestURI())); err != nil {
		return nil, err
	}
	return t, nil
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

// fill makes req the POST of body holding count frames under frame id id.
// num is scratch for the count's digits, returned for reuse. body must stay
// unchanged until the request is done.
func (t *httpRequestTemplate) fill(req *fasthttp.Request, body []byte, count int, id, num []byte) []byte {
	req.Reset()
	h := &req.Header
	h.DisableSpecialHeader() // we write Host, Content-Type and User-Agent, in our order
	h.DisableNormalizing()
	h.SetMethodBytes(methodPost)
	req.SetURI(&t.uri)
	req.UseHostHeader = true
	h.SetBytesKV(hdrHost, t.host)
	if t.auth != nil {
		h.SetBytesKV(hdrAuth, t.auth)
	}
	if t.otlp {
		h.SetBytesKV(hdrContentType, valProtobuf)
	} else {
		h.SetBytesKV(hdrContentType, valLogplex1)
		num = strconv.AppendInt(num[:0], int64(count), 10)
		h.SetBytesKV(hdrMsgCount, num)
		h.SetBytesKV(hdrFrameID, id)
		h.SetBytesKV(hdrDrainToken, t.token)
	}
	h.SetBytesKV(hdrUserAgent, t.ua)
	if t.coding != nil {
		h.SetBytesKV(hdrEncoding, t.coding)
	}
	for _, kv := range t.extra {
		h.AddBytesKV(kv[0], kv[1])
	}
	req.SetBodyRaw(body)
	return num
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

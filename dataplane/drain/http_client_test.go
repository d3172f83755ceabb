package drain

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestReadHTTPAnswer: what a drain reads of the responses receivers send
// (lengths, chunks, interim responses, HTTP/1.0, close) and what it refuses.
func TestReadHTTPAnswer(t *testing.T) {
	big := strings.Repeat("x", httpMaxResponseBody+1)
	for _, c := range []struct {
		name, resp     string
		status         int
		body           string
		keep, tooLarge bool
		retryAfter     string
		err            error // errors.Is; nil: none
		rest           string
	}{
		{name: "length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello", keep: true},
		{name: "no reason, bare LF", resp: "HTTP/1.1 204\nServer: x\n\n", status: 204, keep: true},
		{name: "chunked with extension and trailer",
			resp:   "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n",
			status: 200, body: "hello world", keep: true},
		{name: "interim responses skipped", resp: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
			status: 202, keep: true},
		{name: "connection close", resp: "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
		{name: "HTTP/1.0", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
		{name: "HTTP/1.0 keep-alive", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", keep: true},
		{name: "body to EOF", resp: "HTTP/1.1 200 OK\r\n\r\nuntil the end", status: 200, body: "until the end"},
		{name: "body too large", resp: "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(big)) + "\r\n\r\n" + big, status: 200, tooLarge: true,
			rest: big},
		{name: "chunked too large", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n" + big[:0x10001] + "\r\n0\r\n\r\n",
			status: 200, tooLarge: true, rest: big[:0x10001] + "\r\n0\r\n\r\n"},
		{name: "EOF body too large", resp: "HTTP/1.1 200 OK\r\n\r\n" + big, status: 200, tooLarge: true, rest: "*"}, // where it stops: no matter
		{name: "retry-after", resp: "HTTP/1.1 503 Busy\r\nRetry-After:  7 \r\nContent-Length: 0\r\n\r\n", status: 503, keep: true, retryAfter: "7"},
		{name: "no body for 304", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", status: 304, keep: true},
		{name: "what follows stays", resp: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK", status: 200, keep: true, rest: "HTTP/1.1 200 OK"},
		{name: "nothing", resp: "", err: io.EOF},
		{name: "truncated head", resp: "HTTP/1.1 200 OK\r\nContent-Le", status: 200, err: io.ErrUnexpectedEOF},
		{name: "truncated body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", status: 200, keep: true, err: io.ErrUnexpectedEOF},
		{name: "truncated chunk", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", status: 200, keep: true, err: io.ErrUnexpectedEOF},
		{name: "not HTTP", resp: "SSH-2.0-OpenSSH\r\n", err: errHTTPResponse},
		{name: "short status", resp: "HTTP/1.1 20 OK\r\n\r\n", err: errHTTPResponse},
		{name: "status glued to reason", resp: "HTTP/1.1 200OK\r\n\r\n", err: errHTTPResponse},
		{name: "HTTP/2 status line", resp: "HTTP/2 200\r\n\r\n", err: errHTTPResponse},
		{name: "header without colon", resp: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", status: 200, err: errHTTPResponse},
		{name: "two lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 200, err: errHTTPResponse},
		{name: "negative length", resp: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", status: 200, err: errHTTPResponse},
		{name: "unknown coding", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", status: 200, err: errHTTPResponse},
		{name: "bad chunk size", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 200, keep: true, err: errHTTPResponse},
		{name: "chunk without CRLF", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", status: 200, keep: true, err: errHTTPResponse},
		{name: "header line too long", resp: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", status: 200, err: errHTTPResponse},
		{name: "switching protocols", resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", status: 101, err: errHTTPResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, wantBody := range []bool{false, true} {
				br := bufio.NewReaderSize(strings.NewReader(c.resp), 4096)
				var a httpAnswer
				err := readHTTPAnswer(br, wantBody, &a)
				switch {
				case c.err == nil && err != nil:
					t.Fatalf("error %v", err)
				case c.err != nil && !errors.Is(err, c.err):
					t.Fatalf("error %v, want %v", err, c.err)
				}
				if a.status != c.status || (err == nil && (a.keep != c.keep || a.tooLarge != c.tooLarge)) || string(a.retryAfter) != c.retryAfter {
					t.Errorf("status %d keep %v tooLarge %v retryAfter %q, want %d %v %v %q",
						a.status, a.keep, a.tooLarge, a.retryAfter, c.status, c.keep, c.tooLarge, c.retryAfter)
				}
				if a.got != (c.resp != "") {
					t.Errorf("got %v for a response of %d bytes", a.got, len(c.resp))
				}
				want := ""
				if wantBody && err == nil && !c.tooLarge {
					want = c.body
				}
				if err == nil && !c.tooLarge && string(a.body) != want {
					t.Errorf("body %q, want %q (wantBody %v)", a.body, want, wantBody)
				}
				if err == nil && c.rest != "*" {
					rest, _ := io.ReadAll(br)
					if string(rest) != c.rest {
						t.Errorf("left unread %d bytes, want %d", len(rest), len(c.rest))
					}
				}
			}
		})
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestHTTPRequestHead: the head of a request is Logplex's, byte for byte,
// for a plain and an OTLP drain.
func TestHTTPRequestHead(t *testing.T) {
	id := []byte("0123456789ABCDEF0123456789ABCDEF")
	_, s := newHTTPDrain(t, Options{UserAgent: "Logplex/v1"}, "http://u:p@example.com:8080/a%20b?x=1", "gzip")
	got := string(s.tmpl.appendHead(nil, 123, 4, id))
	want := "POST /a%20b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nAuthorization: Basic dTpw\r\n" +
		"Content-Type: application/logplex-1\r\nLogplex-Msg-Count: 4\r\nLogplex-Frame-Id: " + string(id) + "\r\n" +
		"Logplex-Drain-Token: " + httpTestToken + "\r\nUser-Agent: Logplex/v1\r\nContent-Encoding: gzip\r\nContent-Length: 123\r\n\r\n"
	if got != want {
		t.Errorf("head\n%q\nwant\n%q", got, want)
	}
}

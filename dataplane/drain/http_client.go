package drain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The HTTP/1.1 exchange of a drain: one request, then its response, on the
// drain's own keep-alive connection (http_conn.go). It is written here,
// not left to a general client, because a drain needs so little of one
// and a platform runs tens of thousands of drains: a general client keeps
// per connection a read and a write buffer (8 KiB), request and response
// objects and an idle-cleaner goroutine (~29 KiB per connected drain in
// all, TestConnectedDrainMemory), and renders the same headers field by
// field on every request.
//
//   - The request is the head (rendered in one append, httpRequestTemplate.
//     appendHead) and the body, written together: one writev on TCP.
//   - The response is read through a bufio.Reader borrowed from a pool for
//     the exchange only: status line, headers (what a drain uses:
//     Content-Length, Transfer-Encoding, Connection, Retry-After), then the
//     body, discarded or kept (OTLP's partial success) up to
//     httpMaxResponseBody. Interim 1xx responses are skipped.
//   - The connection is kept for the next request unless the server said
//     close, the body's end is unknown (read to EOF) or too large to read,
//     or anything follows the response.

// httpMaxHeaderBytes bounds a response's status line and headers.
const httpMaxHeaderBytes = 64 << 10

// httpReaders are the response readers, shared by every drain: a drain
// holds one only while it reads a response.
var httpReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// httpAnswer is what a drain reads of a response.
type httpAnswer struct {
	status     int
	retryAfter []byte // the Retry-After value (copied), empty if absent
	body       []byte // the body (wantBody only), at most httpMaxResponseBody
	tooLarge   bool   // the body was longer than httpMaxResponseBody (not read)
	keep       bool   // the connection may carry the next request
	got        bool   // some of the response arrived (no stale-connection retry)
}

// errHTTPResponse is a response that does not parse.
var errHTTPResponse = errors.New("malformed HTTP response")

// httpExchange writes head and body to conn and reads the response into a
// (a's buffers are reused), all before deadline. With wantBody the body is
// kept in a.body, else discarded.
func httpExchange(conn net.Conn, head, body []byte, deadline time.Time, wantBody bool, a *httpAnswer) error {
	a.status, a.retryAfter, a.body, a.tooLarge, a.keep, a.got = 0, a.retryAfter[:0], a.body[:0], false, false, false
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if err := httpWrite(conn, head, body); err != nil {
		return err
	}
	br := httpReaders.Get().(*bufio.Reader)
	br.Reset(conn)
	err := readHTTPAnswer(br, wantBody, a)
	if err == nil && br.Buffered() > 0 {
		a.keep = false // more than one response: the connection is out of step
	}
	br.Reset(nil)
	httpReaders.Put(br)
	return err
}

// httpWrite writes head and body: one writev on a TCP connection, two
// writes otherwise (TLS).
func httpWrite(conn net.Conn, head, body []byte) error {
	if c, ok := conn.(*httpConn); ok {
		conn = c.Conn
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		bufs := net.Buffers{head, body}
		_, err := bufs.WriteTo(tc)
		return err
	}
	if _, err := conn.Write(head); err != nil {
		return err
	}
	_, err := conn.Write(body)
	return err
}

// readHTTPAnswer reads one final response (skipping 1xx ones).
func readHTTPAnswer(br *bufio.Reader, wantBody bool, a *httpAnswer) error {
	for {
		h, err := readHTTPHead(br, a)
		if err != nil {
			return err
		}
		switch {
		case a.status == 101:
			return fmt.Errorf("%w: 101 Switching Protocols", errHTTPResponse)
		case a.status < 200: // interim (100 Continue, 103 Early Hints): no body, the final one follows
			a.retryAfter = a.retryAfter[:0]
			continue
		}
		return readHTTPBody(br, h, a.status, wantBody, a)
	}
}

// httpHead is what a response's head says about its body and connection.
type httpHead struct {
	http10    bool
	length    int64 // Content-Length; -1: none
	chunked   bool
	close     bool // Connection: close
	keepAlive bool // Connection: keep-alive (HTTP/1.0)
}

// readHTTPHead reads a status line and the headers that follow it.
func readHTTPHead(br *bufio.Reader, a *httpAnswer) (httpHead, error) {
	h := httpHead{length: -1}
	read := 0
	line, err := httpLine(br, &read)
	if err != nil {
		return h, err
	}
	a.got = true
	// HTTP/1.x SSS[ reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return h, fmt.Errorf("%w: status line %q", errHTTPResponse, clip(line))
	}
	h.http10 = line[7] == '0'
	st, err := strconv.Atoi(string(line[9:12]))
	if err != nil || st < 100 {
		return h, fmt.Errorf("%w: status line %q", errHTTPResponse, clip(line))
	}
	a.status = st
	for {
		line, err := httpLine(br, &read)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return h, err
		}
		if len(line) == 0 {
			return h, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, fmt.Errorf("%w: header line %q", errHTTPResponse, clip(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (h.length >= 0 && n != h.length) {
				return h, fmt.Errorf("%w: Content-Length %q", errHTTPResponse, clip(value))
			}
			h.length = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			h.chunked = hasToken(value, "chunked")
			if !h.chunked && !hasToken(value, "identity") {
				return h, fmt.Errorf("%w: Transfer-Encoding %q", errHTTPResponse, clip(value))
			}
		case asciiEqualFold(name, "Connection"):
			h.close = h.close || hasToken(value, "close")
			h.keepAlive = h.keepAlive || hasToken(value, "keep-alive")
		case asciiEqualFold(name, "Retry-After"):
			a.retryAfter = append(a.retryAfter[:0], value...)
		}
	}
}

// readHTTPBody reads (or discards) the body of a response with status st.
func readHTTPBody(br *bufio.Reader, h httpHead, st int, wantBody bool, a *httpAnswer) error {
	a.keep = !h.close && (!h.http10 || h.keepAlive)
	switch {
	case st == 204 || st == 304:
		return nil
	case h.chunked:
		return readHTTPChunked(br, wantBody, a)
	case h.length >= 0:
		if h.length > httpMaxResponseBody {
			a.tooLarge, a.keep = true, false
			return nil
		}
		return httpBodyBytes(br, int(h.length), wantBody, a)
	}
	// no length: the body ends when the server closes
	a.keep = false
	for total := 0; ; {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		n := br.Buffered()
		if total += n; total > httpMaxResponseBody {
			a.tooLarge = true
			return nil
		}
		if err := httpBodyBytes(br, n, wantBody, a); err != nil {
			return err
		}
	}
}

// readHTTPChunked reads a chunked body and its trailers.
func readHTTPChunked(br *bufio.Reader, wantBody bool, a *httpAnswer) error {
	total, read := 0, 0
	for {
		line, err := httpLine(br, &read)
		if err != nil {
			return unexpected(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil {
			return fmt.Errorf("%w: chunk size %q", errHTTPResponse, clip(line))
		}
		if n == 0 {
			break
		}
		if total += int(n); total > httpMaxResponseBody {
			a.tooLarge, a.keep = true, false
			return nil
		}
		if err := httpBodyBytes(br, int(n), wantBody, a); err != nil {
			return err
		}
		if line, err := httpLine(br, &read); err != nil || len(line) != 0 {
			if err != nil {
				return unexpected(err)
			}
			return fmt.Errorf("%w: chunk not followed by CRLF", errHTTPResponse)
		}
	}
	for { // trailers, up to the empty line
		line, err := httpLine(br, &read)
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// httpBodyBytes reads n body bytes: appended to a.body with wantBody,
// discarded otherwise.
func httpBodyBytes(br *bufio.Reader, n int, wantBody bool, a *httpAnswer) error {
	if !wantBody {
		_, err := br.Discard(n)
		return unexpected(err)
	}
	start := len(a.body)
	a.body = append(a.body, make([]byte, n)...)
	_, err := io.ReadFull(br, a.body[start:])
	return unexpected(err)
}

// httpLine reads one line without its CRLF (or LF), counting its bytes
// into read against httpMaxHeaderBytes.
func httpLine(br *bufio.Reader, read *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*read += len(line)
	switch {
	case err == bufio.ErrBufferFull || *read > httpMaxHeaderBytes:
		return nil, fmt.Errorf("%w: header line longer than %d bytes", errHTTPResponse, br.Size())
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// asciiEqualFold reports whether b equals s ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if asciiLower(b[i]) != asciiLower(s[i]) {
			return false
		}
	}
	return true
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasToken reports whether the comma-separated list v names tok (any case).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte(","))
		if asciiEqualFold(bytes.TrimSpace(item), tok) {
			return true
		}
	}
	return false
}

// clip shortens what an error quotes.
func clip(b []byte) []byte { return b[:min(len(b), 64)] }

// httpStaleConnErr reports whether err is what a request on a keep-alive
// connection the server has closed meanwhile fails with.
func httpStaleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, errH2Refused)
}

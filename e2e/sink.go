package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// HTTPSink is an HTTP drain endpoint that parses every POSTed body into
// octet-counted frames and remembers what it got: message sequence numbers
// (from a "seq=<n>" in the message), L10 drop counts, requests and status.
// Sequence numbers are kept in a bitset (pages of 2^20), so a soak of
// hundreds of millions of messages costs a bit each; the accepted bodies
// are kept for Raw up to maxRaw bytes.
type HTTPSink struct {
	URL string

	mu       sync.Mutex
	pages    map[int][]uint64 // seq>>pageBits → bitset of the seqs received
	distinct int
	dupSeqs  map[int]int // seq → times received beyond the first
	l10      int         // sum of N over "Error L10 … N messages dropped" lines
	requests int
	raw      strings.Builder // the accepted bodies, up to maxRaw bytes
	status   func(n int) int // status for the n-th request (1-based); nil: 200
	srv      *http.Server
	protos   map[int]int     // requests by HTTP major version
	conns    map[string]bool // client addresses seen: one per connection
}

const (
	pageBits = 20
	maxRaw   = 64 << 20
)

var l10Re = regexp.MustCompile(`Error L10 \(output buffer overflow\): (\d+) messages dropped`)

// StartHTTPSink listens on a free loopback port until the test ends.
func StartHTTPSink(t testing.TB) *HTTPSink { return startHTTPSink(t, "h1") }

// StartHTTPSinkH2 is StartHTTPSink speaking cleartext HTTP/2 (prior
// knowledge) besides HTTP/1.1.
func StartHTTPSinkH2(t testing.TB) *HTTPSink { return startHTTPSink(t, "h2c") }

// StartHTTPSinkTLS is StartHTTPSink over TLS (httptest's certificate, which
// the router does not trust: URL ends with #insecure), selecting h2 by ALPN
// when h2 is set, HTTP/1.1 only otherwise.
func StartHTTPSinkTLS(t testing.TB, h2 bool) *HTTPSink {
	if h2 {
		return startHTTPSink(t, "tls-h2")
	}
	return startHTTPSink(t, "tls-h1")
}

func startHTTPSink(t testing.TB, kind string) *HTTPSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &HTTPSink{URL: "http://" + ln.Addr().String() + "/logs", pages: map[int][]uint64{}, dupSeqs: map[int]int{},
		protos: map[int]int{}, conns: map[string]bool{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	switch kind {
	case "h2c":
		s.srv.Protocols = new(http.Protocols)
		s.srv.Protocols.SetHTTP1(true)
		s.srv.Protocols.SetUnencryptedHTTP2(true)
	case "tls-h1", "tls-h2":
		ts := &httptest.Server{Listener: ln, Config: s.srv, EnableHTTP2: kind == "tls-h2"}
		ts.StartTLS()
		t.Cleanup(ts.Close)
		s.URL = "https://" + ln.Addr().String() + "/logs#insecure"
		return s
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// SetStatus scripts the answer to each request (by 1-based request number).
func (s *HTTPSink) SetStatus(f func(n int) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = f
}

func (s *HTTPSink) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	s.mu.Lock()
	s.requests++
	s.protos[r.ProtoMajor]++
	s.conns[r.RemoteAddr] = true
	code := 200
	if s.status != nil {
		code = s.status(s.requests)
	}
	if code/100 == 2 {
		s.record(b)
		if s.raw.Len()+len(b) < maxRaw {
			s.raw.Write(b)
			s.raw.WriteByte('\n')
		}
	}
	s.mu.Unlock()
	w.WriteHeader(code)
}

// record parses octet-counted frames; the caller holds mu.
func (s *HTTPSink) record(b []byte) {
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil || sp+1+n > len(b) {
			return
		}
		msg := b[sp+1 : sp+1+n]
		b = b[sp+1+n:]
		if bytes.Contains(msg, []byte("L10")) {
			if m := l10Re.FindSubmatch(msg); m != nil {
				k, _ := strconv.Atoi(string(m[1]))
				s.l10 += k
				continue
			}
		}
		if seq, ok := seqOf(msg); ok {
			s.mark(seq)
		}
	}
}

// seqOf reads the number after the first "seq=" in msg.
func seqOf(msg []byte) (int, bool) {
	i := bytes.Index(msg, []byte("seq="))
	if i < 0 {
		return 0, false
	}
	n, digits := 0, 0
	for _, c := range msg[i+4:] {
		if c < '0' || c > '9' {
			break
		}
		n, digits = n*10+int(c-'0'), digits+1
	}
	return n, digits > 0
}

// mark records one receipt of seq; the caller holds mu.
func (s *HTTPSink) mark(seq int) {
	pg := s.pages[seq>>pageBits]
	if pg == nil {
		pg = make([]uint64, 1<<pageBits/64)
		s.pages[seq>>pageBits] = pg
	}
	i := seq & (1<<pageBits - 1)
	if pg[i/64]&(1<<(i%64)) != 0 {
		s.dupSeqs[seq]++
		return
	}
	pg[i/64] |= 1 << (i % 64)
	s.distinct++
}

// has reports whether seq was received; the caller holds mu.
func (s *HTTPSink) has(seq int) bool {
	pg := s.pages[seq>>pageBits]
	i := seq & (1<<pageBits - 1)
	return pg != nil && pg[i/64]&(1<<(i%64)) != 0
}

// Transport returns the requests received by HTTP major version and the
// connections they came on.
func (s *HTTPSink) Transport() (byProto map[int]int, conns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.protos), len(s.conns)
}

// Counts returns distinct sequence numbers received, duplicates, and the sum
// of L10 drop counts.
func (s *HTTPSink) Counts() (distinct, dups, reportedDropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.dupSeqs {
		dups += c
	}
	return s.distinct, dups, s.l10
}

// Missing returns up to max sequence numbers in [0, n) never received.
func (s *HTTPSink) Missing(n, max int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := 0; i < n && len(out) < max; i++ {
		if !s.has(i) {
			out = append(out, i)
		}
	}
	return out
}

// CountRange returns the distinct sequence numbers received in [lo, hi) and
// the duplicates among them.
func (s *HTTPSink) CountRange(lo, hi int) (distinct, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for seq := lo; seq < hi; seq++ {
		if s.has(seq) {
			distinct++
		}
	}
	for seq, c := range s.dupSeqs {
		if seq >= lo && seq < hi {
			dups += c
		}
	}
	return distinct, dups
}

// Reported is the sum of the N of every L10 notice received.
func (s *HTTPSink) Reported() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l10
}

// Raw returns the accepted bodies, one per line (the first 64 MiB).
func (s *HTTPSink) Raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

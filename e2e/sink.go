package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// HTTPSink is an HTTP drain endpoint that parses every POSTed body into
// octet-counted frames and remembers what it got: message sequence numbers
// (from a "seq=<n>" in the message), L10 drop counts, requests and status.
type HTTPSink struct {
	URL string

	mu       sync.Mutex
	seqs     map[int]int // seq → times received
	l10      int         // sum of N over "Error L10 … N messages dropped" lines
	requests int
	raw      strings.Builder // every accepted body
	status   func(n int) int // status for the n-th request (1-based); nil: 200
	srv      *http.Server
}

var (
	seqRe = regexp.MustCompile(`seq=(\d+)`)
	l10Re = regexp.MustCompile(`Error L10 \(output buffer overflow\): (\d+) messages dropped`)
)

// StartHTTPSink listens on a free loopback port until the test ends.
func StartHTTPSink(t testing.TB) *HTTPSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &HTTPSink{URL: "http://" + ln.Addr().String() + "/logs", seqs: map[int]int{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
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
	code := 200
	if s.status != nil {
		code = s.status(s.requests)
	}
	if code/100 == 2 {
		s.record(b)
		s.raw.Write(b)
		s.raw.WriteByte('\n')
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
		if m := l10Re.FindSubmatch(msg); m != nil {
			k, _ := strconv.Atoi(string(m[1]))
			s.l10 += k
			continue
		}
		if m := seqRe.FindSubmatch(msg); m != nil {
			k, _ := strconv.Atoi(string(m[1]))
			s.seqs[k]++
		}
	}
}

// Counts returns distinct sequence numbers received, duplicates, and the sum
// of L10 drop counts.
func (s *HTTPSink) Counts() (distinct, dups, reportedDropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.seqs {
		distinct++
		dups += c - 1
	}
	return distinct, dups, s.l10
}

// Missing returns up to max sequence numbers in [0, n) never received.
func (s *HTTPSink) Missing(n, max int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := 0; i < n && len(out) < max; i++ {
		if s.seqs[i] == 0 {
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
	for seq, c := range s.seqs {
		if seq >= lo && seq < hi {
			distinct++
			dups += c - 1
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

// Raw returns every accepted body, one per line.
func (s *HTTPSink) Raw() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

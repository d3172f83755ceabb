package drain

// Test fixtures for HTTP drains: a capture endpoint on a raw net.Listener
// (so tests see the request line and headers byte for byte, in order, and
// when the drain closes its connection), helpers to run one drain, and
// body parsing.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/logplex/logplex/config"
)

const httpTestToken = "d.fc6b856b-3332-4546-93de-7d0ee272c3bd"

// capReq is one request the capture endpoint received.
type capReq struct {
	Seq    int
	Conn   int      // connection number, from 1
	Line   string   // request line, without CRLF
	Names  []string // header names in order
	Header map[string]string
	Wire   []byte // body as received
	Body   []byte // body after Content-Encoding
	Status int    // what the endpoint answered
}

// capServer is an HTTP/1.1 endpoint that records every request and answers
// with the status its script gives.
type capServer struct {
	t    *testing.T
	addr string
	tls  *tls.Config

	mu      sync.Mutex
	ln      net.Listener
	live    map[net.Conn]bool
	nconn   int
	reqs    []*capReq
	opened  map[int]time.Time // connection → accepted at
	closed  map[int]time.Time // connection → drain closed it (server read EOF) at
	replied map[int]time.Time // request seq → response written at
	// respond chooses the status for a request and a delay before answering;
	// called in request order under mu.
	respond func(r *capReq) (int, time.Duration)
	changed chan struct{} // closed and replaced on every event
	release chan struct{} // closed by a test to let held replies go
}

// holdReply, as a scripted delay, holds the reply until release is closed.
const holdReply = time.Duration(-1)

// closeNoReply, as a scripted status, closes the connection unanswered.
const closeNoReply = 0

func newCapServer(t *testing.T, tlsCfg *tls.Config) *capServer {
	s := &capServer{t: t, tls: tlsCfg, live: map[net.Conn]bool{}, opened: map[int]time.Time{},
		closed: map[int]time.Time{}, replied: map[int]time.Time{}, changed: make(chan struct{}), release: make(chan struct{}),
		respond: func(*capReq) (int, time.Duration) { return 200, 0 }}
	s.up("127.0.0.1:0")
	t.Cleanup(s.down)
	return s
}

// setRespond replaces the script.
func (s *capServer) setRespond(f func(r *capReq) (int, time.Duration)) {
	s.mu.Lock()
	s.respond = f
	s.mu.Unlock()
}

// up starts listening (again) on addr.
func (s *capServer) up(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("capture endpoint listen %s: %v", addr, err)
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	go s.accept(ln)
}

// down closes the listener and every connection (connects are refused).
func (s *capServer) down() {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	for c := range s.live {
		delete(s.live, c)
		_ = c.Close()
	}
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

func (s *capServer) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ln != ln {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.nconn++
		id := s.nconn
		s.live[c] = true
		s.opened[id] = time.Now()
		s.notifyLocked()
		s.mu.Unlock()
		go s.serve(c, id)
	}
}

func (s *capServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *capServer) serve(c net.Conn, id int) {
	br := bufio.NewReader(c)
	for {
		r, err := readCapReq(br)
		if err != nil {
			s.mu.Lock()
			if s.live[c] && errors.Is(err, io.EOF) {
				s.closed[id] = time.Now() // the drain closed the connection
			}
			delete(s.live, c)
			s.notifyLocked()
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.mu.Lock()
		r.Seq, r.Conn = len(s.reqs)+1, id
		status, delay := s.respond(r)
		r.Status = status
		s.reqs = append(s.reqs, r)
		s.notifyLocked()
		s.mu.Unlock()
		if status == closeNoReply {
			s.mu.Lock()
			delete(s.live, c)
			s.notifyLocked()
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		switch {
		case delay == holdReply:
			select {
			case <-s.release:
			case <-time.After(10 * time.Second):
			}
		case delay > 0:
			time.Sleep(delay) // the endpoint is slow (scripted), not test synchronisation
		}
		_, err = fmt.Fprintf(c, "HTTP/1.1 %d Scripted\r\nContent-Length: 2\r\n\r\nok", status)
		s.mu.Lock()
		s.replied[r.Seq] = time.Now()
		s.notifyLocked()
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// readCapReq reads one request; io.EOF when the peer closed between requests.
func readCapReq(br *bufio.Reader) (*capReq, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if line == "" {
			return nil, io.EOF
		}
		return nil, err
	}
	r := &capReq{Line: strings.TrimSuffix(line, "\r\n"), Header: map[string]string{}}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		h = strings.TrimSuffix(h, "\r\n")
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ": ")
		r.Names = append(r.Names, name)
		if _, dup := r.Header[name]; !dup {
			r.Header[name] = value
		}
	}
	n, err := strconv.Atoi(r.Header["Content-Length"])
	if err != nil {
		return nil, fmt.Errorf("bad Content-Length %q", r.Header["Content-Length"])
	}
	r.Wire = make([]byte, n)
	if _, err := io.ReadFull(br, r.Wire); err != nil {
		return nil, err
	}
	r.Body, err = decodeBody(r.Header["Content-Encoding"], r.Wire)
	return r, err
}

func decodeBody(coding string, b []byte) ([]byte, error) {
	switch coding {
	case "":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "zstd":
		zr, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return zr.DecodeAll(b, nil)
	}
	return nil, fmt.Errorf("unknown Content-Encoding %q", coding)
}

// Reqs returns the requests received so far.
func (s *capServer) Reqs() []*capReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*capReq(nil), s.reqs...)
}

// waitFor waits until cond (called under the server's lock) holds.
func (s *capServer) waitFor(timeout time.Duration, what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.t.Fatalf("timed out after %v waiting for %s (%d requests)", timeout, what, len(s.Reqs()))
		}
	}
}

// waitReqs waits until n requests were answered and returns them.
func (s *capServer) waitReqs(n int, timeout time.Duration) []*capReq {
	s.t.Helper()
	s.waitFor(timeout, fmt.Sprintf("%d answered requests", n), func() bool { return len(s.replied) >= n })
	return s.Reqs()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// Drains under test.

var httpNextID atomic.Int64

func init() { httpNextID.Store(1 << 40) } // apart from other tests' drain ids (metric names)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOptions fills in what drain tests need: a user agent, a quiet
// logger, private addresses allowed (endpoints are on 127.0.0.1).
func testOptions(o Options) Options {
	o.AllowPrivateDrains = true
	if o.UserAgent == "" {
		o.UserAgent = "Logplex/test"
	}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	o.setDefaults()
	return o
}

// startHTTP runs one HTTP drain the way Manager.start does; it is stopped
// (grace 1 s) when the test ends.
func startHTTP(t testing.TB, o Options, url, compression string) *Drain {
	t.Helper()
	d, s := newHTTPDrain(t, o, url, compression)
	runDrain(d, s)
	t.Cleanup(func() { d.stop(time.Second) })
	return d
}

func newHTTPDrain(t testing.TB, o Options, url, compression string) (*Drain, *httpSender) {
	t.Helper()
	opts := testOptions(o)
	u, err := config.ParseDrainURL(url)
	if err != nil {
		t.Fatalf("ParseDrainURL(%q): %v", url, err)
	}
	d := &Drain{Config: &config.Drain{ID: httpNextID.Add(1), ChannelID: "ch1", Token: httpTestToken,
		URL: url, Compression: compression}, URL: u}
	s, err := newHTTPSender(&opts, d)
	if err != nil {
		t.Fatalf("newHTTPSender: %v", err)
	}
	return d, s.(*httpSender)
}

// runDrain sets d up as Manager.start does, with sender s: parked until
// the first push.
func runDrain(d *Drain, s sender) {
	d.begin(s)
}

// push hands cooked messages to d in one batch, in d's buffer form, as the
// router does; messages the form cannot hold are left out, as the router
// leaves them out.
func push(d *Drain, msgs ...[]byte) {
	b := newBenchBatch(d.Buf.Form(), msgs)
	d.Buf.PushBatch(b.buf, b.spans, time.Now().UnixNano())
}

// testMsg is message i as the router hands it to drains (cooked).
func testMsg(i int) []byte {
	return fmt.Appendf(nil, "<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - msg%06d", i)
}

// testFrame is testMsg(i) as an HTTP drain frames it.
func testFrame(i int) string {
	m := fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z host app console.1 - msg%06d", i)
	return fmt.Sprintf("%d %s", len(m), m)
}

func testMsgs(from, n int) [][]byte {
	ms := make([][]byte, n)
	for i := range ms {
		ms[i] = testMsg(from + i)
	}
	return ms
}

// splitFrames splits an octet-counted body into its messages.
func splitFrames(t testing.TB, body []byte) []string {
	t.Helper()
	var out []string
	for len(body) > 0 {
		sp := bytes.IndexByte(body, ' ')
		n, err := strconv.Atoi(string(body[:max(sp, 0)]))
		if sp < 0 || err != nil || sp+1+n > len(body) {
			t.Fatalf("malformed body at %q", body)
		}
		out = append(out, string(body[sp+1:sp+1+n]))
		body = body[sp+1+n:]
	}
	return out
}

var (
	l10Re    = regexp.MustCompile(`^<172>1 \S+ host heroku logplex - Error L10 \(output buffer overflow\): (\d+) messages dropped since (\S+)\.$`)
	msgIDRe  = regexp.MustCompile(`msg(\d{6})$`)
	frameIDs = regexp.MustCompile(`^[0-9A-F]{32}$`)
)

// bodyParts returns the message numbers in a body and the N of its L10
// line (0 if none); it fails the test on anything else.
func bodyParts(t testing.TB, body []byte) (ids []int, l10 int) {
	t.Helper()
	for i, f := range splitFrames(t, body) {
		if m := l10Re.FindStringSubmatch(f); m != nil {
			if i != 0 {
				t.Fatalf("L10 frame is not first in %q", body)
			}
			l10, _ = strconv.Atoi(m[1])
			continue
		}
		m := msgIDRe.FindStringSubmatch(f)
		if m == nil {
			t.Fatalf("unexpected frame %q", f)
		}
		id, _ := strconv.Atoi(m[1])
		ids = append(ids, id)
	}
	return ids, l10
}

// Certificates for https endpoints.

// testCert returns a self-signed certificate for 127.0.0.1 and the path of
// a PEM file holding it (a CA file for Options.TLSCAFile).
func testCert(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "logplex test endpoint"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

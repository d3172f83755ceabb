package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/logplex/logplex/frame"
)

// HTTPSink is the HTTP drain endpoint: a minimal HTTP/1.1 server (keep-alive,
// Content-Length bodies, optional gzip) that answers 200 to every POST and
// feeds the body's octet-counted frames to the recorder. The drain index is
// the request path "/d/<index>". A connection that starts with the HTTP/2
// client preface is served as cleartext HTTP/2 instead (sink_h2.go), many
// drains' requests on one connection. It is hand-written rather than
// net/http so that the sink, which shares the machine with the router,
// costs little.
type HTTPSink struct {
	connServer
	rec *Recorder

	otlp  bool          // bodies are OTLP ExportLogsServiceRequests (sink_otlp.go)
	tls   bool          // the listener speaks TLS (sinkTLSConfig)
	delay time.Duration // wait before each answer, as a real receiver takes (the platform scenario)

	mu   sync.Mutex
	errs int64 // malformed requests
	reqs int64
}

// maxSinkBody bounds a request body the sink accepts (and its gunzipped size).
const maxSinkBody = 64 << 20

// StartHTTPSink listens on addr (host:0 for a free port).
func StartHTTPSink(addr string, rec *Recorder) (*HTTPSink, error) {
	return startHTTPSink(addr, rec, false, false)
}

// startHTTPSink is StartHTTPSink for OTLP bodies (otlp) and over TLS
// (useTLS: sinkTLSConfig).
func startHTTPSink(addr string, rec *Recorder, otlp, useTLS bool) (*HTTPSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http sink: %w", err)
	}
	if useTLS {
		cfg, err := sinkTLSConfig()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("http sink: %w", err)
		}
		ln = tls.NewListener(ln, cfg)
	}
	s := &HTTPSink{rec: rec, otlp: otlp, tls: useTLS}
	s.start(ln, s.serve)
	return s, nil
}

// URL is the drain URL of endpoint i: https with the fragment #insecure
// (the router does not verify the sink's certificate) over TLS.
func (s *HTTPSink) URL(host string, i int) string {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	if s.tls {
		return "https://" + net.JoinHostPort(host, port) + "/d/" + strconv.Itoa(i) + "#insecure"
	}
	return "http://" + net.JoinHostPort(host, port) + "/d/" + strconv.Itoa(i)
}

// sinkTLSConfig is the TLS of the HTTP sinks: a self-signed ECDSA P-256
// certificate made for the run, h2 and http/1.1 offered by ALPN (serve
// tells them apart by the HTTP/2 preface, as it does in cleartext).
func sinkTLSConfig() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logplex bench sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"h2", "http/1.1"}}, nil
}

// Requests and Errors are the requests served and the malformed ones.
func (s *HTTPSink) Requests() (reqs, errs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs, s.errs
}

// httpReq is one parsed request head.
type httpReq struct {
	end      int // drain index from the path, -1 when absent
	length   int
	gzip     bool
	msgCount int // Logplex-Msg-Count, -1 when absent
	close    bool
}

// serve serves one connection: HTTP/2 if it starts with the client
// preface, else HTTP/1.1.
func (s *HTTPSink) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	h2, err := isH2Preface(br)
	switch {
	case err != nil:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.count(true)
		}
	case h2:
		s.serveH2(c, br)
	default:
		s.serveHTTP1(c, br)
	}
}

// serveHTTP1 serves HTTP/1.1 requests one at a time.
func (s *HTTPSink) serveHTTP1(c net.Conn, br *bufio.Reader) {
	bw := bufio.NewWriterSize(c, 256)
	sc := &sinkScratch{b: s.rec.NewBatch(), otlp: s.otlp}
	for {
		h, err := readHead(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.count(true)
			}
			return
		}
		if h.length > maxSinkBody {
			s.count(true)
			return
		}
		sc.body = grow(sc.body, h.length)
		if _, err := io.ReadFull(br, sc.body); err != nil {
			return
		}
		status := "200 OK"
		if err := sc.handle(h); err != nil {
			status = "400 Bad Request"
			s.count(true)
		} else {
			s.count(false)
		}
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
		bw.WriteString("HTTP/1.1 " + status + "\r\nContent-Length: 0\r\n\r\n")
		if bw.Flush() != nil || h.close {
			return
		}
	}
}

// count counts a request served, bad when it was malformed.
func (s *HTTPSink) count(bad bool) {
	s.mu.Lock()
	s.reqs++
	if bad {
		s.errs++
	}
	s.mu.Unlock()
}

// sinkScratch is one connection's reusable buffers.
type sinkScratch struct {
	b     *Batch
	body  []byte
	plain []byte
	zr    *gzip.Reader
	otlp  bool
	line  []byte // OTLP: a record as an HTTP drain line
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// handle decodes the body and records its frames for the request's drain.
func (sc *sinkScratch) handle(h httpReq) error {
	body := sc.body
	if h.gzip {
		var err error
		if sc.zr == nil {
			sc.zr, err = gzip.NewReader(bytes.NewReader(body))
		} else {
			err = sc.zr.Reset(bytes.NewReader(body))
		}
		if err != nil {
			return err
		}
		buf := bytes.NewBuffer(sc.plain[:0])
		if _, err := io.Copy(buf, io.LimitReader(sc.zr, maxSinkBody)); err != nil {
			return err
		}
		sc.plain = buf.Bytes()
		body = sc.plain
	}
	if !sc.b.Start(h.end, FormatHTTPDrain, nowNs()) {
		return errors.New("unknown drain")
	}
	if sc.otlp {
		_, err := sc.recordOTLP(body)
		sc.b.Done()
		return err
	}
	n := recordFrames(sc.b, body)
	if h.msgCount >= 0 && n != h.msgCount {
		sc.b.AddCorrupt()
	}
	sc.b.Done()
	return nil
}

// recordFrames adds every octet-counted frame of buf to b and returns how
// many there were; a damaged frame counts as corrupt and ends the body.
func recordFrames(b *Batch, buf []byte) int {
	n := 0
	for len(buf) > 0 {
		msg, used, k := frame.Next(buf)
		if k != frame.Message {
			b.AddCorrupt()
			return n
		}
		b.Add(msg)
		buf = buf[used:]
		n++
	}
	return n
}

// readHead reads a request line and headers.
func readHead(br *bufio.Reader) (httpReq, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return httpReq{end: -1, msgCount: -1}, err
	}
	// "POST /d/12 HTTP/1.1"
	end := -1
	if p := field(line, 1); bytes.HasPrefix(p, []byte("/d/")) {
		if i, err := strconv.Atoi(string(p[3:])); err == nil {
			end = i
		}
	}
	h, err := readHeaders(br)
	h.end = end
	return h, err
}

// readHeaders reads the header lines after a request line (the sinks'
// and the probe sink's).
func readHeaders(br *bufio.Reader) (httpReq, error) {
	h := httpReq{end: -1, msgCount: -1}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return h, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.length, err = strconv.Atoi(string(val)); err != nil || h.length < 0 {
				return h, fmt.Errorf("bad Content-Length %q", val)
			}
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			h.gzip = bytes.EqualFold(val, []byte("gzip"))
		case bytes.EqualFold(name, []byte("Logplex-Msg-Count")):
			h.msgCount, _ = strconv.Atoi(string(val))
		case bytes.EqualFold(name, []byte("Connection")):
			h.close = bytes.EqualFold(val, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return h, errors.New("chunked bodies are not supported by the sink")
		}
	}
}

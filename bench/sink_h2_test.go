package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/frame"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Client is net/http's client speaking cleartext HTTP/2 with prior
// knowledge (h2c), as the router will to the sink.
func h2Client(t *testing.T) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// h2Post POSTs an application/logplex-1 body and returns the status and
// the protocol's major version.
func h2Post(c *http.Client, url string, body []byte, count int, gz bool) (status, proto int, err error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/logplex-1")
	req.Header.Set("Logplex-Msg-Count", strconv.Itoa(count))
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.ProtoMajor, nil
}

// drainBody is n HTTP drain frames of token k from connection conn, with
// sequence numbers from seq on.
func drainBody(t *testing.T, l *Layout, k int, conn, seq uint32, n int) []byte {
	var body []byte
	for i := range uint32(n) {
		body = frame.AppendFrame(body, httpDrainMsg(t, l, k, 1, conn, seq+i))
	}
	return body
}

// startTestHTTPSink starts an HTTP sink on a free loopback port, closed
// when the test ends.
func startTestHTTPSink(t *testing.T, rec *Recorder) *HTTPSink {
	s, err := StartHTTPSink("127.0.0.1:0", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestH2SinkConcurrentDrains has two drains' requests, from eight sending
// connections each, in flight together on one HTTP/2 connection: each
// sending connection's requests in turn, so that its messages stay in order.
func TestH2SinkConcurrentDrains(t *testing.T) {
	l := testLayout(t, 120)
	const conns, reqs, msgs = 8, 10, 40
	topo := &Topology{Conns: conns, TokenChannel: []int32{0, 1}, TokenNames: []string{"k000000", "k000001"},
		TokenIDs: []string{testToken, "t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"}, EndChannel: []int32{0, 1}, EndIsTail: []bool{false, false}}
	rec := NewRecorder(l, topo)
	s := startTestHTTPSink(t, rec)
	c := h2Client(t)
	type job struct {
		url    string
		bodies [][]byte
	}
	var jobs []job
	for drain := range 2 { // drain d serves token d's channel
		for conn := range uint32(conns) {
			j := job{url: s.URL("127.0.0.1", drain)}
			for r := range reqs {
				j.bodies = append(j.bodies, drainBody(t, l, drain, conn, uint32(r*msgs), msgs))
			}
			jobs = append(jobs, j)
		}
	}
	errs := make(chan error, len(jobs)*reqs)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			for _, b := range j.bodies {
				st, proto, err := h2Post(c, j.url, b, msgs, false)
				if err == nil && (st != 200 || proto != 2) {
					err = errors.New("status " + strconv.Itoa(st) + " over HTTP/" + strconv.Itoa(proto))
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := rec.Totals(false); got.Received != 2*conns*reqs*msgs || got.OutOfOrder+got.Corrupt+got.Misrouted != 0 {
		t.Errorf("counts %+v: want %d received in order, routed, intact", got, 2*conns*reqs*msgs)
	}
	if n := rec.EndpointsSeen(false); n != 2 {
		t.Errorf("%d drains saw messages, want 2", n)
	}
	if r, bad := s.Requests(); r != 2*conns*reqs || bad != 0 {
		t.Errorf("requests %d bad %d, want %d and 0", r, bad, 2*conns*reqs)
	}
	if n := s.open(); n != 1 {
		t.Errorf("%d connections open, want the one shared", n)
	}
}

// TestH2SinkBodies: a gzip body, a count header that does not match the
// body (corrupt, yet 200), and an unknown drain (400, a bad request).
func TestH2SinkBodies(t *testing.T) {
	l, rec := testRecorder(t)
	s := startTestHTTPSink(t, rec)
	c := h2Client(t)
	body := drainBody(t, l, 1, 0, 0, 3)
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	zw.Write(drainBody(t, l, 1, 0, 3, 3))
	zw.Close()
	for _, tc := range []struct {
		name  string
		drain int
		body  []byte
		count int
		gz    bool
		want  int
	}{
		{"plain", 1, body, 3, false, 200},
		{"gzip", 1, zbody.Bytes(), 3, true, 200},
		{"count mismatch", 1, drainBody(t, l, 1, 0, 6, 3), 4, false, 200},
		{"unknown drain", 9, body, 3, false, 400},
	} {
		st, proto, err := h2Post(c, s.URL("127.0.0.1", tc.drain), tc.body, tc.count, tc.gz)
		if err != nil || st != tc.want || proto != 2 {
			t.Errorf("%s: status %d over HTTP/%d, %v; want %d over HTTP/2", tc.name, st, proto, err, tc.want)
		}
	}
	if got := rec.Totals(false); got.Received != 9 || got.OutOfOrder != 0 || got.Corrupt != 1 {
		t.Errorf("counts %+v: want 9 received, in order, 1 corrupt (the count header)", got)
	}
	if r, bad := s.Requests(); r != 4 || bad != 1 {
		t.Errorf("requests %d bad %d, want 4 and 1", r, bad)
	}
}

// TestH2SinkLargeBodies sends bodies larger than the stream window, several
// at once, more than the connection window in all: both windows must be
// replenished or the client stalls.
func TestH2SinkLargeBodies(t *testing.T) {
	l := testLayout(t, 8000)
	topo := &Topology{Conns: 4, TokenChannel: []int32{0, 1}, TokenNames: []string{"k000000", "k000001"},
		TokenIDs: []string{testToken, "t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"}, EndChannel: []int32{0, 1}, EndIsTail: []bool{false, false}}
	rec := NewRecorder(l, topo)
	s := startTestHTTPSink(t, rec)
	c := h2Client(t)
	const msgs = 300 // 2.4 MB a body; 8 bodies 19 MB > h2ConnWindow
	var bodies [][]byte
	for drain := range 2 {
		for conn := range uint32(4) {
			bodies = append(bodies, drainBody(t, l, drain, conn, 0, msgs))
		}
	}
	if len(bodies[0]) < 2*h2StreamWindow || len(bodies)*len(bodies[0]) < h2ConnWindow {
		t.Fatalf("bodies of %d bytes do not exceed the windows", len(bodies[0]))
	}
	errs := make(chan error, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Go(func() {
			st, _, err := h2Post(c, s.URL("127.0.0.1", i/4), b, msgs, false)
			if err == nil && st != 200 {
				err = errors.New("status " + strconv.Itoa(st))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.Totals(false); got.Received != int64(len(bodies)*msgs) || got.OutOfOrder+got.Corrupt+got.Misrouted != 0 {
		t.Errorf("counts %+v: want %d received intact", got, len(bodies)*msgs)
	}
}

// TestH2SinkHTTP1SameListener serves an HTTP/1.1 client and an HTTP/2 one
// on the same listener.
func TestH2SinkHTTP1SameListener(t *testing.T) {
	l, rec := testRecorder(t)
	s := startTestHTTPSink(t, rec)
	p := new(http.Protocols)
	p.SetHTTP1(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	h1 := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for i, c := range []*http.Client{h1, h2Client(t), h1} {
		st, proto, err := h2Post(c, s.URL("127.0.0.1", 0), drainBody(t, l, 0, 0, uint32(2*i), 2), 2, false)
		if want := 1 + i%2; err != nil || st != 200 || proto != want {
			t.Errorf("request %d: status %d over HTTP/%d, %v; want 200 over HTTP/%d", i, st, proto, err, want)
		}
	}
	if got := rec.Totals(false); got.Received != 6 || got.OutOfOrder+got.Corrupt != 0 {
		t.Errorf("counts %+v: want 6 received in order", got)
	}
}

// TestH2SinkDelayPerStream: the answer delay holds up each stream, not the
// connection: 20 requests in flight together are answered after about one
// delay, not twenty.
func TestH2SinkDelayPerStream(t *testing.T) {
	l, rec := testRecorder(t)
	s := startTestHTTPSink(t, rec)
	s.delay = 100 * time.Millisecond
	c := h2Client(t)
	if st, _, err := h2Post(c, s.URL("127.0.0.1", 0), nil, 0, false); err != nil || st != 200 { // connect
		t.Fatalf("status %d, %v", st, err)
	}
	const n = 20
	var bodies [][]byte
	for i := range n {
		bodies = append(bodies, drainBody(t, l, 0, 0, uint32(i), 1))
	}
	start := time.Now()
	errs := make(chan error, n)
	for _, b := range bodies {
		go func() {
			st, _, err := h2Post(c, s.URL("127.0.0.1", 0), b, 1, false)
			if err == nil && st != 200 {
				err = errors.New("status " + strconv.Itoa(st))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < s.delay || el > n*s.delay/3 {
		t.Errorf("%d requests with a %v delay answered in %v: want about one delay", n, s.delay, el)
	}
	if got := rec.Totals(false); got.Received != n {
		t.Errorf("received %d, want %d", got.Received, n)
	}
}

// rawH2 is a client driven frame by frame, for what net/http's client does
// not do: streams left open, protocol errors.
type rawH2 struct {
	t   *testing.T
	c   net.Conn
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

// dialRawH2 connects, sends the preface and empty SETTINGS.
func dialRawH2(t *testing.T, addr string) *rawH2 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawH2{t: t, c: c, bw: bufio.NewWriter(c)}
	r.fr = http2.NewFramer(r.bw, bufio.NewReader(c))
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.hb)
	r.bw.WriteString(http2.ClientPreface)
	r.fr.WriteSettings()
	r.flush()
	return r
}

// flush sends what was written.
func (r *rawH2) flush() {
	if err := r.bw.Flush(); err != nil {
		r.t.Fatal(err)
	}
}

// open writes a request's HEADERS on stream id (ending it if end).
func (r *rawH2) open(id uint32, end bool) {
	r.hb.Reset()
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "sink"}, {":path", "/d/0"}} {
		r.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hb.Bytes(), EndHeaders: true, EndStream: end}); err != nil {
		r.t.Fatal(err)
	}
}

// next reads the next frame that is not SETTINGS, WINDOW_UPDATE or PING,
// acknowledging the server's SETTINGS.
func (r *rawH2) next() http2.Frame {
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.fr.WriteSettingsAck()
				r.flush()
			}
		case *http2.WindowUpdateFrame, *http2.PingFrame:
		default:
			return f
		}
	}
}

// answered reads the answers to streams first, first+2, … (n of them) and
// fails on anything else.
func (r *rawH2) answered(first uint32, n int) {
	want := map[uint32]bool{}
	for i := range uint32(n) {
		want[first+2*i] = true
	}
	for len(want) > 0 {
		f := r.next()
		h, ok := f.(*http2.MetaHeadersFrame)
		if !ok || !want[h.StreamID] || !h.StreamEnded() || h.PseudoValue("status") != "200" {
			r.t.Fatalf("got %v, want an answer 200 to one of %d streams from %d", f, len(want), first)
		}
		delete(want, h.StreamID)
	}
}

// TestH2SinkStreamLimit: streams opened and never ended are capped at the
// advertised limit (REFUSED_STREAM beyond), and an ended stream frees its
// place.
func TestH2SinkStreamLimit(t *testing.T) {
	_, rec := testRecorder(t)
	s := startTestHTTPSink(t, rec)
	r := dialRawH2(t, s.ln.Addr().String())
	for i := range uint32(h2MaxStreams) {
		r.open(1+2*i, false)
	}
	over := uint32(1 + 2*h2MaxStreams)
	r.open(over, false)
	r.flush()
	if f, ok := r.next().(*http2.RSTStreamFrame); !ok || f.StreamID != over || f.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("stream %d of %d: got %v, want RST_STREAM REFUSED_STREAM", h2MaxStreams+1, h2MaxStreams, f)
	}
	for i := range uint32(h2MaxStreams) { // end them: answered and freed
		r.fr.WriteData(1+2*i, true, nil)
	}
	r.flush()
	r.answered(1, h2MaxStreams)
	next := over + 2
	for i := range uint32(h2MaxStreams) { // as many again, all accepted
		r.open(next+2*i, true)
	}
	r.flush()
	r.answered(next, h2MaxStreams)
	if reqs, bad := s.Requests(); reqs != 2*h2MaxStreams || bad != 0 {
		t.Errorf("requests %d bad %d, want %d and 0", reqs, bad, 2*h2MaxStreams)
	}
}

// TestH2SinkProtocolError: DATA on a stream never opened ends the
// connection with GOAWAY PROTOCOL_ERROR.
func TestH2SinkProtocolError(t *testing.T) {
	_, rec := testRecorder(t)
	s := startTestHTTPSink(t, rec)
	r := dialRawH2(t, s.ln.Addr().String())
	r.open(1, true)
	r.fr.WriteData(5, true, []byte("x"))
	r.flush()
	r.answered(1, 1)
	if f, ok := r.next().(*http2.GoAwayFrame); !ok || f.ErrCode != http2.ErrCodeProtocol || f.LastStreamID != 1 {
		t.Fatalf("got %v, want GOAWAY PROTOCOL_ERROR after stream 1", f)
	}
	if _, err := r.fr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after GOAWAY: %v, want the connection closed", err)
	}
	if _, bad := s.Requests(); bad != 1 {
		t.Errorf("%d bad, want 1 (the protocol error)", bad)
	}
}

// TestHTTPSinkTLS: a sink started with TLS (--sink-tls) serves HTTP/2 to a
// client that negotiates h2 by ALPN and HTTP/1.1 to one that offers only
// http/1.1, on the same listener, and counts both clients' messages.
func TestHTTPSinkTLS(t *testing.T) {
	l, rec := testRecorder(t)
	s, err := startHTTPSink("127.0.0.1:0", rec, false, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	url := s.URL("127.0.0.1", 1)
	if !strings.HasPrefix(url, "https://") || !strings.HasSuffix(url, "#insecure") {
		t.Errorf("URL %q, want https://…#insecure", url)
	}
	for i, wantProto := range []int{2, 1} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: wantProto == 2}
		if wantProto == 1 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // offers http/1.1 only
		}
		t.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		st, proto, err := h2Post(c, url, drainBody(t, l, 1, 0, uint32(3*i), 3), 3, false)
		if err != nil || st != 200 || proto != wantProto {
			t.Errorf("client %d: status %d over HTTP/%d, %v; want 200 over HTTP/%d", i, st, proto, err, wantProto)
		}
	}
	if got := rec.Totals(false); got.Received != 6 || got.OutOfOrder != 0 || got.Corrupt != 0 {
		t.Errorf("counts %+v: want 6 received, in order", got)
	}
}

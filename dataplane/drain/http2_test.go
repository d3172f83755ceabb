package drain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Req is one request an h2Server received.
type h2Req struct {
	Proto  int    // 1 or 2
	Conn   string // the client's address: one per connection
	Path   string
	Host   string
	Header http.Header
	Body   []byte
	Status int
}

// h2Server is a drain endpoint on Go's net/http server, which speaks
// HTTP/1.1 and HTTP/2 (cleartext with prior knowledge, or negotiated by
// ALPN over TLS): a receiver as drain owners run them.
type h2Server struct {
	ts *httptest.Server

	mu      sync.Mutex
	arrived int // requests whose body was read, answered or not
	reqs    []h2Req
	conns   map[string]bool
	respond func(r *h2Req) int // status for a request, under mu
	hold    map[string]chan struct{}
}

// newH2Server starts an endpoint; tls: HTTP/2 by ALPN over TLS, else
// cleartext (h2 with h2c, HTTP/1.1 only without). cfg, if set, is the
// server's HTTP/2 configuration.
func newH2Server(t *testing.T, useTLS, h2 bool, cfg *http.HTTP2Config) *h2Server {
	s := &h2Server{conns: map[string]bool{}, hold: map[string]chan struct{}{},
		respond: func(*h2Req) int { return 200 }}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	p := new(http.Protocols)
	p.SetHTTP1(true)
	switch {
	case useTLS:
		p.SetHTTP2(h2)
	case h2:
		p.SetUnencryptedHTTP2(true)
	}
	s.ts.Config.Protocols = p
	s.ts.Config.HTTP2 = cfg
	s.ts.Config.ErrorLog = nil
	if useTLS {
		s.ts.EnableHTTP2 = h2
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	t.Cleanup(s.ts.Close)
	return s
}

func (s *h2Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == "PRI" { // an HTTP/2 preface to the HTTP/1.1-only server: not a request
		w.WriteHeader(505)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	s.mu.Lock()
	s.arrived++
	s.mu.Unlock()
	if ch := s.held(r.URL.Path); ch != nil {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	req := h2Req{Proto: r.ProtoMajor, Conn: r.RemoteAddr, Path: r.URL.Path, Host: r.Host, Header: r.Header, Body: body}
	req.Status = s.respond(&req)
	s.reqs = append(s.reqs, req)
	s.conns[r.RemoteAddr] = true
	s.mu.Unlock()
	if req.Status == 429 {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(req.Status)
}

// held returns the channel a request to path waits on, if any.
func (s *h2Server) held(path string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hold[path]
}

func (s *h2Server) Reqs() []h2Req {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]h2Req(nil), s.reqs...)
}

// connections counts the connections the requests came on.
func (s *h2Server) connections() int {
	conns := map[string]bool{}
	for _, r := range s.Reqs() {
		conns[r.Conn] = true
	}
	return len(conns)
}

// messages counts the frames the endpoint received in 2xx-answered requests.
func (s *h2Server) messages(t testing.TB) int {
	n := 0
	for _, r := range s.Reqs() {
		if r.Status/100 == 2 {
			n += len(splitFrames(t, r.Body))
		}
	}
	return n
}

func (s *h2Server) url(scheme string, i int) string {
	u := scheme + "://" + s.ts.Listener.Addr().String() + "/d/" + strconv.Itoa(i)
	if scheme == "https" {
		u += "#insecure"
	}
	return u
}

// sendAll runs n drains with options o to url(i), pushes each m messages
// one at a time and waits until the endpoint has them all.
func sendAll(t *testing.T, o Options, n, m int, url func(int) string, got func() int) []*Drain {
	t.Helper()
	ds := make([]*Drain, n)
	for i := range ds {
		ds[i] = startHTTP(t, o, url(i), "")
	}
	for k := range m {
		for i, d := range ds {
			push(d, testMsg(i*1000+k))
		}
	}
	waitFor(t, wait, fmt.Sprintf("%d messages at the endpoint", n*m), func() bool { return got() == n*m })
	return ds
}

// Drains to one receiver that speaks HTTP/2 share one connection, and each
// request says what its HTTP/1.1 twin says.
func TestHTTP2DrainsShareAConnection(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	o := testOptions(Options{HTTP2: HTTP2All})
	ds := sendAll(t, o, 20, 3, func(i int) string { return srv.url("http", i) }, func() int { return srv.messages(t) })
	reqs := srv.Reqs()
	conns := map[string]bool{}
	for _, r := range reqs {
		conns[r.Conn] = true
		if r.Proto != 2 {
			t.Fatalf("request over HTTP/%d, want 2", r.Proto)
		}
		frames := len(splitFrames(t, r.Body))
		for name, want := range map[string]string{
			"Content-Type": "application/logplex-1", "User-Agent": "Logplex/test", "Logplex-Drain-Token": httpTestToken,
			"Logplex-Msg-Count": strconv.Itoa(frames), "Content-Length": strconv.Itoa(len(r.Body)),
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if id := r.Header.Get("Logplex-Frame-Id"); len(id) != 32 || strings.Trim(id, "0123456789ABCDEF") != "" {
			t.Errorf("Logplex-Frame-Id = %q, want 32 hex digits", id)
		}
		if r.Host != srv.ts.Listener.Addr().String() || !strings.HasPrefix(r.Path, "/d/") {
			t.Errorf("host %q path %q", r.Host, r.Path)
		}
	}
	if len(conns) != 1 {
		t.Errorf("20 drains used %d connections, want 1 shared", len(conns))
	}
	for _, d := range ds {
		if !d.Status().Connected {
			t.Errorf("drain %d not connected after its requests", d.Config.ID)
		}
	}
	if n := o.h2.open.Load(); n != 1 {
		t.Errorf("%d shared connections open, want 1", n)
	}
}

// A receiver without HTTP/2 gets HTTP/1.1 from the same drains, cleartext
// (the preface is answered with something else) and over TLS (ALPN).
func TestHTTP2FallsBackToHTTP1(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			srv := newH2Server(t, scheme == "https", false, nil)
			o := testOptions(Options{HTTP2: HTTP2All})
			sendAll(t, o, 5, 2, func(i int) string { return srv.url(scheme, i) }, func() int { return srv.messages(t) })
			for _, r := range srv.Reqs() {
				if r.Proto != 1 {
					t.Fatalf("request over HTTP/%d, want 1", r.Proto)
				}
			}
			if n := o.h2.open.Load(); n != 0 {
				t.Errorf("%d shared connections open, want 0", n)
			}
		})
	}
}

// Over TLS, ALPN chooses HTTP/2 (HTTP2TLS), and cleartext drains keep
// HTTP/1.1 in that mode.
func TestHTTP2OverTLS(t *testing.T) {
	tlsSrv := newH2Server(t, true, true, nil)
	plain := newH2Server(t, false, true, nil)
	o := testOptions(Options{HTTP2: HTTP2TLS})
	sendAll(t, o, 5, 2, func(i int) string { return tlsSrv.url("https", i) }, func() int { return tlsSrv.messages(t) })
	sendAll(t, o, 2, 2, func(i int) string { return plain.url("http", i) }, func() int { return plain.messages(t) })
	conns := map[string]bool{}
	for _, r := range tlsSrv.Reqs() {
		conns[r.Conn] = true
		if r.Proto != 2 {
			t.Fatalf("https request over HTTP/%d, want 2", r.Proto)
		}
	}
	if len(conns) != 1 {
		t.Errorf("5 https drains used %d connections, want 1", len(conns))
	}
	for _, r := range plain.Reqs() {
		if r.Proto != 1 {
			t.Fatalf("http request over HTTP/%d with HTTP2TLS, want 1", r.Proto)
		}
	}
}

// Bodies larger than the receiver's flow-control windows wait for its
// WINDOW_UPDATEs and arrive whole.
func TestHTTP2FlowControl(t *testing.T) {
	srv := newH2Server(t, false, true, &http.HTTP2Config{MaxReceiveBufferPerStream: 16 << 10, MaxReceiveBufferPerConnection: 64 << 10})
	o := testOptions(Options{HTTP2: HTTP2All, HTTPTargetBytes: 1 << 20, HTTPBufferSize: 4096})
	ds := make([]*Drain, 3)
	for i := range ds {
		ds[i] = startHTTP(t, o, srv.url("http", i), "")
	}
	big := bytes.Repeat([]byte("x"), 900)
	const n = 600 // ~560 KiB a drain
	for i, d := range ds {
		msgs := make([][]byte, n)
		for k := range msgs {
			msgs[k] = append(testMsg(i*1000+k), big...)
		}
		push(d, msgs...)
	}
	waitFor(t, 2*wait, "every message at the endpoint", func() bool { return srv.messages(t) == 3*n })
	largest := 0
	for _, r := range srv.Reqs() {
		largest = max(largest, len(r.Body))
	}
	if largest < 256<<10 {
		t.Errorf("largest body %d bytes: the windows were not exceeded", largest)
	}
}

// A request the receiver holds past the drain's request timeout fails for
// that drain only: the others on the connection go on.
func TestHTTP2SlowStreamIsolated(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	release := make(chan struct{})
	srv.hold["/d/0"] = release
	defer close(release)
	o := testOptions(Options{HTTP2: HTTP2All, HTTPRequestTimeout: 300 * time.Millisecond})
	slow := startHTTP(t, o, srv.url("http", 0), "")
	push(slow, testMsg(0))
	fast := startHTTP(t, o, srv.url("http", 1), "")
	for k := range 5 {
		push(fast, testMsg(k))
		waitFor(t, wait, "the fast drain's message", func() bool { return srv.messages(t) == k+1 })
	}
	waitFor(t, wait, "the slow drain's timeout", func() bool { return slow.Status().Retries > 0 })
	if n := srv.connections(); n != 1 {
		t.Errorf("%d connections, want the one shared", n)
	}
}

// A stopping drain's flush deadline cuts its request in flight short on
// the shared connection too (TestHTTPDrainStopCutsSlowRequest), and the
// others on it go on.
func TestHTTP2StopCutsSlowRequest(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	release := make(chan struct{})
	srv.hold["/d/0"] = release
	defer close(release)
	o := testOptions(Options{HTTP2: HTTP2All})
	other := startHTTP(t, o, srv.url("http", 1), "")
	push(other, testMsg(0))
	waitFor(t, wait, "the other drain's message", func() bool { return srv.messages(t) == 1 })
	d := startHTTP(t, o, srv.url("http", 0), "")
	push(d, testMsg(1))
	waitFor(t, wait, "the held request", func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return srv.arrived == 2 })
	stopCutsShort(t, d)
	push(other, testMsg(2))
	waitFor(t, wait, "the other drain's next message", func() bool { return srv.messages(t) == 2 })
	if n := o.h2.open.Load(); n != 1 {
		t.Errorf("%d shared connections, want the one", n)
	}
}

// A shared connection that breaks is replaced: the drains deliver what
// comes next over a new one.
func TestHTTP2ConnectionLost(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	o := testOptions(Options{HTTP2: HTTP2All})
	ds := sendAll(t, o, 4, 1, func(i int) string { return srv.url("http", i) }, func() int { return srv.messages(t) })
	for _, d := range ds {
		waitFor(t, wait, "the answers", func() bool { return d.Status().Delivered == 1 })
	}
	srv.ts.CloseClientConnections()
	waitFor(t, wait, "the drains to notice", func() bool { return o.h2.open.Load() == 0 })
	for i, d := range ds {
		push(d, testMsg(i*1000+1))
	}
	for _, d := range ds {
		waitFor(t, wait, "the next messages", func() bool { return d.Status().Delivered == 2 })
	}
	if n := srv.connections(); n != 2 {
		t.Errorf("%d connections, want 2 (the lost one, its replacement)", n)
	}
}

// A receiver that goes away gracefully (GOAWAY after its streams end: net/
// http's server with keep-alives off) loses nothing: the drains move to a
// new connection, and nothing is retried or dropped.
func TestHTTP2ReceiverGoesAway(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	o := testOptions(Options{HTTP2: HTTP2All})
	ds := sendAll(t, o, 3, 1, func(i int) string { return srv.url("http", i) }, func() int { return srv.messages(t) })
	srv.ts.Config.SetKeepAlivesEnabled(false)
	for k := 1; k <= 3; k++ {
		for i, d := range ds {
			push(d, testMsg(i*1000+k))
		}
		waitFor(t, wait, "the next messages", func() bool { return srv.messages(t) == 3*(k+1) })
	}
	for _, d := range ds {
		waitFor(t, wait, "delivered", func() bool { return d.Status().Delivered == 4 })
		if st := d.Status(); st.Dropped != 0 || st.LastError != "" {
			t.Errorf("status %+v: want nothing dropped, no error", st)
		}
	}
	if n := srv.connections(); n < 2 {
		t.Errorf("%d connections: the receiver did not go away", n)
	}
}

// A 5xx is retried and a 429 honoured over HTTP/2 as over HTTP/1.1: the
// same frame (Logplex-Frame-Id) again until a 2xx.
func TestHTTP2Retries(t *testing.T) {
	srv := newH2Server(t, false, true, nil)
	n := 0
	srv.respond = func(*h2Req) int {
		n++
		return map[int]int{1: 503, 2: 500}[n] + map[bool]int{true: 200}[n > 2]
	}
	o := testOptions(Options{HTTP2: HTTP2All})
	d := startHTTP(t, o, srv.url("http", 0), "")
	push(d, testMsg(1))
	waitFor(t, wait, "a 200", func() bool { return srv.messages(t) == 1 })
	reqs := srv.Reqs()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.Header.Get("Logplex-Frame-Id") != reqs[0].Header.Get("Logplex-Frame-Id") {
			t.Errorf("retry with another frame id")
		}
	}
	waitFor(t, wait, "delivered=1", func() bool { return d.Status().Delivered == 1 })
}

// A receiver that breaks the protocol (a DATA frame on stream 0 after its
// SETTINGS, a frame size of 0 in them, a frame over 16 KiB), or that says
// nothing after its SETTINGS, costs
// the drain its request and the connection: the drain tries again on a
// new connection.
func TestHTTP2HostileReceiver(t *testing.T) {
	for _, mode := range []string{"garbage", "badsettings", "silent", "bigframe", "bigheaders", "nostreams"} {
		t.Run(mode, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			accepted := make(chan struct{}, 100)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- struct{}{}
					go func() {
						defer c.Close()
						br := bufio.NewReader(c)
						if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
							return
						}
						fr := http2.NewFramer(c, br)
						fr.AllowIllegalWrites = true
						switch mode {
						case "badsettings": // a frame size no frame could be written in
							_ = fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 0})
						case "nostreams": // valid, and no request can ever start
							_ = fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 0})
						default:
							_ = fr.WriteSettings()
						}
						switch mode {
						case "garbage":
							_ = fr.WriteData(0, false, []byte("garbage"))
						case "bigframe": // at the first request, a frame over 16 KiB, then PINGs that keep the connection lively
							for {
								f, err := fr.ReadFrame()
								if err != nil {
									return
								}
								if _, ok := f.(*http2.HeadersFrame); ok {
									break
								}
							}
							_ = fr.WriteRawFrame(0xff, 0, 0, make([]byte, 20<<10))
							go func() { _, _ = io.Copy(io.Discard, br) }()
							for fr.WritePing(false, [8]byte{}) == nil {
								time.Sleep(20 * time.Millisecond)
							}
							return
						case "bigheaders": // the answer's header block never ends: 16 KiB fragments of valid HPACK (":status: 200", indexed) every 20 ms
							var id uint32
							for id == 0 {
								f, err := fr.ReadFrame()
								if err != nil {
									return
								}
								if h, ok := f.(*http2.HeadersFrame); ok {
									id = h.StreamID
								}
							}
							go func() { _, _ = io.Copy(io.Discard, br) }()
							frag := bytes.Repeat([]byte{0x88}, 16<<10)
							err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag})
							for err == nil {
								time.Sleep(20 * time.Millisecond)
								err = fr.WriteContinuation(id, false, frag)
							}
							return
						}
						_, _ = io.Copy(io.Discard, br)
					}()
				}
			}()
			o := testOptions(Options{HTTP2: HTTP2All, HTTPReconnectTime: time.Millisecond, HTTPRequestTimeout: 200 * time.Millisecond})
			url := "http://" + ln.Addr().String()
			// patient's requests wait as long as it takes: in bigframe
			// and bigheaders modes, only the frame or the header block's
			// size can end its connection.
			patient := o // shares o's connections
			patient.HTTPRequestTimeout = time.Hour
			var d *Drain
			switch mode {
			case "garbage", "badsettings", "nostreams":
				d = startHTTP(t, o, url+"/d/0", "")
				push(d, testMsg(1))
				<-accepted
			case "silent": // patient's request keeps the connection in use: the other's timeout must end it
				push(startHTTP(t, patient, url+"/d/1", ""), testMsg(0))
				<-accepted
				waitFor(t, wait, "the patient drain's request", func() bool { return o.h2.open.Load() == 1 })
				d = startHTTP(t, o, url+"/d/0", "")
				push(d, testMsg(1))
			case "bigframe", "bigheaders":
				d = startHTTP(t, patient, url+"/d/0", "")
				push(d, testMsg(1))
				<-accepted
			}
			select {
			case <-accepted:
			case <-time.After(wait):
				t.Fatalf("the drain did not try again: %+v", d.Status())
			}
			waitFor(t, wait, "the drain's error", func() bool { return d.Status().LastError != "" })
			if st := d.Status(); st.Delivered != 0 || st.Buffered+int(st.Dropped) != 1 {
				t.Errorf("status %+v: want none delivered, the message kept or (its tries used up) counted dropped", st)
			}
			if mode == "nostreams" { // each try's connection is closed, not kept open beside the next
				for range 3 {
					select {
					case <-accepted:
					case <-time.After(wait):
						t.Fatalf("the drain did not try again: %+v", d.Status())
					}
				}
				if n := o.h2.open.Load(); n > 1 {
					t.Errorf("%d HTTP/2 connections open after 5 tries: the refused ones were kept", n)
				}
				if e := d.Status().LastError; !strings.Contains(e, "MAX_CONCURRENT_STREAMS") {
					t.Errorf("last error %q does not say why", e)
				}
			}
		})
	}
}

// The changing fields are HPACK literals a decoder reads back, lengths
// past the 7-bit prefix included.
func TestHpackLiteral(t *testing.T) {
	for _, n := range []int{0, 1, 126, 127, 128, 300, 20000} {
		value := bytes.Repeat([]byte("v"), n)
		var got []hpack.HeaderField
		d := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
		if _, err := d.Write(appendHpackLiteral(nil, "logplex-frame-id", value)); err != nil {
			t.Fatalf("length %d: %v", n, err)
		}
		if len(got) != 1 || got[0].Name != "logplex-frame-id" || got[0].Value != string(value) || !got[0].Sensitive {
			t.Errorf("length %d: decoded %d fields, first %.40v", n, len(got), got)
		}
	}
}

// The connection's one timer ends each request at its own deadline: an
// earlier deadline moves it forward, and after the sweep that ends a
// request it waits for the earliest left (armSweep). The receiver is not
// involved (no frame is read or written), so the bubble's clock times the
// requests exactly.
func TestHTTP2SweepEndsEachRequestAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := &h2Conn{kick: make(chan struct{}, 1), done: make(chan struct{}), streams: map[uint32]*h2Stream{}}
		hc.lastRead.Store(time.Now().Add(time.Hour).UnixNano()) // not silent: the connection stays
		start := time.Now()
		ended := make(chan time.Duration, 3)
		for _, timeout := range []time.Duration{500 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond} {
			st := &h2Stream{done: make(chan error, 1)}
			go func() {
				err := hc.roundTrip(st, time.Now().Add(timeout))
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("request of %v ended with %v, want the deadline", timeout, err)
				}
				ended <- time.Since(start)
			}()
			synctest.Wait()
		}
		for _, want := range []time.Duration{300 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond} {
			if got := <-ended; got != want {
				t.Errorf("a request ended after %v, want %v", got, want)
			}
		}
		if hc.err != nil || len(hc.queue) != 0 {
			t.Errorf("connection failed (%v) or still queues %d requests", hc.err, len(hc.queue))
		}
	})
}

// An answer's header block, read as the reader reads it (startHead, then
// headerBlock): the status and a failure's Retry-After are kept, an
// interim answer waits for the final one, trailers end a stream whose body
// was read, a malformed status is an error; a success's other fields are
// skipped without allocating, however the receiver encodes them.
func TestHTTP2AnswerHead(t *testing.T) {
	hc := &h2Conn{streams: map[uint32]*h2Stream{}}
	hc.dec = hpack.NewDecoder(4096, hc.onField)
	block := func(fields ...string) []byte {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		for i := 0; i < len(fields); i += 2 { // all but :status never indexed: the decoder meets every string every time
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1], Sensitive: fields[i] != ":status"})
		}
		return b.Bytes()
	}
	stream := func(wantBody bool) *h2Stream {
		st := &h2Stream{id: 1, done: make(chan error, 1), a: &httpAnswer{}, wantBody: wantBody}
		hc.streams[1] = st
		return st
	}
	read := func(b []byte, ended bool) {
		t.Helper()
		hc.startHead(1, ended)
		if err := hc.headerBlock(b, true); err != nil {
			t.Fatal(err)
		}
	}
	outcome := func(st *h2Stream) (error, bool) {
		select {
		case err := <-st.done:
			return err, true
		default:
			return nil, false
		}
	}

	st := stream(false)
	read(block(":status", "100"), false)
	if _, done := outcome(st); done || st.a.got {
		t.Errorf("an interim answer ended the request")
	}
	read(block(":status", "429", "date", "Mon, 07 Dec 2026 16:00:00 GMT", "retry-after", "7"), true)
	if err, done := outcome(st); !done || err != nil || st.a.status != 429 || string(st.a.retryAfter) != "7" {
		t.Errorf("429: done %v err %v status %d retry-after %q, want 429 with 7", done, err, st.a.status, st.a.retryAfter)
	}

	st = stream(false)
	read(block(":status", "abc"), true)
	if err, done := outcome(st); !done || !errors.Is(err, errHTTPResponse) {
		t.Errorf("malformed status: done %v err %v, want errHTTPResponse", done, err)
	}

	st = stream(true)
	read(block(":status", "200", "content-type", "text/plain"), false)
	if _, done := outcome(st); done || !st.a.got || st.a.status != 200 {
		t.Errorf("head of an answer with a body: got %v status %d, or ended early", st.a.got, st.a.status)
	}
	read(block("x-checksum", "abc"), true)
	if err, done := outcome(st); !done || err != nil {
		t.Errorf("trailers: done %v err %v, want the request answered", done, err)
	}

	ok := block(":status", "200", "date", "Mon, 07 Dec 2026 16:00:00 GMT", "server", "receiver/1.0",
		"content-type", "text/plain; charset=utf-8", "retry-after", "120")
	st = stream(false)
	allocs := testing.AllocsPerRun(100, func() {
		hc.streams[1], st.finished, st.a.got = st, false, false
		read(ok, true)
		if err, done := outcome(st); !done || err != nil || st.a.status != 200 || len(st.a.retryAfter) != 0 {
			t.Fatalf("200: done %v err %v status %d retry-after %q", done, err, st.a.status, st.a.retryAfter)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per answer, want 0", allocs)
	}
}

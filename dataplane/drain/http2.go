package drain

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 to receivers that speak it (Options.HTTP2). A platform's drains
// go to few receivers, and most carry a request now and then: over
// HTTP/1.1 each request costs the router a write and a read of its own
// (~20 µs on the dev machine, most of it the two syscalls; bench/RESULTS.md).
// The drains to one receiver share an HTTP/2 connection instead, and a
// writer goroutine writes every request queued since its last write in one
// write, a reader goroutine reads the answers of all:
//
//	sender ─┐                      ┌─ writer: HEADERS + DATA of all queued, one write
//	sender ─┼─ queue ── h2Conn ────┤
//	sender ─┘   (wait for answer)  └─ reader: SETTINGS, PING, WINDOW_UPDATE, answers
//
// Each drain keeps its own rules: one request in flight, its request
// timeout, its keep-alive (a drain unused for its keep-alive detaches from
// the connection; the connection closes when no drain is attached), its
// parking. What a drain sees of the shared connection is httpConns
// (http_conn.go): connect attaches it, exchange makes a request on it.
//
// Which receivers: https drains whose receiver selects "h2" by ALPN, and,
// with Options.HTTP2 "all", http drains too (HTTP/2 over cleartext with
// prior knowledge: a receiver that answers the preface with anything but
// SETTINGS is taken for HTTP/1.1). A receiver found not to speak HTTP/2 is
// reached over HTTP/1.1 for h2Recheck before it is asked again.
//
// Flow control: the connection and stream send windows the receiver grants
// are respected (a body larger than them waits for WINDOW_UPDATE); ours are
// large, and the answers' DATA is given back as it is read. A stream the
// receiver refuses (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last
// stream) did not reach it: the drain retries it on a fresh connection, as
// a stale keep-alive connection (httpStaleConnErr).

// HTTP/2 settings of Options.HTTP2.
const (
	HTTP2Off = "off" // HTTP/1.1 only (Options' zero value)
	HTTP2TLS = "tls" // https drains share a connection where the receiver selects h2 by ALPN (--http-drain-http2's default)
	HTTP2All = "all" // also http drains, with prior knowledge (fallback to HTTP/1.1 per receiver)
)

const (
	// h2Recheck is how long a receiver found not to speak HTTP/2 is
	// reached over HTTP/1.1 before a new connection asks again.
	h2Recheck = 10 * time.Minute
	// h2MaxDrainsPerConn caps the drains attached to one connection (and
	// the receiver's MAX_CONCURRENT_STREAMS does): a drain has at most one
	// request in flight, so an attached drain always finds a stream.
	h2MaxDrainsPerConn = 1000
	// h2RecvWindow is the window we grant the receiver, per stream and
	// for the connection: answers are small, it is never the limit.
	h2RecvWindow = 1 << 20
	// h2WriteChunk is how much the writer serializes before it writes.
	h2WriteChunk = 256 << 10
	// h2WriteGap spaces a connection's writes: requests queued within it
	// of the last write go together in the next.
	h2WriteGap = time.Millisecond
	// h2WriteTimeout bounds one write of the writer: a receiver that stops
	// reading fails the connection, and every drain on it reconnects.
	h2WriteTimeout = 10 * time.Second
	// h2LastStreamID: past it the connection takes no new stream.
	h2LastStreamID = 1<<31 - 1
	// h2MaxOwed bounds the PING and SETTINGS acks the writer owes: a
	// receiver that floods them while not reading fails its connection.
	h2MaxOwed = 100
)

var (
	// errH2Refused is a request the receiver did not process (refused
	// stream, GOAWAY, a connection closing): retried on a fresh connection.
	errH2Refused = errors.New("http2: request not processed by the receiver")
	// errH2NotH2 is a cleartext receiver that did not answer the HTTP/2
	// preface with SETTINGS.
	errH2NotH2 = errors.New("receiver does not speak HTTP/2")
	// errH2NoStreams is a receiver whose SETTINGS_MAX_CONCURRENT_STREAMS
	// is 0 when it answers: no request could start.
	errH2NoStreams = errors.New("http2: the receiver allows no request (SETTINGS_MAX_CONCURRENT_STREAMS 0)")
)

// h2Hosts holds the shared connections of one Manager's drains, by
// receiver. Entries are few (one per receiver address drains use) and are
// removed when their last connection closes.
type h2Hosts struct {
	http bool // cleartext receivers too (HTTP2All)
	log  *slog.Logger
	open atomic.Int64 // connections open (the logplex_drain_http2_connections gauge)

	mu      sync.Mutex
	m       map[h2Key]*h2Host
	sweepAt int // get sweeps unused hosts when the map reaches this size
}

func newH2Hosts(mode string, log *slog.Logger) *h2Hosts {
	if mode != HTTP2TLS && mode != HTTP2All {
		return nil
	}
	return &h2Hosts{http: mode == HTTP2All, log: log, m: map[h2Key]*h2Host{}, sweepAt: 64}
}

// h2Key identifies the drains that may share a connection: same address,
// same TLS identity and verification.
type h2Key struct {
	addr     string
	tls      bool
	name     string // TLS server name
	insecure bool
}

// key returns the key of a drain's connections to addr (tc nil for
// cleartext), and false when the drain uses HTTP/1.1 only.
func (hs *h2Hosts) key(addr string, tc *tls.Config) (h2Key, bool) {
	if hs == nil || (tc == nil && !hs.http) {
		return h2Key{}, false
	}
	k := h2Key{addr: addr, tls: tc != nil}
	if tc != nil {
		k.name, k.insecure = tc.ServerName, tc.InsecureSkipVerify
	}
	return k, true
}

// get returns the host of k, made on first use with the TLS config tc. A
// host is removed when its last connection closes, unless it is known for
// HTTP/1.1 (h1Until): those are swept as the map grows.
func (hs *h2Hosts) get(k h2Key, tc *tls.Config) *h2Host {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if h := hs.m[k]; h != nil {
		return h
	}
	if len(hs.m) >= hs.sweepAt {
		now := time.Now()
		for k, h := range hs.m {
			h.mu.Lock()
			if len(h.conns) == 0 && h.dialing == nil && now.After(h.h1Until) {
				delete(hs.m, k)
			}
			h.mu.Unlock()
		}
		hs.sweepAt = max(2*len(hs.m), 64)
	}
	h := &h2Host{hs: hs, key: k}
	if tc != nil {
		h.tls = tc.Clone()
		h.tls.NextProtos = []string{"h2", "http/1.1"}
		h.tls.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	hs.m[k] = h
	return h
}

// forget removes h from the map if it is there, has no connection and is
// not known for HTTP/1.1.
func (hs *h2Hosts) forget(h *h2Host) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if hs.m[h.key] == h && len(h.conns) == 0 && h.dialing == nil && time.Now().After(h.h1Until) {
		delete(hs.m, h.key)
	}
}

// h2Host is one receiver: its shared connections, or the finding that it
// does not speak HTTP/2.
type h2Host struct {
	hs  *h2Hosts
	key h2Key
	tls *tls.Config // with ALPN; nil for cleartext

	mu      sync.Mutex // after h2Hosts.mu, before h2Conn.mu
	conns   []*h2Conn
	dialing *h2Dial   // the dial under way, if any
	h1Until time.Time // HTTP/1.1 only until then
}

// h2Dial is a dial under way: the drains that wait for it get its error
// if it fails, rather than each dialing in turn.
type h2Dial struct {
	done chan struct{}
	err  error // set before done is closed
}

// attach returns a shared connection with room for one more drain, dialing
// one when none has room (one dial at a time per receiver; the others wait
// for it). A receiver that does not speak HTTP/2 gives (nil, nil, nil), or,
// on TLS, the connection it negotiated for HTTP/1.1: the drain uses it.
func (h *h2Host) attach(ctx context.Context, c *httpConns) (*h2Conn, net.Conn, error) {
	for {
		h.mu.Lock()
		if time.Now().Before(h.h1Until) {
			h.mu.Unlock()
			return nil, nil, nil
		}
		for _, hc := range h.conns {
			if hc.adopt(c) {
				h.mu.Unlock()
				return hc, nil, nil
			}
		}
		if d := h.dialing; d != nil {
			h.mu.Unlock()
			select {
			case <-d.done:
				if d.err != nil {
					return nil, nil, d.err
				}
				continue
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("connect: %w", ctx.Err())
			}
		}
		d := &h2Dial{done: make(chan struct{})}
		h.dialing = d
		h.mu.Unlock()
		hc, nc, err := h.dial(ctx, c)
		h.mu.Lock()
		d.err = err
		close(d.done)
		h.dialing = nil
		switch {
		case hc != nil:
			if !hc.adopt(c) {
				// Failed at once (a receiver that breaks the protocol), or
				// takes no stream: closed, or each try would keep one open.
				h.mu.Unlock()
				err := hc.refusal()
				hc.fail(err)
				return nil, nil, fmt.Errorf("connect: %w", err)
			}
			h.conns = append(h.conns, hc)
			h.mu.Unlock()
			return hc, nil, nil
		case err == nil: // not HTTP/2
			h.h1Until = time.Now().Add(h2Recheck)
			h.mu.Unlock()
			h2Fallbacks.Inc()
			h.hs.log.Info("drain receiver does not speak HTTP/2; its drains use HTTP/1.1", "addr", h.key.addr, "recheck_in", h2Recheck)
			return nil, nc, nil
		}
		h.mu.Unlock()
		return nil, nil, err
	}
}

// dial opens a connection and starts HTTP/2 on it; (nil, nc, nil) when the
// receiver does not speak it (nc, TLS only, is usable for HTTP/1.1).
func (h *h2Host) dial(ctx context.Context, c *httpConns) (*h2Conn, net.Conn, error) {
	nc, err := c.dialer.DialContext(ctx, "tcp", h.key.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	if h.tls != nil {
		tc := tls.Client(nc, h.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, nil, fmt.Errorf("tls: %w", err)
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			return nil, tc, nil
		}
		nc = tc
	}
	deadline, _ := ctx.Deadline()
	hc, err := newH2Conn(h, nc, deadline)
	if errors.Is(err, errH2NotH2) {
		_ = nc.Close()
		return nil, nil, nil
	}
	if err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	return hc, nil, nil
}

// remove takes a connection out of the host (it takes no more drains).
func (h *h2Host) remove(hc *h2Conn) {
	h.mu.Lock()
	if i := slices.Index(h.conns, hc); i >= 0 {
		h.conns = slices.Delete(h.conns, i, i+1)
	}
	empty := len(h.conns) == 0
	h.mu.Unlock()
	if empty {
		h.hs.forget(h)
	}
}

// detach lets a drain go from hc; the last drain out closes it.
func (h *h2Host) detach(hc *h2Conn, c *httpConns) {
	h.mu.Lock()
	hc.mu.Lock()
	delete(hc.attached, c)
	last := len(hc.attached) == 0
	if last {
		hc.closing = true
	}
	hc.mu.Unlock()
	h.mu.Unlock()
	if last {
		hc.fail(errH2Refused) // takes it out of the host
	}
}

// h2Conn is one shared connection.
type h2Conn struct {
	host     *h2Host
	nc       net.Conn
	rfr      *http2.Framer  // the reader's
	dec      *hpack.Decoder // the reader's: decodes the answers' header blocks (onField)
	head     h2Head         // the header block being read (the reader's, with mu)
	lastRead atomic.Int64   // when the reader last read a frame (UnixNano)
	started  time.Time
	kick     chan struct{} // wakes the writer
	done     chan struct{} // closed when the connection fails or closes

	mu       sync.Mutex
	attached map[*httpConns]struct{}
	queue    []*h2Stream // waiting for a stream id
	sending  []*h2Stream // started, body not all written
	streams  map[uint32]*h2Stream
	nextID   uint32
	closing  bool  // no new streams: GOAWAY, too old, or the last drain gone
	err      error // why it failed; set once
	// send side, granted by the receiver
	connWin    int64
	streamInit int64 // SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame   int
	maxStreams int
	// control frames the writer owes
	settingsAcks int
	pings        [][8]byte
	rsts         []uint32
	recvUnacked  int64 // DATA bytes read and not yet given back
	// the sweep of expired requests: one timer for all (armSweep)
	sweeper *time.Timer
	sweepAt time.Time // when it fires; zero: not armed

	// the writer's own
	wbuf bytes.Buffer
	wfr  *http2.Framer
}

// h2Stream is a drain's request on a shared connection; each httpConns has
// one, reused from request to request.
type h2Stream struct {
	// the request, set by the sender before roundTrip
	static   []byte // the HPACK block of the drain's fixed fields (h2Block)
	block    []byte // the request's: static and the changing fields
	body     []byte
	wantBody bool
	a        *httpAnswer

	// under the connection's mu
	id       uint32
	sent     int
	win      int64
	finished bool // answered, failed, cancelled or expired: done holds the outcome, or the waiter took it
	start    time.Time
	deadline time.Time // the sweep ends the request then

	done chan error // capacity 1
}

// newH2Conn starts HTTP/2 on nc: the preface and our SETTINGS, then the
// receiver's SETTINGS, read before deadline.
func newH2Conn(h *h2Host, nc net.Conn, deadline time.Time) (*h2Conn, error) {
	hc := &h2Conn{host: h, nc: nc, started: time.Now(), kick: make(chan struct{}, 1), done: make(chan struct{}),
		attached: map[*httpConns]struct{}{}, streams: map[uint32]*h2Stream{}, nextID: 1,
		connWin: 65535, streamInit: 65535, maxFrame: 16384, maxStreams: h2MaxDrainsPerConn}
	hc.wfr = http2.NewFramer(&hc.wbuf, nil)
	hc.rfr = http2.NewFramer(nil, bufio.NewReaderSize(nc, 16<<10))
	hc.rfr.SetMaxReadFrameSize(16384) // what we accept: the default, as we do not raise SETTINGS_MAX_FRAME_SIZE
	hc.dec = hpack.NewDecoder(4096, hc.onField)
	hc.dec.SetMaxStringLength(httpMaxHeaderBytes)
	hc.wbuf.WriteString(http2.ClientPreface)
	_ = hc.wfr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2RecvWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: httpMaxHeaderBytes})
	_ = hc.wfr.WriteWindowUpdate(0, h2RecvWindow-65535)
	_ = nc.SetDeadline(deadline)
	if _, err := nc.Write(hc.wbuf.Bytes()); err != nil {
		return nil, fmt.Errorf("http2 preface: %w", err)
	}
	hc.wbuf.Reset()
	f, err := hc.rfr.ReadFrame()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("http2 preface: %w", err)
		}
		return nil, fmt.Errorf("%w (%v)", errH2NotH2, err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return nil, fmt.Errorf("%w (first frame %v)", errH2NotH2, f.Header().Type)
	}
	_ = nc.SetDeadline(time.Time{})
	hc.mu.Lock()
	err = hc.applySettings(sf)
	hc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	h.hs.open.Add(1)
	h2ConnsOpen.Add(1)
	go hc.writeLoop()
	go hc.readLoop()
	hc.poke() // the SETTINGS ack
	return hc, nil
}

// adopt attaches c if the connection takes new drains and has room
// (called with the host's mu). Past the drain's max TTL a connection takes
// no new request: its drains move to a new one as they next send.
func (hc *h2Conn) adopt(c *httpConns) bool {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if !hc.closing && time.Since(hc.started) > c.maxTTL {
		hc.closing = true // too old: its drains move to a new one as they next send
	}
	if hc.closing || len(hc.attached) >= hc.maxStreams {
		return false
	}
	hc.attached[c] = struct{}{}
	return true
}

// refusal is why a new connection takes no drain: why it failed, or a
// receiver that allows no stream.
func (hc *h2Conn) refusal() error {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	switch {
	case hc.err != nil:
		return hc.err
	case hc.maxStreams <= 0:
		return errH2NoStreams
	}
	return errH2Refused
}

// applySettings applies the receiver's SETTINGS and owes an ack (with mu).
func (hc *h2Conn) applySettings(sf *http2.SettingsFrame) error {
	err := sf.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err // e.g. a frame size below 16 KiB, which would make no frame progress
		}
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			hc.maxStreams = min(int(s.Val), h2MaxDrainsPerConn)
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - hc.streamInit
			hc.streamInit = int64(s.Val)
			for _, st := range hc.streams {
				st.win += delta
			}
		case http2.SettingMaxFrameSize:
			hc.maxFrame = int(s.Val)
		}
		return nil
	})
	hc.settingsAcks++
	return err
}

// poke wakes the writer.
func (hc *h2Conn) poke() {
	select {
	case hc.kick <- struct{}{}:
	default:
	}
}

// roundTrip makes st's request and waits for its answer, or for deadline
// (the connection's sweep ends it then) or a cancel.
func (hc *h2Conn) roundTrip(st *h2Stream, deadline time.Time) error {
	now := time.Now()
	hc.mu.Lock()
	if hc.closing {
		hc.mu.Unlock()
		return errH2Refused
	}
	st.id, st.sent, st.finished = 0, 0, false
	st.start, st.deadline = now, deadline
	hc.queue = append(hc.queue, st)
	hc.armSweep(deadline, now)
	hc.mu.Unlock()
	hc.poke()
	return <-st.done
}

// armSweep makes the sweep run by deadline at the latest (with mu). A
// request's own timer would cost every request a timer reset and a select
// on two channels; the connection's one timer is reset only for a deadline
// earlier than the one it waits for, which drains with equal request
// timeouts never give.
func (hc *h2Conn) armSweep(deadline, now time.Time) {
	if !hc.sweepAt.IsZero() && !deadline.Before(hc.sweepAt) {
		return
	}
	hc.sweepAt = deadline
	if hc.sweeper == nil {
		hc.sweeper = time.AfterFunc(deadline.Sub(now), hc.sweep)
	} else {
		hc.sweeper.Reset(deadline.Sub(now))
	}
}

// sweep ends the requests past their deadline (os.ErrDeadlineExceeded)
// and waits for the earliest deadline left. When nothing at all came from
// the receiver while an expired request waited, the connection is taken
// for dead, and every drain on it reconnects (HTTP/1.1 closes a connection
// that timed out).
func (hc *h2Conn) sweep() {
	now := time.Now()
	var expired []*h2Stream
	var next time.Time
	check := func(st *h2Stream) {
		if !now.Before(st.deadline) {
			expired = append(expired, st)
		} else if next.IsZero() || st.deadline.Before(next) {
			next = st.deadline
		}
	}
	hc.mu.Lock()
	hc.sweepAt = time.Time{}
	if hc.err != nil {
		hc.mu.Unlock()
		return
	}
	for _, st := range hc.queue {
		check(st)
	}
	for _, st := range hc.streams {
		check(st)
	}
	var silent time.Duration
	for _, st := range expired {
		if hc.lastRead.Load() < st.start.UnixNano() {
			silent = max(silent, st.deadline.Sub(st.start))
		}
		hc.drop(st, fmt.Errorf("http2 request: %w", os.ErrDeadlineExceeded))
	}
	if !next.IsZero() {
		hc.armSweep(next, now)
	}
	hc.mu.Unlock()
	if len(expired) > 0 {
		hc.poke() // the resets
	}
	if silent > 0 {
		hc.fail(fmt.Errorf("http2: receiver silent for %v", silent))
	}
}

// cancel ends st before its answer, handing its waiter err instead (the
// drain is stopping), unless an outcome came first.
func (hc *h2Conn) cancel(st *h2Stream, err error) {
	hc.mu.Lock()
	if !st.finished {
		hc.drop(st, err)
	}
	hc.mu.Unlock()
	hc.poke()
}

// drop ends unfinished st with err (with mu): it leaves the queue, or its
// stream is reset.
func (hc *h2Conn) drop(st *h2Stream, err error) {
	st.finished = true
	if i := slices.Index(hc.queue, st); i >= 0 {
		hc.queue = slices.Delete(hc.queue, i, i+1)
	}
	if st.id != 0 {
		hc.endStream(st)
		hc.rsts = append(hc.rsts, st.id)
	}
	st.done <- err
}

// endStream forgets a started stream (with mu).
func (hc *h2Conn) endStream(st *h2Stream) {
	delete(hc.streams, st.id)
	if i := slices.Index(hc.sending, st); i >= 0 {
		hc.sending = slices.Delete(hc.sending, i, i+1)
	}
}

// finish hands st its outcome (with mu).
func (hc *h2Conn) finish(st *h2Stream, err error) {
	hc.endStream(st)
	st.finished = true
	st.done <- err
}

// answered finishes st on the receiver's answer (or its malformed head)
// and resets the stream unless both sides ended it (with mu): the
// receiver's side (theirsEnded) and ours (the whole body written).
func (hc *h2Conn) answered(st *h2Stream, err error, theirsEnded bool) {
	if !theirsEnded || st.sent < len(st.body) {
		hc.rsts = append(hc.rsts, st.id)
	}
	hc.finish(st, err)
}

// writeLoop writes what the drains queued and the control frames the
// reader owes, each round in as few writes as h2WriteChunk allows.
func (hc *h2Conn) writeLoop() {
	var last time.Time
	for {
		select {
		case <-hc.kick:
		case <-hc.done:
			return
		}
		if wait := h2WriteGap - time.Since(last); wait > 0 {
			// Written less than a gap ago: let more requests gather. A
			// write costs the router about as much for one request as for
			// forty (the loopback's and the receiver's wake-up).
			time.Sleep(wait)
		} else {
			// Let the other drains woken by the same tick (batch windows
			// close on a grid) queue theirs first: with one P, the writer
			// would otherwise run after the first and write one request
			// per write.
			runtime.Gosched()
		}
		last = time.Now()
		for more := true; more; {
			hc.mu.Lock()
			more = hc.build()
			hc.mu.Unlock()
			if hc.wbuf.Len() == 0 {
				break
			}
			_ = hc.nc.SetWriteDeadline(time.Now().Add(h2WriteTimeout))
			_, err := hc.nc.Write(hc.wbuf.Bytes())
			h2Writes.Inc()
			hc.wbuf.Reset()
			if err != nil {
				hc.fail(fmt.Errorf("http2 write: %w", err))
				return
			}
		}
	}
}

// build serializes control frames, new streams and the body bytes the
// windows allow into wbuf, up to h2WriteChunk (with mu); it reports whether
// more could be written now.
func (hc *h2Conn) build() (more bool) {
	if hc.err != nil {
		return false
	}
	w := hc.wfr
	for ; hc.settingsAcks > 0; hc.settingsAcks-- {
		_ = w.WriteSettingsAck()
	}
	for _, p := range hc.pings {
		_ = w.WritePing(true, p)
	}
	hc.pings = hc.pings[:0]
	for _, id := range hc.rsts {
		_ = w.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	hc.rsts = hc.rsts[:0]
	if hc.recvUnacked > 0 {
		_ = w.WriteWindowUpdate(0, uint32(hc.recvUnacked))
		hc.recvUnacked = 0
	}
	for len(hc.queue) > 0 && len(hc.streams) < hc.maxStreams && hc.wbuf.Len() < h2WriteChunk {
		st := hc.queue[0]
		hc.queue = slices.Delete(hc.queue, 0, 1)
		if hc.nextID > h2LastStreamID || hc.closing {
			hc.closing = true
			st.finished = true
			st.done <- errH2Refused
			continue
		}
		st.id = hc.nextID
		hc.nextID += 2
		h2Requests.Inc()
		st.win = hc.streamInit
		hc.streams[st.id] = st
		if err := hc.writeHeaders(st); err != nil {
			hc.answered(st, err, false)
			continue
		}
		if len(st.body) > 0 {
			hc.sending = append(hc.sending, st)
		}
	}
	for i := 0; i < len(hc.sending) && hc.wbuf.Len() < h2WriteChunk; {
		st := hc.sending[i]
		n := min(len(st.body)-st.sent, int(min(st.win, hc.connWin)), hc.maxFrame)
		if n <= 0 {
			i++ // waits for WINDOW_UPDATE
			continue
		}
		end := st.sent+n == len(st.body)
		_ = w.WriteData(st.id, end, st.body[st.sent:st.sent+n])
		st.sent += n
		st.win -= int64(n)
		hc.connWin -= int64(n)
		if end {
			hc.sending = slices.Delete(hc.sending, i, i+1)
		}
	}
	if hc.wbuf.Len() < h2WriteChunk {
		return false
	}
	if len(hc.queue) > 0 && len(hc.streams) < hc.maxStreams {
		return true
	}
	for _, st := range hc.sending {
		if st.win > 0 && hc.connWin > 0 {
			return true
		}
	}
	return false
}

// writeHeaders writes st's HEADERS (and CONTINUATION) frames (with mu).
func (hc *h2Conn) writeHeaders(st *h2Stream) error {
	block := st.block
	first := true
	for len(block) > 0 || first {
		n := min(len(block), hc.maxFrame)
		frag := block[:n]
		block = block[n:]
		var err error
		if first {
			err = hc.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: frag,
				EndStream: len(st.body) == 0, EndHeaders: len(block) == 0})
			first = false
		} else {
			err = hc.wfr.WriteContinuation(st.id, len(block) == 0, frag)
		}
		if err != nil {
			return fmt.Errorf("http2 headers: %w", err)
		}
	}
	return nil
}

// readLoop reads the receiver's frames until the connection fails.
func (hc *h2Conn) readLoop() {
	for {
		f, err := hc.rfr.ReadFrame()
		if err != nil {
			hc.fail(fmt.Errorf("http2 read: %w", err))
			return
		}
		hc.lastRead.Store(time.Now().UnixNano())
		idle, err := hc.onFrame(f)
		if err != nil {
			hc.goAway(err)
			return
		}
		if idle { // closing, and nothing left in flight
			hc.fail(errH2Refused)
			return
		}
	}
}

// onFrame acts on one frame of the receiver; idle reports a closing
// connection with nothing left in flight.
func (hc *h2Conn) onFrame(f http2.Frame) (idle bool, err error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	defer hc.poke()
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			if hc.settingsAcks >= h2MaxOwed {
				return false, errors.New("http2: settings flood")
			}
			return false, hc.applySettings(f)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			if len(hc.pings) >= h2MaxOwed {
				return false, errors.New("http2: ping flood")
			}
			hc.pings = append(hc.pings, f.Data)
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			hc.connWin += int64(f.Increment)
		} else if st := hc.streams[f.StreamID]; st != nil {
			st.win += int64(f.Increment)
		}
	case *http2.HeadersFrame:
		hc.startHead(f.StreamID, f.StreamEnded())
		if err := hc.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
			return false, err
		}
	case *http2.ContinuationFrame: // the Framer lets none but the block's own come between
		if err := hc.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
			return false, err
		}
	case *http2.DataFrame:
		hc.recvUnacked += int64(f.Length)
		st := hc.streams[f.StreamID]
		if st == nil {
			return false, nil
		}
		a := st.a
		if st.wantBody && !a.tooLarge {
			if len(a.body)+len(f.Data()) > httpMaxResponseBody {
				a.tooLarge = true
				a.body = a.body[:0]
			} else {
				a.body = append(a.body, f.Data()...)
			}
		}
		if f.StreamEnded() || a.tooLarge { // the h1 path does not read a body that large either
			hc.answered(st, nil, f.StreamEnded())
		}
	case *http2.RSTStreamFrame:
		if st := hc.streams[f.StreamID]; st != nil {
			if f.ErrCode == http2.ErrCodeRefusedStream {
				hc.finish(st, errH2Refused)
			} else {
				hc.finish(st, fmt.Errorf("http2: stream reset by the receiver: %v", f.ErrCode))
			}
		}
	case *http2.GoAwayFrame: // no new stream (adopt and roundTrip refuse a closing connection)
		if !hc.closing && f.ErrCode != http2.ErrCodeNo { // logged once, however many the receiver sends
			hc.host.hs.log.Warn("drain receiver sent GOAWAY", "addr", hc.host.key.addr, "code", f.ErrCode.String(),
				"debug", string(f.DebugData()))
		}
		hc.closing = true
		for id, st := range hc.streams {
			if id > f.LastStreamID {
				hc.finish(st, errH2Refused)
			}
		}
	case *http2.PushPromiseFrame:
		return false, errors.New("http2: push promise, though push is disabled")
	}
	return hc.closing && len(hc.streams) == 0 && len(hc.queue) == 0, nil
}

// h2Head is what the reader keeps of the header block it is reading: the
// fields a drain reads of an answer, nothing else.
type h2Head struct {
	stream     uint32
	ended      bool // its HEADERS ended the stream
	size       int  // the block's bytes so far
	status     int  // :status, -1 absent or malformed
	retryAfter []byte
}

// startHead starts reading a header block of stream id (with mu); ended:
// its HEADERS ended the stream.
func (hc *h2Conn) startHead(id uint32, ended bool) {
	hc.head = h2Head{stream: id, ended: ended, status: -1, retryAfter: hc.head.retryAfter[:0]}
	hc.dec.SetEmitEnabled(hc.streams[id] != nil) // a cancelled stream's is decoded, not read
}

// headerBlock decodes the next fragment of the header block being read and
// acts on the block once it ended (with mu). The fragments are decoded as
// they come, so a block is never held whole; past httpMaxHeaderBytes it
// fails the connection, as an HTTP/1.1 head that long does.
func (hc *h2Conn) headerBlock(frag []byte, end bool) error {
	if hc.head.size += len(frag); hc.head.size > httpMaxHeaderBytes {
		return fmt.Errorf("http2: a header block over %d bytes", httpMaxHeaderBytes)
	}
	if _, err := hc.dec.Write(frag); err != nil {
		return fmt.Errorf("http2: header block: %w", err)
	}
	if !end {
		return nil
	}
	if err := hc.dec.Close(); err != nil {
		return fmt.Errorf("http2: header block: %w", err)
	}
	hc.onHead()
	return nil
}

// onField takes a field of the header block being read (the decoder's
// emit function, with mu). Once a success's :status is known nothing else
// is read: the decoder then skips the other fields' strings instead of
// making them (an answer's date, server, content type…), so an answer
// costs no allocation; a failure's Retry-After is kept.
func (hc *h2Conn) onField(f hpack.HeaderField) {
	switch f.Name {
	case ":status":
		hc.head.status = -1
		if n, err := strconv.Atoi(f.Value); err == nil && n >= 100 && n <= 999 {
			hc.head.status = n
		}
		if hc.head.status >= 100 && hc.head.status < 300 {
			hc.dec.SetEmitEnabled(false)
		}
	case "retry-after":
		hc.head.retryAfter = append(hc.head.retryAfter[:0], f.Value...)
	}
}

// onHead acts on a header block read whole: the answer's head, an interim
// answer, or the trailers after an answer's body (with mu).
func (hc *h2Conn) onHead() {
	h := &hc.head
	st := hc.streams[h.stream]
	if st == nil {
		return // cancelled
	}
	a := st.a
	switch {
	case a.got: // trailers
		if h.ended {
			hc.answered(st, nil, true)
		}
	case h.status < 0:
		hc.answered(st, errHTTPResponse, h.ended)
	case h.status < 200: // interim
	default:
		a.got, a.keep, a.status, a.body, a.tooLarge = true, true, h.status, a.body[:0], false
		a.retryAfter = append(a.retryAfter[:0], h.retryAfter...)
		if h.ended || !st.wantBody { // without wantBody the status is all the drain reads
			hc.answered(st, nil, h.ended)
		}
	}
}

// goAway ends the connection after a protocol error of the receiver.
func (hc *h2Conn) goAway(err error) {
	var b bytes.Buffer // wbuf is the writer's
	_ = http2.NewFramer(&b, nil).WriteGoAway(0, http2.ErrCodeProtocol, []byte(err.Error()))
	_ = hc.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = hc.nc.Write(b.Bytes())
	hc.fail(err)
}

// fail closes the connection: every request on it ends with err (or a
// refusal, for those never started), and its drains detach.
func (hc *h2Conn) fail(err error) {
	hc.mu.Lock()
	if hc.err != nil {
		hc.mu.Unlock()
		return
	}
	hc.err, hc.closing = err, true
	if hc.sweeper != nil {
		hc.sweeper.Stop()
	}
	for _, st := range hc.streams {
		hc.finish(st, err)
	}
	for _, st := range hc.queue {
		st.finished = true
		st.done <- errH2Refused
	}
	hc.queue = nil
	attached := make([]*httpConns, 0, len(hc.attached))
	for c := range hc.attached {
		attached = append(attached, c)
	}
	clear(hc.attached)
	hc.mu.Unlock()
	close(hc.done)
	_ = hc.nc.Close()
	hc.host.hs.open.Add(-1)
	h2ConnsOpen.Add(-1)
	hc.host.remove(hc)
	for _, c := range attached {
		c.h2Gone(hc)
	}
	if !errors.Is(err, errH2Refused) && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		h2ConnsFailed.Inc()
		hc.host.hs.log.Info("drain HTTP/2 connection failed", "addr", hc.host.key.addr, "err", err)
	}
}

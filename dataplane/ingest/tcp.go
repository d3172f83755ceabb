// Package ingest moves bytes in: octet-counted syslog over TCP on gnet event
// loops, and `POST /logs` (application/logplex-1) on fasthttp. It splits
// frames with package frame and hands them to a route.Batch; it never
// parses beyond framing and authentication, and never blocks an event loop.
//
// ingest imports frame, config, dataplane/route, gnet and fasthttp.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"

	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/frame"
)

// TCPOptions configure the TCP syslog listener.
type TCPOptions struct {
	Addr          string // listen address; default ":6001"
	EventLoops    int    // gnet event loops; default one per CPU (GOMAXPROCS)
	ReadBufferCap int    // bytes read per readable event; default 64 KiB (one buffer per event loop)
	// MaxConnections bounds open connections (more are closed at once);
	// default DefaultMaxTCPConnections(): what the file descriptor limit
	// allows, at most 100000.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long;
	// 0 (default): never, as Logplex.
	IdleTimeout time.Duration
	// FrameTimeout closes a connection that holds an incomplete frame and
	// completes none for this long (a sender trickling bytes); default 30 s,
	// negative: never.
	FrameTimeout time.Duration
	// DrainIdle and DrainTimeout shape the shutdown (see Run): reading
	// stops once no connection has sent a byte for DrainIdle (default
	// 250 ms), or DrainTimeout (default 5 s) after the shutdown began.
	DrainIdle, DrainTimeout time.Duration
	// ReadCoalesce, when positive, lets a connection that sends a steady
	// stream of small writes gather about this long of them in the kernel
	// before its event loop is woken (read_coalesce.go). 0 (the Options
	// default; the flag sets its own): read as soon as anything arrives.
	ReadCoalesce time.Duration
}

var (
	tcpConnsOpen     atomic.Int64
	tcpConnsAccepted = metrics.NewCounter(`logplex_tcp_connections_accepted_total`)
	tcpConnsRejected = metrics.NewCounter(`logplex_tcp_connections_rejected_total`)
	tcpBytesRead     = metrics.NewCounter(`logplex_tcp_bytes_received_total`)
	tcpReads         = metrics.NewCounter(`logplex_tcp_reads_total`)
	_                = metrics.NewGauge(`logplex_tcp_connections`, func() float64 { return float64(tcpConnsOpen.Load()) })

	tcpIdleClosed    = metrics.NewCounter(`logplex_tcp_connections_idle_closed_total`)
	tcpFrameTimeouts = metrics.NewCounter(`logplex_tcp_connections_frame_timeout_total`)
	tcpPartialBytes  = metrics.NewCounter(`logplex_tcp_partial_frame_bytes_discarded_total`)

	// What a shutdown discarded: bytes received (by gnet or still in the
	// kernel) when a connection was closed, and the complete frames in
	// them; connections opened during the shutdown are closed at once.
	shutdownDiscardedBytes  = metrics.NewCounter(`logplex_shutdown_discarded_bytes_total`)
	shutdownDiscardedFrames = metrics.NewCounter(`logplex_shutdown_discarded_frames_total`)
	shutdownRefusedConns    = metrics.NewCounter(`logplex_shutdown_refused_connections_total`)
)

// TCP is the gnet syslog server. Each connection's bytes are split in place;
// a partial frame stays in gnet's buffer until the next read. frame.Next
// bounds what a partial frame may hold (MaxLineLen), so a sender that never
// completes a frame cannot make a connection buffer more than that.
//
// Connections are accepted by a Go listener (retryListener: an accept error
// such as EMFILE is retried with backoff and counted, never fatal) and
// handed to the gnet engine with Engine.Register. gnet's own acceptor stops
// the whole engine on the first accept error, so the engine listens only on
// a unix socket whose path is removed once it is bound: nothing can connect
// there.
type TCP struct {
	gnet.BuiltinEventEngine
	opts   TCPOptions
	router *route.Router
	log    *slog.Logger

	eng       gnet.Engine
	ready     chan struct{}
	readyOnce sync.Once
	addr      atomic.Pointer[net.TCPAddr]

	tick    time.Duration // OnTick's period
	doomed  []*tcpConn    // OnTick's scratch
	clock   atomic.Int64  // coarse unix nanoseconds, advanced by OnTick
	connsMu sync.Mutex    // taken per connection open and close, per sweep and per low-water change
	conns   map[*tcpConn]struct{}
	// connections whose receive low-water mark is raised, and the timer
	// that lowers those gone quiet while there are any (read_coalesce.go)
	raised     map[*tcpConn]struct{}
	lowerTimer *time.Timer
	lowerArmed bool

	open      atomic.Int64 // this server's open connections
	draining  atomic.Bool  // set when the shutdown begins
	discarded Discarded    // what the shutdown discarded (read after Run)
}

// Discarded is what a listener's shutdown threw away: bytes, the complete
// frames among them, and connections refused while shutting down.
type Discarded struct {
	Bytes, Frames, Conns atomic.Int64
}

// tcpConn is the state of one connection, kept in its gnet context. The
// event loop writes it per read event; the sweeper reads it.
type tcpConn struct {
	c            gnet.Conn
	lastRead     atomic.Int64 // coarse clock at the last read event
	partialSince atomic.Int64 // coarse clock since an incomplete frame is held without progress; 0: none
	coalesce                  // read_coalesce.go
}

// NewTCP returns a server routing with router.
func NewTCP(opts TCPOptions, router *route.Router, log *slog.Logger) *TCP {
	if opts.Addr == "" {
		opts.Addr = ":6001"
	}
	if opts.ReadBufferCap <= 0 {
		opts.ReadBufferCap = 64 << 10
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxTCPConnections()
	}
	if opts.FrameTimeout == 0 {
		opts.FrameTimeout = 30 * time.Second
	}
	if opts.DrainIdle <= 0 {
		opts.DrainIdle = 250 * time.Millisecond
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	s := &TCP{opts: opts, router: router, log: log, ready: make(chan struct{}),
		conns: map[*tcpConn]struct{}{}, raised: map[*tcpConn]struct{}{}}
	s.clock.Store(time.Now().UnixNano())
	s.tick = s.sweepTick()
	return s
}

// fdReserve is the file descriptors DefaultMaxTCPConnections leaves for
// everything else (HTTP, API and admin connections, drains, Redis, files).
const fdReserve = 256

// DefaultMaxTCPConnections is the syslog connection cap the file descriptor
// limit allows: RLIMIT_NOFILE (the Go runtime raises the soft limit to the
// hard one at start) minus 256, at least half of it, at most 100000.
func DefaultMaxTCPConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 100000
	}
	n := max(rl.Cur-fdReserve, rl.Cur/2)
	return int(min(n, 100000))
}

// Run serves until ctx ends. It returns an error if the listener cannot
// start or the event engine stops by itself.
//
// When ctx ends it shuts down gracefully. gnet's Engine.Stop closes every
// connection at once, and the bytes a sender wrote just before (accepted
// by the kernel, not yet read) would vanish; so first the listener drains:
// new connections are closed at once (counted), open ones are read and
// routed as usual until none has sent a byte for DrainIdle, or until
// DrainTimeout. Only then the engine stops; whatever a connection still
// held then (a partial frame, or bytes in the kernel's receive buffer) is
// counted as discarded, in bytes and complete frames (Discarded, and the
// logplex_shutdown_discarded_* counters).
func (s *TCP) Run(ctx context.Context) error {
	lc := net.ListenConfig{KeepAlive: 5 * time.Minute}
	tln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("syslog listener %s: %w", s.opts.Addr, err)
	}
	ln := newRetryListener(tln, "syslog", acceptErrorsSyslog, s.log)
	defer ln.Close()
	s.addr.Store(tln.Addr().(*net.TCPAddr))
	dir, err := os.MkdirTemp("", "logplex-gnet-")
	if err != nil {
		return fmt.Errorf("syslog listener %s: event engine socket: %w", s.opts.Addr, err)
	}
	defer os.RemoveAll(dir)
	errc := make(chan error, 1)
	go func() {
		opts := []gnet.Option{
			gnet.WithMulticore(s.opts.EventLoops == 0),
			gnet.WithReadBufferCap(s.opts.ReadBufferCap),
			gnet.WithLoadBalancing(gnet.LeastConnections), // Engine.Register is racy with RoundRobin
			gnet.WithTicker(true),
			gnet.WithLogger(gnetLogger{s.log}),
		}
		if s.opts.EventLoops > 0 {
			opts = append(opts, gnet.WithNumEventLoop(s.opts.EventLoops))
		}
		errc <- gnet.Run(s, "unix://"+filepath.Join(dir, "engine.sock"), opts...)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("syslog listener %s: %w", s.opts.Addr, err)
	case <-s.ready:
	}
	_ = os.RemoveAll(dir) // bound: nobody can connect to the engine's own socket
	go s.accept(ctx, ln)
	select {
	case <-ctx.Done():
		s.drain() // the accept loop refuses, and counts, connections meanwhile
		_ = ln.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.eng.Stop(sctx)
		<-errc
		return nil
	case err := <-errc:
		if err == nil {
			err = errors.New("event engine stopped")
		}
		return fmt.Errorf("syslog listener %s: %w", s.opts.Addr, err)
	}
}

// drain keeps reading open connections until they are all quiet for
// DrainIdle, or DrainTimeout passed. Quiet is read off the byte counter
// every event loop adds to, so serving costs nothing extra.
func (s *TCP) drain() {
	s.draining.Store(true)
	s.lowerAll() // read whatever arrives at once
	start := time.Now()
	tick := time.NewTicker(max(min(s.opts.DrainIdle/5, 50*time.Millisecond), time.Millisecond))
	defer tick.Stop()
	last, quiet := tcpBytesRead.Get(), start
	for {
		now := <-tick.C // one tick at least: a connection accepted just now is opened on its loop
		if s.open.Load() == 0 {
			return
		}
		if n := tcpBytesRead.Get(); n != last {
			last, quiet = n, now
		} else if now.Sub(quiet) >= s.opts.DrainIdle {
			return
		}
		if now.Sub(start) >= s.opts.DrainTimeout {
			s.log.Warn("syslog connections still sending at the shutdown timeout; closing them",
				"connections", s.open.Load())
			return
		}
	}
}

// Discarded is what the shutdown discarded; complete once Run returned.
func (s *TCP) Discarded() *Discarded { return &s.discarded }

// accept hands every accepted connection to the event engine until ln is
// closed; over MaxConnections, or while shutting down, a connection is
// closed at once.
func (s *TCP) accept(ctx context.Context, ln *retryListener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		if s.draining.Load() {
			shutdownRefusedConns.Inc()
			s.discarded.Conns.Add(1)
			_ = c.Close()
			continue
		}
		if tcpConnsOpen.Load() >= int64(s.opts.MaxConnections) {
			tcpConnsRejected.Inc()
			_ = c.Close()
			continue
		}
		res, err := s.eng.Register(gnet.NewNetConnContext(ctx, c))
		if err != nil {
			_ = c.Close()
			continue
		}
		if r := <-res; r.Err != nil { // else the engine holds a dup of c's descriptor; c is closed
			acceptErrorsSyslog.Inc() // the dup failed: out of descriptors, like accept
			ln.logThrottled(r.Err, 0)
		}
	}
}

// OnTick implements gnet.EventHandler: it runs on gnet's ticker goroutine,
// first once the event loops exist (so Ready means Register is safe), then
// every tick: it advances the coarse clock and closes idle connections and
// those stuck on an incomplete frame.
func (s *TCP) OnTick() (time.Duration, gnet.Action) {
	s.readyOnce.Do(func() { close(s.ready) })
	now := time.Now().UnixNano()
	s.clock.Store(now)
	s.doomed = s.expired(now, s.doomed[:0])
	for _, st := range s.doomed {
		_ = st.c.Close()
	}
	clear(s.doomed)
	return s.tick, gnet.None
}

func (s *TCP) sweepTick() time.Duration {
	tick := time.Second
	for _, d := range []time.Duration{s.opts.IdleTimeout, s.opts.FrameTimeout} {
		if d > 0 {
			tick = min(tick, d/4)
		}
	}
	return max(tick, time.Millisecond)
}

// expired appends the connections past a timeout at now to dst, counting them.
func (s *TCP) expired(now int64, dst []*tcpConn) []*tcpConn {
	idle, frame := int64(s.opts.IdleTimeout), int64(s.opts.FrameTimeout)
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for st := range s.conns {
		switch p := st.partialSince.Load(); {
		case frame > 0 && p != 0 && now-p > frame:
			tcpFrameTimeouts.Inc()
		case idle > 0 && now-st.lastRead.Load() > idle:
			tcpIdleClosed.Inc()
		default:
			continue
		}
		delete(s.conns, st) // closed once; OnClose finds it gone
		dst = append(dst, st)
	}
	return dst
}

// Ready is closed once the listener accepts connections.
func (s *TCP) Ready() <-chan struct{} { return s.ready }

// Addr is the bound listener address (valid after Ready).
func (s *TCP) Addr() *net.TCPAddr { return s.addr.Load() }

// OnBoot implements gnet.EventHandler.
func (s *TCP) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	return gnet.None
}

// OnOpen implements gnet.EventHandler.
func (s *TCP) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s.open.Add(1)
	if s.draining.Load() { // registered just before the shutdown began
		tcpConnsOpen.Add(1) // OnClose follows
		shutdownRefusedConns.Inc()
		s.discarded.Conns.Add(1)
		return nil, gnet.Close
	}
	if tcpConnsOpen.Add(1) > int64(s.opts.MaxConnections) {
		tcpConnsRejected.Inc()
		return nil, gnet.Close
	}
	tcpConnsAccepted.Inc()
	st := &tcpConn{c: c}
	st.lastRead.Store(s.clock.Load())
	c.SetContext(st)
	s.connsMu.Lock()
	s.conns[st] = struct{}{}
	s.connsMu.Unlock()
	return nil, gnet.None
}

// OnClose implements gnet.EventHandler. The bytes of an incomplete frame
// still buffered are discarded, and counted; while shutting down, what the
// connection still holds (in gnet and in the kernel) is counted as
// discarded by the shutdown.
func (s *TCP) OnClose(c gnet.Conn, _ error) gnet.Action {
	tcpConnsOpen.Add(-1)
	s.open.Add(-1)
	if s.draining.Load() {
		held, _ := c.Peek(-1)
		if bytes, frames := countUnread(held, c.Fd()); bytes > 0 {
			shutdownDiscardedBytes.Add(bytes)
			shutdownDiscardedFrames.Add(frames)
			s.discarded.Bytes.Add(int64(bytes))
			s.discarded.Frames.Add(int64(frames))
		}
	} else if n := c.InboundBuffered(); n > 0 {
		tcpPartialBytes.Add(n)
	}
	if st, ok := c.Context().(*tcpConn); ok {
		s.connsMu.Lock()
		delete(s.conns, st)
		s.markLocked(st, 1)
		s.connsMu.Unlock()
	}
	return gnet.None
}

// OnTraffic splits every complete frame buffered on c and routes them as one
// batch. The bytes Peek returns are valid only until Discard, so the batch
// copies what it keeps before that.
func (s *TCP) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil || len(buf) == 0 {
		return gnet.None
	}
	tcpBytesRead.Add(len(buf))
	tcpReads.Inc()
	b := s.router.Batch()
	consumed := SplitInto(b, buf)
	b.Flush()
	if st, ok := c.Context().(*tcpConn); ok {
		now := s.clock.Load()
		st.lastRead.Store(now)
		if s.opts.ReadCoalesce > 0 {
			s.observe(st, len(buf), len(buf)-consumed, time.Now().UnixNano())
		}
		switch {
		case consumed == len(buf):
			st.partialSince.Store(0)
		case consumed > 0 || st.partialSince.Load() == 0: // progress, or a new incomplete frame
			st.partialSince.Store(now)
		}
	}
	// Let the drain senders this batch woke run now, between batches,
	// rather than when sysmon preempts the loop in the middle of one
	// (asyncPreempt was 7 % of the router at saturation).
	runtime.Gosched()
	if consumed > 0 { // Discard(0) would drop everything buffered
		_, _ = c.Discard(consumed)
	}
	return gnet.None
}

// maxUnreadScan bounds the bytes of one closing connection scanned for
// frames; more are counted as bytes only.
const maxUnreadScan = 16 << 20

// countUnread counts the bytes held (by gnet) plus those still in fd's
// kernel receive buffer (read without blocking, then dropped), and the
// complete frames among them. Shutdown only: it allocates.
func countUnread(held []byte, fd int) (bytes, frames int) {
	buf := append([]byte(nil), held...)
	chunk := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(fd, chunk)
		if n <= 0 || err != nil {
			break
		}
		if len(buf) < maxUnreadScan {
			buf = append(buf, chunk[:n]...)
		} else {
			bytes += n
		}
	}
	bytes += len(buf)
	for off := 0; off < len(buf); {
		_, n, k := frame.Next(buf[off:])
		if k == frame.NeedMore {
			break
		}
		if k == frame.Message {
			frames++
		}
		off += n
	}
	return bytes, frames
}

// SplitInto routes every complete frame in buf by its APP-NAME token and
// returns the number of bytes consumed; an incomplete last frame is left.
func SplitInto(b *route.Batch, buf []byte) int {
	consumed := 0
	for consumed < len(buf) {
		msg, n, k := frame.Next(buf[consumed:])
		switch k {
		case frame.NeedMore:
			return consumed
		case frame.Message:
			b.AddByAppName(msg)
		case frame.Malformed:
			b.Malformed()
		}
		consumed += n
	}
	return consumed
}

// gnetLogger sends gnet's own logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }

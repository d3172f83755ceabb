// Package ingest moves bytes in: octet-counted syslog over TCP on gnet event
// loops, and `POST /logs` (application/logplex-1) on fasthttp. It splits
// frames with package frame and hands them to a route.Batch; it never
// parses beyond framing and authentication, and never blocks an event loop.
//
// ingest imports frame, config, dataplane/route, gnet and fasthttp.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
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
	Addr           string // listen address; default ":6001"
	EventLoops     int    // gnet event loops; default one per CPU (GOMAXPROCS)
	ReadBufferCap  int    // bytes read per readable event; default 64 KiB (one buffer per event loop)
	MaxConnections int    // open connections at most; default 100000 (more are closed at once)
	// DrainIdle and DrainTimeout shape the shutdown (see Run): reading
	// stops once no connection has sent a byte for DrainIdle (default
	// 250 ms), or DrainTimeout (default 5 s) after the shutdown began.
	DrainIdle, DrainTimeout time.Duration
}

var (
	tcpConnsOpen     atomic.Int64
	tcpConnsAccepted = metrics.NewCounter(`logplex_tcp_connections_accepted_total`)
	tcpConnsRejected = metrics.NewCounter(`logplex_tcp_connections_rejected_total`)
	tcpBytesRead     = metrics.NewCounter(`logplex_tcp_bytes_received_total`)
	_                = metrics.NewGauge(`logplex_tcp_connections`, func() float64 { return float64(tcpConnsOpen.Load()) })

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
type TCP struct {
	gnet.BuiltinEventEngine
	opts   TCPOptions
	router *route.Router
	log    *slog.Logger

	eng   gnet.Engine
	ready chan struct{}
	addr  atomic.Pointer[net.TCPAddr]

	open      atomic.Int64 // this server's open connections
	draining  atomic.Bool  // set when the shutdown begins
	discarded Discarded    // what the shutdown discarded (read after Run)
}

// Discarded is what a listener's shutdown threw away: bytes, the complete
// frames among them, and connections refused while shutting down.
type Discarded struct {
	Bytes, Frames, Conns atomic.Int64
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
		opts.MaxConnections = 100000
	}
	if opts.DrainIdle <= 0 {
		opts.DrainIdle = 250 * time.Millisecond
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	return &TCP{opts: opts, router: router, log: log, ready: make(chan struct{})}
}

// Run serves until ctx ends. It returns an error if the listener cannot start.
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
	errc := make(chan error, 1)
	go func() {
		opts := []gnet.Option{
			gnet.WithMulticore(s.opts.EventLoops == 0),
			gnet.WithReuseAddr(true),
			gnet.WithReadBufferCap(s.opts.ReadBufferCap),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTCPKeepAlive(5 * time.Minute),
			gnet.WithLogger(gnetLogger{s.log}),
		}
		if s.opts.EventLoops > 0 {
			opts = append(opts, gnet.WithNumEventLoop(s.opts.EventLoops))
		}
		errc <- gnet.Run(s, "tcp://"+s.opts.Addr, opts...)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("syslog listener %s: %w", s.opts.Addr, err)
	case <-s.ready:
	}
	select {
	case <-ctx.Done():
		s.drain()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.eng.Stop(sctx)
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// drain keeps reading open connections until they are all quiet for
// DrainIdle, or DrainTimeout passed. Quiet is read off the byte counter
// every event loop adds to, so serving costs nothing extra.
func (s *TCP) drain() {
	s.draining.Store(true)
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

// Ready is closed once the listener accepts connections.
func (s *TCP) Ready() <-chan struct{} { return s.ready }

// Addr is the bound listener address (valid after Ready).
func (s *TCP) Addr() *net.TCPAddr { return s.addr.Load() }

// OnBoot implements gnet.EventHandler.
func (s *TCP) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := syscall.Getsockname(fd); err == nil {
			s.addr.Store(sockaddrToTCP(sa))
		}
		syscall.Close(fd)
	}
	close(s.ready)
	return gnet.None
}

// OnOpen implements gnet.EventHandler.
func (s *TCP) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	s.open.Add(1)
	if s.draining.Load() {
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
	return nil, gnet.None
}

// OnClose implements gnet.EventHandler. While shutting down, what the
// connection still holds is counted as discarded.
func (s *TCP) OnClose(c gnet.Conn, _ error) gnet.Action {
	tcpConnsOpen.Add(-1)
	s.open.Add(-1)
	if s.draining.Load() {
		held, _ := c.Peek(-1)
		bytes, frames := countUnread(held, c.Fd())
		if bytes > 0 {
			shutdownDiscardedBytes.Add(bytes)
			shutdownDiscardedFrames.Add(frames)
			s.discarded.Bytes.Add(int64(bytes))
			s.discarded.Frames.Add(int64(frames))
		}
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

// OnTraffic splits every complete frame buffered on c and routes them as one
// batch. The bytes Peek returns are valid only until Discard, so the batch
// copies what it keeps before that.
func (s *TCP) OnTraffic(c gnet.Conn) gnet.Action {
	buf, err := c.Peek(-1)
	if err != nil || len(buf) == 0 {
		return gnet.None
	}
	tcpBytesRead.Add(len(buf))
	b := s.router.Batch()
	consumed := SplitInto(b, buf)
	b.Flush()
	// Let the drain senders this batch woke run now, between batches,
	// rather than when sysmon preempts the loop in the middle of one
	// (asyncPreempt was 7 % of the router at saturation).
	runtime.Gosched()
	if consumed > 0 { // Discard(0) would drop everything buffered
		_, _ = c.Discard(consumed)
	}
	return gnet.None
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

func sockaddrToTCP(sa syscall.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// gnetLogger sends gnet's own logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...), "component", "gnet") }

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
}

var (
	tcpConnsOpen     atomic.Int64
	tcpConnsAccepted = metrics.NewCounter(`logplex_tcp_connections_accepted_total`)
	tcpConnsRejected = metrics.NewCounter(`logplex_tcp_connections_rejected_total`)
	tcpBytesRead     = metrics.NewCounter(`logplex_tcp_bytes_received_total`)
	_                = metrics.NewGauge(`logplex_tcp_connections`, func() float64 { return float64(tcpConnsOpen.Load()) })
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
	return &TCP{opts: opts, router: router, log: log, ready: make(chan struct{})}
}

// Run serves until ctx ends. It returns an error if the listener cannot start.
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
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.eng.Stop(sctx)
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

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
	if tcpConnsOpen.Add(1) > int64(s.opts.MaxConnections) {
		tcpConnsRejected.Inc()
		return nil, gnet.Close
	}
	tcpConnsAccepted.Inc()
	return nil, gnet.None
}

// OnClose implements gnet.EventHandler.
func (s *TCP) OnClose(gnet.Conn, error) gnet.Action {
	tcpConnsOpen.Add(-1)
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

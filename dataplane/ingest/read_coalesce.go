package ingest

import (
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Read coalescing (TCPOptions.ReadCoalesce). A sender that writes a steady
// stream of small batches wakes its event loop for each one: at 50 000
// messages a second over four connections, ~5 000 reads of 10 messages,
// a quarter of the router's CPU. The kernel can wait instead: a socket's
// receive low-water mark (SO_RCVLOWAT) makes epoll report it readable only
// once that many bytes are buffered (or at end of stream, or on an error).
// So each connection's byte rate is measured over coalesceWindows windows
// of ReadCoalesce, and its low-water mark set to what it sends in one
// window: its reads come about ReadCoalesce apart, each carrying that
// window's messages. A connection that sends little (less than minLowat a
// window) keeps the kernel's default of 1 byte.
//
// A sender that slows down or stops would leave its last bytes below the
// mark: a timer that runs every window while any mark is raised (and not
// at all otherwise: an idle listener wakes for nothing) lowers the mark of
// a connection unread for two windows, and lowering it wakes the event
// loop at once if bytes wait (tcp_set_rcvlowat signals readiness). So no
// byte waits more than about three windows; the shutdown lowers every
// mark before it drains. At saturation reads are full (the read buffer
// cap) and the mark changes nothing.
//
//	read ── observe: bytes per window ──► setLowat (a syscall only when it moves 2× or to/from 1)
//	lowerTimer (while any is raised) ── lowerQuiet: unread for 2 windows ──► mark 1 (the kernel wakes the loop if bytes wait)

// coalesce is a connection's measurement, owned by its event loop but for
// readAt and lowat, which the lowering timer reads and lowers too (marks
// change under TCP.connsMu).
type coalesce struct {
	winStart int64        // unix nanoseconds at the start of the measuring span; 0: none yet
	winBytes int          // bytes read since
	held     int          // bytes the last read left unconsumed (not new at the next read)
	readAt   atomic.Int64 // unix nanoseconds of the last read (lowerQuiet)
	lowat    atomic.Int32 // the socket's SO_RCVLOWAT as set here; 0 or 1: the default
}

const (
	coalesceWindows = 8        // the rate is measured over this many windows
	minLowat        = 512      // below this many bytes a window, reads are left alone
	maxLowat        = 32 << 10 // and never wait for more than this
)

var (
	coalescingConns   atomic.Int64
	_                 = metrics.NewGauge(`logplex_tcp_connections_coalescing`, func() float64 { return float64(coalescingConns.Load()) })
	lowatChanges      = metrics.NewCounter(`logplex_tcp_read_coalesce_changes_total`)
	lowatQuietLowered = metrics.NewCounter(`logplex_tcp_read_coalesce_quiet_total`)
)

// observe accounts a read of n bytes of which left stayed unconsumed, at
// now (unix nanoseconds, read once per read event), and moves the
// connection's mark once a span of coalesceWindows windows is measured.
func (s *TCP) observe(st *tcpConn, n, left int, now int64) {
	st.readAt.Store(now)
	fresh := n - st.held
	st.held = left
	if s.draining.Load() {
		return
	}
	if st.winStart == 0 {
		st.winStart = now
	}
	st.winBytes += fresh
	w := int64(s.opts.ReadCoalesce)
	span := now - st.winStart
	if span < coalesceWindows*w {
		return
	}
	want := int(int64(st.winBytes) * w / span)
	st.winStart, st.winBytes = now, 0
	s.setLowat(st, want)
}

// setLowat sets the connection's mark to want bytes, bounded (1 below
// minLowat), unless it is within a factor of two of the mark set.
func (s *TCP) setLowat(st *tcpConn, want int) {
	want = min(want, maxLowat, s.opts.ReadBufferCap/2)
	if want < minLowat {
		want = 1
	}
	cur := max(int(st.lowat.Load()), 1)
	if want == cur || want > 1 && cur > 1 && want < 2*cur && cur < 2*want {
		return
	}
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if _, open := s.conns[st]; !open {
		return // closing
	}
	if syscall.SetsockoptInt(st.c.Fd(), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, want) != nil {
		return
	}
	lowatChanges.Inc()
	s.markLocked(st, want)
}

// markLocked records st's mark and arms the lowering timer when the first
// mark is raised; s.connsMu is held.
func (s *TCP) markLocked(st *tcpConn, v int) {
	st.lowat.Store(int32(v))
	_, was := s.raised[st]
	switch {
	case v > 1 && !was:
		s.raised[st] = struct{}{}
		coalescingConns.Add(1)
		if !s.lowerArmed {
			s.lowerArmed = true
			if s.lowerTimer == nil {
				s.lowerTimer = time.AfterFunc(s.opts.ReadCoalesce, s.lowerTick)
			} else {
				s.lowerTimer.Reset(s.opts.ReadCoalesce)
			}
		}
	case v <= 1 && was:
		delete(s.raised, st)
		coalescingConns.Add(-1)
	}
}

// lowerTick is the lowering timer's function: it lowers the quiet marks
// and runs again a window later while any mark is raised.
func (s *TCP) lowerTick() {
	s.lowerQuiet(time.Now().UnixNano())
	s.connsMu.Lock()
	s.lowerArmed = len(s.raised) > 0
	if s.lowerArmed {
		s.lowerTimer.Reset(s.opts.ReadCoalesce)
	}
	s.connsMu.Unlock()
}

// lowerQuiet lowers the mark of the connections unread for two windows at
// now (unix nanoseconds).
func (s *TCP) lowerQuiet(now int64) {
	quiet := 2 * int64(s.opts.ReadCoalesce)
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for st := range s.raised {
		if now-st.readAt.Load() >= quiet {
			_ = syscall.SetsockoptInt(st.c.Fd(), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, 1)
			lowatQuietLowered.Inc()
			s.markLocked(st, 1)
		}
	}
}

// lowerAll lowers every raised mark (the shutdown: read what arrives).
func (s *TCP) lowerAll() {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for st := range s.raised {
		_ = syscall.SetsockoptInt(st.c.Fd(), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, 1)
		s.markLocked(st, 1)
	}
}

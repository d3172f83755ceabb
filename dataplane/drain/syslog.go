package drain

// Syslog drains over TCP and TLS (docs/logplex.md §5.5–5.6). One goroutine per drain
// (while it runs: drain.go) owns the connection and runs this state machine:
//
//	                     a message is buffered and retryAt has passed
//	┌──────────────┐ ─────────────────────────────────────────────────► dial (+ TLS handshake)
//	│ disconnected │ ◄── failure: F++, retryAt = now + min(2^F·base, TCPBackoffMax),   │ ok
//	└──────────────┘     maybe shrink the buffer to 10; L14 on TLS failures F >= 2     ▼
//	       ▲ ◄───── clean close (idle, max TTL): retryAt = now, or          ┌───────────┐
//	       │        now + TCPReconnectMin if the last good write is recent  │ connected │ ─► write batches,
//	       └──────── write error, write timeout, peer close ─────────────── └───────────┘    F = 0 on success
//
// Each write is one batch of up to TCPTargetBytes of octet-counted frames
// (frame.AppendSyslogDrain, the drain token as HOSTNAME), led by an L10 frame
// when the buffer lost messages since the last report. The write blocks on
// this goroutine with a deadline of TCPSendTimeout; messages of a failed
// write are counted as dropped and reported by the next L10, so every pushed
// message is either delivered or counted as dropped. Delivered means written
// to the socket: syslog over TCP has no acknowledgement, so a batch the
// kernel accepts in the moment between the endpoint closing and the drain
// reading that close is lost uncounted (as in Logplex).
//
// On stop (ctx ends) the sender writes out what is buffered until flushCtx
// ends, connecting once if it was disconnected, then closes; what is left is
// counted as dropped.
//
// Disconnected with nothing buffered (before the first message, after an
// idle or TTL close or a failure), the sender parks (drain.go): its
// goroutine ends, and the next message starts it again; retryAt is kept,
// so a backoff still holds for that message.

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/ringbuf"
)

// syslogShrunkSize is the buffer size of a drain that keeps failing while its
// buffer overflows (docs/logplex.md §5.5).
const syslogShrunkSize = 10

// errPeerClosed is the failure of a connection the endpoint closed.
var errPeerClosed = errors.New("connection closed by the endpoint")

// syslogSender delivers one syslog:// or syslog+tls:// drain.
type syslogSender struct {
	o      *Options
	d      *Drain
	log    *slog.Logger
	token  []byte      // the drain token: HOSTNAME of every frame
	tlsCfg *tls.Config // nil for syslog://
	verify *tlsVerifier
	dialer net.Dialer
	// dialContext is dialer.DialContext; tests put an in-memory connection
	// here (net.Pipe) to run the sender under testing/synctest's clock.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	clock       func() time.Time // timestamps of L10 and L14 notices
	base        time.Duration    // backoff unit

	conn        net.Conn      // nil while disconnected
	raw         net.Conn      // the TCP connection under conn
	peerGone    chan struct{} // closed when reading conn fails (the peer closed it)
	connectedAt time.Time
	lastGood    time.Time // end of the last successful write
	failures    int       // F: consecutive failures
	retryAt     time.Time // no connect attempt before this
	shrunk      bool
	closeTimer  lazyTimer // idle / max-TTL check while connected
	retryTimer  lazyTimer
	ageTimer    lazyTimer    // batch age (Options.TCPBatchAge)
	lastWrite   time.Time    // when the last batch write started
	winTimer    lazyTimer    // batch window (Options.TCPBatchWindow)
	winEnd      time.Time    // when the open window closes; zero: none open
	idle        bool         // the buffer was found empty since the last write
	seenDrops   uint64       // overflow drops of Buf already added to Stats
	failTotal   atomic.Int64 // failures so far (observable by tests)

	// The batch being built; fields rather than locals so that fill and
	// take are bound once and the send path allocates nothing.
	wbuf      []byte
	now       time.Time
	remaining int  // bytes left in the batch's target
	had       bool // the buffer held messages or an unreported loss
	msgs      int  // messages framed into wbuf
	skipped   int  // messages that do not parse (never delivered, docs/logplex.md §3.1)
	loss      int  // loss reported by this batch's L10 (taken from the ring)
	lossSince int64
	fillFn    func(*ringbuf.Ring)
	takeFn    func([]byte) bool
}

// newSyslogSender sets up d's buffer and stats and returns its sender.
func newSyslogSender(o *Options, d *Drain) (sender, error) {
	kind := TypeName(d.URL.Kind)
	s := &syslogSender{o: o, d: d, token: []byte(d.Config.Token), clock: time.Now, base: o.TCPBackoffBase}
	if d.URL.Kind == config.DrainSyslogTLS {
		var err error
		if s.tlsCfg, s.verify, err = newSyslogTLSConfig(o, d.URL); err != nil {
			return nil, err
		}
	}
	s.log = o.Logger.With("drain_id", d.Config.ID, "channel_id", d.Config.ChannelID, "drain_type", kind)
	s.dialer = o.newDialer(o.TCPSendTimeout)
	s.dialContext = s.dialer.DialContext
	s.fillFn, s.takeFn = s.fill, s.take
	s.lastGood, s.seenDrops = d.memo.lastGood, d.memo.seenDrops
	if d.o == nil { // Manager.start sets them; tests may not
		d.o = o
	}
	if d.Buf == nil {
		d.Buf = NewBuffer(o.TCPBufferSize, FormCooked)
		d.Buf.bud = o.bud
	}
	if d.Stats == nil {
		d.Stats = newStats(d.Config.ID, kind, d.Buf)
	}
	return s, nil
}

// lazyTimer is a timer the HTTP and syslog senders arm as they need it: the
// time.Timer is made by its first Reset, so a sender that never backs off,
// opens no batch window or has no batch age pays nothing for that timer
// (~0.2 KiB each, kept by every connected drain; TestConnectedDrainMemory).
// Until then C is nil: a select never takes it.
type lazyTimer struct{ t *time.Timer }

// C is the timer's channel, nil before the first Reset.
func (l *lazyTimer) C() <-chan time.Time {
	if l.t == nil {
		return nil
	}
	return l.t.C
}

// Reset arms the timer to fire after d.
func (l *lazyTimer) Reset(d time.Duration) {
	if l.t == nil {
		l.t = time.NewTimer(d)
		return
	}
	l.t.Reset(d)
}

// Stop disarms the timer, if made.
func (l *lazyTimer) Stop() {
	if l.t != nil {
		l.t.Stop()
	}
}

func (s *syslogSender) run(ctx, flushCtx context.Context) (parked bool) {
	for ctx.Err() == nil {
		if s.conn == nil {
			if s.held() == 0 {
				if s.park() {
					return true // the next push runs the sender again
				}
				s.waitMessage(ctx)
				continue
			}
			s.waitAndConnect(ctx)
		} else if s.waitWindow(ctx) || s.waitBatchAge(ctx) {
			continue
		} else if !s.sendBatch() {
			s.idle = true
			s.waitConnected(ctx)
		}
	}
	s.retryTimer.Stop()
	s.ageTimer.Stop()
	s.winTimer.Stop()
	s.closeWindow()
	s.shutdown(flushCtx)
	return false
}

// park gives back the batch buffer of a disconnected sender with nothing
// buffered and parks it (Buffer.park); false: a message arrived meanwhile,
// or the drain is not parkable (stopping, or run without a lifecycle).
//
// A sender with no failure, shrunk buffer or backoff pending is let go:
// the next message makes a new one from the drain's memo.
func (s *syslogSender) park() bool {
	s.closeWindow()
	s.retryTimer.Stop() // no timer for a parked drain
	s.wbuf = nil
	s.syncDrops()
	drop := s.failures == 0 && !s.shrunk && !time.Now().Before(s.retryAt)
	if drop {
		s.d.memo = senderMemo{lastGood: s.lastGood, seenDrops: s.seenDrops}
	}
	return s.d.Buf.park(true, drop)
}

// waitMessage waits, disconnected with nothing buffered, for a message or
// the end of ctx.
func (s *syslogSender) waitMessage(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.d.Buf.Wake():
	}
}

// waitBatchAge waits, when Options.TCPBatchAge is set, until that long has
// passed since the last write started or the target bytes are buffered. It
// reports whether it waited (the caller then looks at the state again).
func (s *syslogSender) waitBatchAge(ctx context.Context) bool {
	age := s.o.TCPBatchAge
	if age <= 0 || s.held() == 0 {
		return false
	}
	wait := time.Until(s.lastWrite.Add(age))
	if wait <= 0 || s.d.Buf.Size() >= s.o.TCPTargetBytes {
		return false
	}
	s.ageTimer.Reset(wait)
	select {
	case <-ctx.Done():
	case <-s.ageTimer.C():
	case <-s.d.Buf.Wake(): // re-check the bytes buffered
	case <-s.peerGone:
		s.dropConn(errPeerClosed)
	}
	s.ageTimer.Stop()
	return true
}

// waitWindow waits, when Options.TCPBatchWindow is set, for the batch
// window to close or the target bytes (or half the buffer) to be buffered,
// with the buffer hushed meanwhile. The window opens when a message finds
// the sender idle, or, for messages that gathered during a write, when that
// write started; a drain whose last write started more than sparseWindows
// windows ago opens the sparse window (Options.TCPSparseWindow), by default
// none (its message goes at once). It reports whether it waited (the caller
// then looks at the state again).
func (s *syslogSender) waitWindow(ctx context.Context) bool {
	w := s.o.TCPBatchWindow
	if w <= 0 || s.held() == 0 {
		return false
	}
	now := time.Now()
	if s.winEnd.IsZero() {
		end, ok := windowEnd(w, s.o.TCPSparseWindow, s.lastWrite, s.idle, now)
		if !ok {
			return false // sparse traffic: a lone message goes at once
		}
		s.winEnd = end
	}
	wait := s.winEnd.Sub(now)
	if wait <= 0 || s.d.Buf.Hush(s.o.TCPTargetBytes) {
		s.closeWindow()
		return false
	}
	s.winTimer.Reset(wait)
	select {
	case <-ctx.Done():
	case <-s.winTimer.C():
	case <-s.d.Buf.Wake(): // the target bytes or half the buffer are buffered
	case <-s.peerGone:
		s.dropConn(errPeerClosed)
		s.closeWindow()
	}
	s.winTimer.Stop()
	return true
}

// closeWindow ends the batch window: pushes wake the sender again.
func (s *syslogSender) closeWindow() {
	if s.winEnd.IsZero() {
		return
	}
	s.winEnd, s.idle = time.Time{}, false
	s.d.Buf.Hush(0)
}

// held is the number of buffered messages.
func (s *syslogSender) held() int {
	_, _, n := s.d.Buf.Stats()
	return n
}

// waitAndConnect waits, with messages buffered, for the backoff to pass,
// then connects; it returns early when ctx ends.
func (s *syslogSender) waitAndConnect(ctx context.Context) {
	if wait := time.Until(s.retryAt); wait > 0 {
		s.retryTimer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-s.retryTimer.C():
		case <-s.d.Buf.Wake(): // keep the drop count current while waiting
			s.syncDrops()
		}
		return
	}
	s.connect(ctx)
}

// waitConnected waits, with an empty buffer, for the next event of a
// connected drain.
func (s *syslogSender) waitConnected(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.d.Buf.Wake():
	case <-s.peerGone:
		s.dropConn(errPeerClosed)
	case <-s.closeTimer.C():
		s.closeTimerFired()
	}
}

// connect dials once; a failure is counted (unless ctx ended) and schedules
// the next attempt.
func (s *syslogSender) connect(ctx context.Context) {
	conn, raw, err := s.dial(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.failed(err)
		}
		return
	}
	s.conn, s.raw = conn, raw
	s.connectedAt = time.Now()
	s.peerGone = make(chan struct{})
	go discardReads(conn, s.peerGone)
	if s.shrunk {
		s.shrunk = false
		s.d.Buf.restore(0)
	}
	s.armCloseTimer()
	s.log.Debug("syslog drain connected", "addr", s.d.URL.HostPort())
}

// dial connects (and for TLS completes the handshake) within TCPSendTimeout.
func (s *syslogSender) dial(ctx context.Context) (conn, raw net.Conn, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.TCPSendTimeout)
	defer cancel()
	raw, err = s.dialContext(ctx, "tcp", s.d.URL.HostPort())
	if err != nil || s.tlsCfg == nil {
		return raw, raw, err
	}
	tc := tls.Client(raw, s.tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, nil, &tlsHandshakeError{err}
	}
	return tc, raw, nil
}

// discardReads reads and ignores what the endpoint sends (docs/logplex.md §5.5) and
// closes gone when the connection ends.
func discardReads(c net.Conn, gone chan<- struct{}) {
	defer close(gone)
	var b [512]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			return
		}
	}
}

// failed counts a failure and schedules the next connect attempt.
func (s *syslogSender) failed(err error) {
	s.failures++
	s.failTotal.Add(1)
	s.d.Stats.SetError(err)
	now := time.Now()
	delay := s.backoff()
	s.retryAt = now.Add(delay)
	s.log.Warn("syslog drain failed", "err", err, "failures", s.failures, "retry_in", delay)
	if alert, ok := tlsAlertText(err); ok && s.failures >= 2 {
		s.notifyL14(alert)
	}
	s.maybeShrink(now)
}

// backoff is 2^F·base, capped at TCPBackoffMax for every F.
func (s *syslogSender) backoff() time.Duration {
	d := s.base
	for i := 0; i < s.failures && d < s.o.TCPBackoffMax; i++ {
		d *= 2
	}
	return min(d, s.o.TCPBackoffMax)
}

// maybeShrink resizes a full buffer with unreported losses to 10 messages
// (newest kept) once F exceeds TCPShrinkAfter; the next connect restores it.
func (s *syslogSender) maybeShrink(now time.Time) {
	if s.failures <= s.o.TCPShrinkAfter {
		return
	}
	dropped := 0
	s.d.Buf.With(func(r *ringbuf.Ring) {
		if lost, _ := r.Loss(); lost == 0 || r.Len() < r.Cap() || r.Cap() <= syslogShrunkSize {
			return
		}
		n := r.Len()
		r.Resize(syslogShrunkSize, now.UnixNano())
		dropped = n - r.Len()
		s.shrunk = true
	})
	if dropped > 0 {
		s.d.Stats.AddDropped(dropped)
		s.log.Warn("syslog drain buffer shrunk", "size", syslogShrunkSize, "dropped", dropped)
	}
}

// notifyL14 raises Error L14 into the channel's history and tails.
func (s *syslogSender) notifyL14(alert string) {
	if s.o.Notify == nil {
		return
	}
	// The source is the id of the channel's token named "heroku" (spec
	// §3.4), rewritten to its name on the way into history; a channel
	// without one gets the literal name (Logplex crashes there).
	source := "heroku"
	if s.o.TokenNamed != nil {
		if id := s.o.TokenNamed(s.d.Config.ChannelID, "heroku"); id != "" {
			source = id
		}
	}
	msg := frame.AppendL14(nil, s.clock(), s.token, []byte(source), alert, s.d.Config.URL)
	s.o.Notify(s.d.Config.ChannelID, msg)
}

// armCloseTimer sets the idle / max-TTL check: at the last activity plus
// TCPIdleTimeout plus a fuzz of 1..TCPIdleFuzz, or at the end of the
// connection's TTL if that comes first.
func (s *syslogSender) armCloseTimer() {
	now := time.Now()
	fuzz := time.Duration(rand.Int64N(int64(s.o.TCPIdleFuzz))) + 1
	d := s.lastActive().Add(s.o.TCPIdleTimeout + fuzz).Sub(now)
	d = min(d, s.connectedAt.Add(s.o.TCPMaxTTL).Sub(now))
	s.closeTimer.Reset(max(d, 0))
}

func (s *syslogSender) lastActive() time.Time {
	if s.lastGood.After(s.connectedAt) {
		return s.lastGood
	}
	return s.connectedAt
}

func (s *syslogSender) closeTimerFired() {
	now := time.Now()
	switch {
	case now.Sub(s.lastActive()) >= s.o.TCPIdleTimeout:
		s.cleanClose("idle")
		s.d.Buf.Trim()
	case now.Sub(s.connectedAt) >= s.o.TCPMaxTTL:
		s.cleanClose("max ttl")
		s.retryAt = time.Time{} // a busy drain reconnects for its next message (Logplex does)
	default:
		s.armCloseTimer()
	}
}

// cleanClose closes a healthy connection (idle, TTL); the next message
// reconnects at once unless the last good write is under TCPReconnectMin old.
// A TTL close clears that wait again: the connection was busy, and Logplex
// opens the next one for the next message.
func (s *syslogSender) cleanClose(why string) {
	s.closeConn(true)
	s.retryAt = time.Time{}
	if !s.lastGood.IsZero() && time.Since(s.lastGood) < s.o.TCPReconnectMin {
		s.retryAt = time.Now().Add(s.o.TCPReconnectMin)
	}
	s.log.Debug("syslog drain closed", "why", why)
}

// dropConn closes a failed connection and counts the failure.
func (s *syslogSender) dropConn(err error) {
	s.closeConn(false)
	s.failed(err)
}

// closeConn closes the connection; graceful sends TLS close_notify.
func (s *syslogSender) closeConn(graceful bool) {
	s.closeTimer.Stop()
	if graceful {
		s.conn.Close()
	} else {
		s.raw.Close()
	}
	s.conn, s.raw = nil, nil
}

// shutdown writes out the buffer until flushCtx ends, connecting once if
// disconnected, and counts what is left as dropped.
func (s *syslogSender) shutdown(flushCtx context.Context) {
	s.closeTimer.Stop()
	if s.conn == nil && s.held() > 0 && flushCtx.Err() == nil {
		s.connect(flushCtx)
	}
	if s.conn != nil {
		raw := s.raw
		stop := context.AfterFunc(flushCtx, func() { raw.Close() })
		for flushCtx.Err() == nil && s.conn != nil && s.sendBatch() {
		}
		if s.conn != nil {
			s.closeConn(true)
		}
		stop()
	}
	s.d.Buf.Stow(nil, 0) // a disk spill keeps what is left
	s.syncDrops()
	left, loss := 0, 0
	s.d.Buf.With(func(r *ringbuf.Ring) {
		left = r.PopWhile(func([]byte) bool { return true })
		loss, _ = r.TakeLoss() // counted by syncDrops; no L10 will announce it
	})
	if left > 0 {
		s.d.Stats.AddDropped(left)
	}
	s.d.stoppedUnreported(func() *slog.Logger { return s.log }, "syslog", left, loss)
}

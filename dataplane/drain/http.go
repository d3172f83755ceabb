package drain

// HTTP(S) drains (docs/logplex.md §5.2–5.4): one sender goroutine per drain while
// it has something to do (drain.go: it parks whenever its buffer is empty;
// the keep-alive connection stays open for the next run, and its idle
// close kicks the sender to give back its buffers), one request in flight,
// on one keep-alive connection (http_conn.go, http_client.go).
//
//	Buffer ──nextFrame (to_pkts under the buffer lock)──► frame in hand ──send──► endpoint
//	                                                          ▲   │
//	                                  temporary failure: retry └───┘ (same Frame-Id, 1+HTTPFrameRetries tries)
//
// The body of a frame is built once, in raw after httpL10Room reserved bytes;
// before each try the L10 notice (if any loss is pending) is written into
// the room just before the messages, so the body is one contiguous slice
// and the notice carries the time of that try, as Logplex's does.
//
// Accounting (docs/logplex.md §3.4, Appendix A.12): a frame carries the buffer losses
// taken with it (loss) and, in its L10 line, the messages of frames dropped
// earlier (dropped, since dropSince). Success clears dropped; a dropped
// frame adds its messages and its loss to dropped. So every lost message is
// reported exactly once, in the first successful request after the loss.
//
// OTLP drains (otlp.go) are this sender with an otlpEncoder: their buffer
// holds cooked messages, the body is an ExportLogsServiceRequest built on
// each try (the L10 notice is a record of it), and the OTLP/HTTP rules
// decide what is retried and how long to wait.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/ringbuf"
)

const (
	// httpL10Room is reserved before a frame's messages for its L10 frame;
	// the longest one (19-digit count, 4-digit years) is 164 bytes.
	httpL10Room = 256
	// httpShrunkSize is the buffer size of a degraded drain (docs/logplex.md §5.4).
	httpShrunkSize = 10
)

// httpFrame is the frame in hand: msgs formatted messages in raw, sent or
// retried before anything else is taken from the buffer.
type httpFrame struct {
	msgs  int // messages in the body, L10 not counted; 0: no frame
	loss  int // buffer losses taken with this frame, reported in its L10
	tries int // tries left
	id    [32]byte
}

type httpSender struct {
	o      *Options
	d      *Drain
	log    *slog.Logger // made by logger(), at its first use
	conns  *httpConns
	tmpl   *httpRequestTemplate
	coding string     // "", "gzip" or "zstd"
	ans    httpAnswer // the answer to the current try

	raw   []byte // httpL10Room bytes, then the frame's formatted messages; nil while idle
	zbody []byte // the compressed body of the current try
	l10   []byte // scratch: the L10 frame

	fr     httpFrame
	inHand atomic.Int32 // fr.msgs, for Status
	budget int          // target bytes left while a frame is filled
	full   bool         // an oversized message ended the frame being filled
	popFn  func([]byte) bool

	otlp      *otlpEncoder // OTLP drains only
	throttled int          // OTLP: consecutive retryable answers, for the backoff
	skipped   int          // OTLP: messages of the frame that do not parse (go to no drain)

	carry     int       // buffer losses taken while no message could carry their notice
	dropped   int       // messages of dropped frames (and their losses) not reported yet
	dropSince time.Time // when the first of them was dropped

	attempt     int  // reconnect attempts since the last successful connect
	backingOff  bool // reconnectTimer is armed; nothing is sent before it fires
	fresh       bool // the open connection has served no request yet
	failing     bool // the last request or connect failed (for logging transitions)
	lastGood    time.Time
	connectedAt time.Time
	degraded    atomic.Bool

	closeTimer, reconnectTimer lazyTimer
	// closeArmed: closeTimer is armed. It is armed when the sender is about
	// to wait with a connection open, so a drain with sparse traffic, whose
	// sender sends and parks, pays no timer for it.
	closeArmed bool
	stopCut    func() bool // unregisters the flush deadline's cut (context.AfterFunc)
	// batch age (Options.HTTPBatchAge): when the last frame started, and
	// the timer that ends a wait for the next one
	lastFrame  time.Time
	ageTimer   lazyTimer
	ageWaiting bool
	// batch window (Options.HTTPBatchWindow): when the open window closes
	// (zero: none open), whether the sender found its buffer empty since
	// its last request (then a new message opens the window), when that
	// request started, and the timer that closes the window
	winEnd   time.Time
	idle     bool
	lastReq  time.Time
	prevReq  time.Time // when the request before the last started (busyGap)
	winTimer lazyTimer
	winArmed bool
}

// newHTTPSender sets up d's buffer, counters and HTTP client.
func newHTTPSender(o *Options, d *Drain) (sender, error) {
	otlp := d.URL.Kind == config.DrainOTLP
	coding := d.Config.Compression
	switch {
	case otlp && coding == "":
		coding = codingGzip // OTLP drains compress unless told not to
	case coding == "":
		coding = o.DefaultCompression
	}
	s := &httpSender{o: o, d: d}
	switch coding {
	case "", codingGzip, codingZstd:
	case "none":
		coding = ""
	default:
		s.logger().Warn("unknown drain compression; sending uncompressed", "compression", coding)
		coding = ""
	}
	s.coding = coding
	form := FormHTTP
	if otlp {
		s.otlp, form = newOTLPEncoder(d.Config.ChannelID, d.Config.Token), FormCooked
	}
	tmpl, err := newHTTPRequestTemplate(o, d, coding)
	if err != nil {
		return nil, fmt.Errorf("http drain: %w", err)
	}
	s.tmpl = tmpl
	s.conns = &httpConns{dialer: o.newDialer(o.HTTPConnectTimeout), addr: d.URL.HostPort(),
		timeout: o.HTTPConnectTimeout, keep: httpKeepAlive(o), tmpl: tmpl, maxTTL: o.HTTPMaxTTL, h2s: o.h2}
	if d.URL.Scheme == "https" {
		if s.conns.tls, err = httpTLSConfig(o, d.URL); err != nil {
			return nil, fmt.Errorf("http drain: %w", err)
		}
	}
	s.conns.h2k, s.conns.useH2 = o.h2.key(s.conns.addr, s.conns.tls)
	s.popFn = s.popOne
	if otlp {
		s.popFn = s.popOTLP
	}
	s.lastGood = d.memo.lastGood
	if d.o == nil { // Manager.start sets them; tests may not
		d.o = o
	}
	if d.Buf == nil {
		d.Buf = NewBuffer(o.HTTPBufferSize, form)
		d.Buf.bud = o.bud
	}
	if d.Stats == nil {
		d.Stats = newStats(d.Config.ID, TypeName(d.URL.Kind), d.Buf)
	}
	s.conns.onClose = d.Buf.kick // a closed idle connection: the sender gives its buffers back
	return s, nil
}

// checkHTTPDrain reports what would keep newHTTPSender from making u's
// sender.
func checkHTTPDrain(o *Options, u *config.DrainURL) error {
	if _, err := httpRequestURI(u); err != nil {
		return err
	}
	if u.Scheme == "https" {
		_, err := httpTLSConfig(o, u)
		return err
	}
	return nil
}

// run delivers until the drain is idle (nothing buffered or in hand, no
// backoff pending; a busy drain's connection closed too), then parks; or
// until ctx ends, then flushes until the buffer is empty or flushCtx ends
// (which also cuts short a request in flight).
func (s *httpSender) run(ctx, flushCtx context.Context) (parked bool) {
	if s.stopCut == nil { // the first run
		s.stopCut = context.AfterFunc(flushCtx, func() { s.conns.closeAll(true) })
		setStatusSource(s.d, s)
	} else if s.conns.connected() && time.Since(s.connectedAt) > s.o.HTTPMaxTTL { // parked on an open connection
		s.closeConn()
	}
	flushing := false
	for {
		if !flushing && ctx.Err() != nil {
			flushing = true
		}
		if flushCtx.Err() != nil || (flushing && s.fr.msgs == 0 && s.buffered() == 0) {
			s.finish()
			return false
		}
		if s.step(flushCtx, flushing) {
			continue
		}
		// Between two requests of a busy drain the sender waits for the
		// next push (parking would cost a goroutine per request); its
		// connection's idle close parks it later.
		if open := s.conns.connected(); !flushing && s.parkable() && (!open || !s.busy()) {
			s.quiesce(!open)
			drop := !open && s.clean()
			if drop {
				s.d.memo = senderMemo{lastGood: s.lastGood}
			}
			if s.d.Buf.park(!open, drop) {
				if drop {
					s.letGo()
				}
				return true // the next push (or a kick) runs the sender again
			}
		}
		done := ctx.Done()
		if flushing {
			done = flushCtx.Done()
		}
		if !s.closeArmed && s.conns.connected() {
			s.armCloseTimer()
		}
		select {
		case <-done:
		case <-s.d.Buf.Wake():
		case <-s.closeTimer.C():
			s.closeArmed = false
			s.onCloseTimer()
		case <-s.reconnectTimer.C():
			s.backingOff = false
		case <-s.ageTimer.C():
			s.ageWaiting = false
		case <-s.winTimer.C():
			s.winArmed = false
		}
	}
}

// logger is the sender's logger, made at its first use: a drain that never
// fails does not log, and the logger's attributes cost ~0.2 KiB a drain.
// Only the constructor and the sender's goroutine call it.
func (s *httpSender) logger() *slog.Logger {
	if s.log == nil {
		s.log = s.o.Logger.With("drain_id", s.d.Config.ID, "channel_id", s.d.Config.ChannelID)
	}
	return s.log
}

// parkable reports whether the sender has nothing to do until a message
// arrives: nothing in hand or buffered, no backoff to wait out. A drain
// with sparse traffic (not busy) then parks at once, leaving its open
// connection to its idle close (httpKeepAlive: past the idle timeout and
// its fuzz, within httpMaxKeepAlive), which kicks the sender; the max TTL is
// checked when the sender runs again. A busy one parks once its
// connection has closed.
func (s *httpSender) parkable() bool {
	return s.fr.msgs == 0 && !s.backingOff && s.buffered() == 0
}

// clean reports whether the sender holds nothing the drain's memo does
// not keep: no frame, loss or dropped frame to report, no failure, backoff
// or degraded buffer. A clean sender that parks disconnected is let go.
func (s *httpSender) clean() bool {
	return s.fr.msgs == 0 && s.carry == 0 && s.dropped == 0 && s.skipped == 0 && !s.failing &&
		!s.backingOff && s.attempt == 0 && s.throttled == 0 && !s.degraded.Load()
}

// letGo releases what a sender let go still holds, once the drain has
// dropped it (a new sender may already run).
func (s *httpSender) letGo() {
	statusSources.CompareAndDelete(s.d, s)
	s.stopCut()
	s.conns.closeAll(false)
}

// busy reports whether the drain's last two requests started less than
// busyGap apart (a drain with sparse traffic parks after each request).
func (s *httpSender) busy() bool {
	return !s.prevReq.IsZero() && s.lastReq.Sub(s.prevReq) < max(busyGap, sparseWindows*s.o.HTTPBatchWindow)
}

// busyGap: a drain whose requests start less than this apart (or than
// sparseWindows batch windows) keeps its goroutine between them while its
// connection is open.
const busyGap = 100 * time.Millisecond

// quiesce closes the batch window and stops the timers, so that a parked
// drain has no timer; with release (no connection open: the drain is
// idle, not between two batches) it also gives back what the sender holds
// beyond its state: the body buffers, the request's and response's, the
// OTLP encoder's.
func (s *httpSender) quiesce(release bool) {
	s.closeWindow()
	s.stopCloseTimer()
	s.ageTimer.Stop()
	s.ageWaiting = false
	if !release {
		return
	}
	s.raw, s.zbody, s.l10 = nil, nil, nil
	s.conns.release()
	if s.otlp != nil {
		s.otlp.release()
	}
	s.ans = httpAnswer{}
}

// step makes progress if it can: connect, take a frame, send it. It
// returns false when there is nothing to do before an event.
func (s *httpSender) step(ctx context.Context, flushing bool) bool {
	if s.backingOff {
		return false
	}
	if s.fr.msgs == 0 && s.buffered() == 0 {
		s.idle = true
		return false
	}
	if s.fr.msgs == 0 && !flushing && (s.waitWindow() || s.waitBatchAge()) {
		return false
	}
	if flushing {
		s.closeWindow() // a stopping drain sends what it holds at once
	}
	if !s.conns.connected() {
		if err := s.conns.connect(ctx); err != nil {
			s.fail(err)
			return true
		}
		s.onConnect(time.Now())
	}
	if s.fr.msgs == 0 && !s.nextFrame() {
		return true // only undeliverable messages were buffered
	}
	s.send(ctx)
	return true
}

// waitBatchAge reports whether the next frame must wait for the batch age
// (Options.HTTPBatchAge) and arms the timer that ends the wait. A frame
// starts at once when the age has passed since the previous one started or
// when the target bytes are buffered; waking up early re-checks.
func (s *httpSender) waitBatchAge() bool {
	age := s.o.HTTPBatchAge
	if age <= 0 {
		return false
	}
	now := time.Now()
	wait := s.lastFrame.Add(age).Sub(now)
	if wait <= 0 || s.d.Buf.Size() >= s.o.HTTPTargetBytes {
		s.lastFrame = now
		return false
	}
	if !s.ageWaiting {
		s.ageWaiting = true
		s.ageTimer.Reset(wait)
	}
	return true
}

// waitWindow reports whether the next frame waits for the batch window
// (Options.HTTPBatchWindow) and, while it does, hushes the buffer and arms
// the timer that closes the window. The window opens when a message finds
// the sender idle, or, for messages that gathered while a request was in
// flight, when that request started; it closes early once the target bytes
// or half the buffer are buffered. A drain whose last request started more
// than sparseWindows windows ago opens the sparse window
// (Options.HTTPSparseWindow), by default none: its message goes at once.
func (s *httpSender) waitWindow() bool {
	w := s.o.HTTPBatchWindow
	if w <= 0 {
		return false
	}
	now := time.Now()
	if s.winEnd.IsZero() {
		end, ok := windowEnd(w, s.o.HTTPSparseWindow, s.lastReq, s.idle, now)
		if !ok {
			return false // sparse traffic: a lone message goes at once
		}
		s.winEnd = end
	}
	wait := s.winEnd.Sub(now)
	if wait <= 0 || s.d.Buf.Hush(s.o.HTTPTargetBytes) {
		s.closeWindow()
		return false
	}
	if !s.winArmed {
		s.winArmed = true
		s.winTimer.Reset(wait)
	}
	return true
}

// closeWindow ends the batch window: pushes wake the sender again.
func (s *httpSender) closeWindow() {
	if s.winEnd.IsZero() {
		return
	}
	s.winEnd, s.idle = time.Time{}, false
	s.d.Buf.Hush(0)
	if s.winArmed {
		s.winTimer.Stop()
		s.winArmed = false
	}
}

func (s *httpSender) buffered() int {
	_, _, n := s.d.Buf.Stats()
	return n
}

// nextFrame takes the next frame out of the buffer (to_pkts, docs/logplex.md §5.3):
// messages while the target bytes are not reached, an oversized one
// anyway, and the buffer's pending loss. It reports whether the frame
// holds any message.
func (s *httpSender) nextFrame() bool {
	if s.otlp != nil {
		s.otlp.reset(time.Now())
	} else {
		if s.raw == nil {
			s.raw = make([]byte, httpL10Room, httpL10Room+512) // grows to the frames sent
		}
		s.raw = s.raw[:httpL10Room]
	}
	s.budget, s.full = s.o.HTTPTargetBytes, false
	var loss int
	s.d.Buf.Take(func(r *ringbuf.Ring) {
		loss, _ = r.TakeLoss() // Logplex reports buffer loss "since now" (Appendix A.12)
		// while the node is over its budget for drain buffers (budget.go)
		// a frame holds no more than the buffer may: the body buffers that
		// earlier frames grew are given back
		if m := r.MaxBytes(); m > 0 {
			if cap(s.raw) > httpL10Room+2*m {
				s.raw = make([]byte, httpL10Room, httpL10Room+m)
			}
			if cap(s.zbody) > 2*m {
				s.zbody = nil
			}
		}
		r.PopWhile(s.popFn)
	})
	if s.skipped > 0 {
		s.d.Stats.AddDropped(s.skipped) // not reported: Logplex's drains never deliver them
		s.skipped = 0
	}
	if loss > 0 {
		s.d.Stats.AddDropped(loss)
		s.carry += loss
	}
	if s.fr.msgs == 0 {
		return false
	}
	s.fr.loss, s.carry = s.carry, 0
	s.fr.tries = s.o.HTTPFrameRetries + 1
	s.fr.id = newHTTPFrameID()
	s.inHand.Store(int32(s.fr.msgs))
	return true
}

// popOne adds one message, an HTTP drain frame formatted by the router
// (FormHTTP), to the frame being filled; it returns false, leaving it in
// the buffer, when it belongs to the next frame. (Messages the drain parser
// rejects never got here: docs/logplex.md §3.1 step 5.)
func (s *httpSender) popOne(msg []byte) bool {
	if s.full {
		return false
	}
	switch size := len(msg); {
	case s.budget-size > 0:
		s.budget -= size
	case size >= s.o.HTTPTargetBytes: // "this message is a pig, so send it anyway"
		s.full = true
	default:
		return false
	}
	s.raw = append(s.raw, msg...)
	s.fr.msgs++
	return true
}

// body returns the request body of this try and its message count: the
// L10 frame, if a loss is pending, then the messages; compressed if the
// drain is.
func (s *httpSender) body(now time.Time) ([]byte, int) {
	if s.otlp != nil {
		return s.otlpBody(now)
	}
	start, count := httpL10Room, s.fr.msgs
	if n := s.dropped + s.fr.loss; n > 0 {
		since := now
		if s.dropped > 0 {
			since = s.dropSince
		}
		s.l10 = frame.AppendL10HTTP(s.l10[:0], now, n, since)
		start -= len(s.l10)
		copy(s.raw[start:], s.l10)
		count++
	}
	body := s.raw[start:]
	if s.coding != "" {
		s.zbody = appendCompressed(s.zbody[:0], body, s.coding)
		body = s.zbody
	}
	return body, count
}

// httpRefusedRetries bounds the requests refused by shared HTTP/2
// connections (never processed) that one try makes again at once.
const httpRefusedRetries = 3

// send makes one try of the frame in hand and acts on the outcome. A try
// that finds its reused connection closed by the server (nothing of an
// answer read) goes once more on a fresh connection; one refused by a
// shared HTTP/2 connection, or that found the drain's connection gone
// before it was sent (a shared one that closed after the sender saw it
// open), up to httpRefusedRetries more times.
func (s *httpSender) send(ctx context.Context) {
	start := time.Now()
	s.prevReq, s.lastReq, s.idle = s.lastReq, start, false
	body, count := s.body(start)
	reused := !s.fresh
	s.fresh = false
	deadline := start.Add(s.o.HTTPRequestTimeout)
	err := s.conns.exchange(count, s.fr.id[:], body, deadline, s.otlp != nil, &s.ans)
	// A reused connection found closed goes once more on a fresh one; a
	// request a shared HTTP/2 connection refused (GOAWAY, a closing
	// connection: not processed) or never sent goes again up to
	// httpRefusedRetries times.
	for again := 0; err != nil && !s.ans.got && again < httpRefusedRetries &&
		(errors.Is(err, errH2Refused) || errors.Is(err, errHTTPNotConnected) ||
			again == 0 && reused && httpStaleConnErr(err)); again++ {
		if err = s.conns.connect(ctx); err == nil {
			s.onConnect(time.Now())
			s.fresh = false
			err = s.conns.exchange(count, s.fr.id[:], body, deadline, s.otlp != nil, &s.ans)
		}
	}
	end := time.Now()
	st := s.d.Stats
	st.ObserveLatency(end.Sub(start))
	st.AddBytes(len(body))
	if s.fr.tries <= s.o.HTTPFrameRetries {
		st.AddRetry()
	}
	status := 0
	if err == nil {
		status = s.ans.status
	}
	if s.otlp != nil {
		s.otlpOutcome(status, err, end)
		return
	}
	switch {
	case status >= 200 && status < 300:
		s.delivered(end)
	case status >= 400 && status < 500 && status != 429:
		st.SetError(fmt.Errorf("POST answered %d: frame of %d messages dropped", status, s.fr.msgs))
		s.dropFrame(end)
	default:
		if status != 0 {
			err = fmt.Errorf("POST answered %d", status)
		}
		s.retryFrame(end)
		s.fail(fmt.Errorf("POST: %w", err))
	}
}

// delivered accounts the frame in hand as accepted.
func (s *httpSender) delivered(now time.Time) {
	s.d.Buf.Settle()
	s.d.Stats.AddDelivered(s.fr.msgs)
	s.fr.msgs = 0
	s.inHand.Store(0)
	s.dropped, s.dropSince = 0, time.Time{} // reported in this frame's L10
	s.lastGood, s.throttled = now, 0
	if s.degraded.Load() {
		s.d.Buf.restore(now.UnixNano())
		s.degraded.Store(false)
	}
	if s.failing {
		s.failing = false
		s.logger().Info("http drain delivering again")
	}
}

// dropFrame gives the frame in hand up; its messages and the losses it
// carried are reported by the next delivered frame.
func (s *httpSender) dropFrame(now time.Time) {
	if n := s.fr.msgs + s.fr.loss; n > 0 {
		if s.dropped == 0 {
			s.dropSince = now
		}
		s.dropped += n
	}
	s.d.Stats.AddDropped(s.fr.msgs)
	s.d.Buf.Settle()
	s.fr.msgs = 0
	s.inHand.Store(0)
}

// retryFrame keeps the frame in hand for another try, or drops it when it
// has none left; a drain with a disk spill keeps it until it is delivered
// or refused (the spill takes the overflow meanwhile).
func (s *httpSender) retryFrame(now time.Time) {
	if s.fr.tries >= 2 || s.d.Buf.Spills() {
		s.fr.tries--
		return
	}
	s.dropFrame(now)
}

// fail handles a temporary failure (connect error, send error, timeout or
// a status other than 2xx and 4xx-but-429): close the connection, maybe
// shrink the buffer, schedule the reconnect.
func (s *httpSender) fail(err error) {
	if !s.failing {
		s.failing = true
		s.logger().Warn("http drain failing", "err", err)
	}
	s.closeConn()
	s.maybeShrink(time.Now())
	s.d.Stats.SetError(err)
	if d := s.backoff(); d > 0 {
		s.backingOff = true
		s.reconnectTimer.Reset(d)
	}
}

// backoff returns the delay before the next connect: HTTPReconnectTime ×
// trunc((2^k − 1) / 2) with k uniform in 1..min(n, HTTPMaxRetries), 0 for
// n = 0; then n grows.
func (s *httpSender) backoff() time.Duration {
	n := s.attempt
	s.attempt++
	if n == 0 {
		return 0
	}
	k := 1 + rand.IntN(max(1, min(n, s.o.HTTPMaxRetries, 40)))
	return s.o.HTTPReconnectTime * time.Duration((int64(1)<<k-1)/2)
}

// maybeShrink degrades a drain that has never delivered, and shrinks the
// buffer of one whose last success is older than the shrink timeout.
func (s *httpSender) maybeShrink(now time.Time) {
	if s.lastGood.IsZero() {
		s.degraded.Store(true)
		return
	}
	if !s.degraded.Load() && now.Sub(s.lastGood) > max(s.o.HTTPIdleFuzz, s.o.HTTPShrinkTimeout) {
		s.resize(httpShrunkSize, now)
		s.degraded.Store(true)
		s.logger().Info("http drain degraded: buffer shrunk", "size", httpShrunkSize)
	}
}

func (s *httpSender) resize(n int, now time.Time) {
	s.d.Buf.With(func(r *ringbuf.Ring) { r.Resize(n, now.UnixNano()) })
}

func (s *httpSender) onConnect(now time.Time) {
	s.connectedAt, s.attempt, s.fresh = now, 0, true
}

// armCloseTimer arms the idle and max-TTL check (onCloseTimer).
func (s *httpSender) armCloseTimer() {
	fuzz := s.o.HTTPIdleFuzz
	if ms := int64(fuzz / time.Millisecond); ms > 0 {
		fuzz = time.Duration(1+rand.Int64N(ms)) * time.Millisecond
	}
	s.closeTimer.Reset(s.o.HTTPIdleTimeout + fuzz)
	s.closeArmed = true
}

func (s *httpSender) stopCloseTimer() {
	s.closeTimer.Stop()
	s.closeArmed = false
}

// onCloseTimer closes a connection that has delivered nothing for the idle
// timeout (since the last success, or since connecting if there was none)
// or that is older than the max TTL; otherwise it re-arms.
func (s *httpSender) onCloseTimer() {
	if !s.conns.connected() {
		return
	}
	now := time.Now()
	ref := s.lastGood
	if ref.IsZero() {
		ref = s.connectedAt
	}
	if now.Sub(ref) > s.o.HTTPIdleTimeout {
		s.closeConn()
		if s.fr.msgs == 0 {
			s.raw, s.zbody = nil, nil // an idle drain holds no body buffers
			if s.otlp != nil {
				s.otlp.release()
			}
		}
		s.d.Buf.Trim()
		return
	}
	if now.Sub(s.connectedAt) > s.o.HTTPMaxTTL {
		s.closeConn()
		return
	}
	s.armCloseTimer()
}

func (s *httpSender) closeConn() {
	s.stopCloseTimer()
	s.conns.closeAll(false)
}

// finish releases the connection and counts what is left undelivered as
// dropped.
func (s *httpSender) finish() {
	s.stopCut()
	clearStatusSource(s.d)
	s.stopCloseTimer()
	s.reconnectTimer.Stop()
	s.ageTimer.Stop()
	s.closeWindow()
	s.conns.closeAll(true)
	var inHand []byte
	if s.fr.msgs > 0 && s.otlp == nil {
		inHand = s.raw[httpL10Room:]
	}
	// a spill keeps what it can; pending is the ring's overflow that no
	// frame took
	lost, pending := s.fr.msgs-s.d.Buf.Stow(inHand, s.fr.msgs), 0
	s.d.Buf.With(func(r *ringbuf.Ring) {
		pending, _ = r.TakeLoss()
		lost += r.Len()
	})
	if lost+pending > 0 {
		s.d.Stats.AddDropped(lost + pending) // a frame counts the ring's loss as it takes it
	}
	// What no L10 notice will announce besides the loss just counted:
	// frames dropped earlier and buffer losses still waiting for a frame
	// to carry them (the ring's, that of the frame in hand).
	earlier := s.dropped + s.carry + pending
	if s.fr.msgs > 0 {
		earlier += s.fr.loss
	}
	s.d.stoppedUnreported(s.logger, "http", lost, earlier)
	s.fr.msgs = 0
	s.inHand.Store(0)
}

// fillStatus adds the sender's view to st (statusSource).
func (s *httpSender) fillStatus(st *DrainStatus) {
	st.Connected = s.conns.connected()
	st.Degraded = s.degraded.Load()
	st.Buffered += int(s.inHand.Load())
}

// Package drain delivers a channel's messages to its drains: one Drain per
// configured drain URL on this node, each with a bounded drop-oldest buffer
// (docs/logplex.md §5.3) and one sender goroutine — HTTP(S) batches (http.go) or
// octet-counted syslog over TCP/TLS (syslog.go) or OTLP/HTTP log exports
// (otlp.go, an extension). The Manager starts, restarts
// and stops Drains to match each config snapshot, and gives the router a
// lock-free channel → drains table.
//
//	route.Batch.Flush ──PushBatch (one lock per drain per batch)──► Buffer ──► sender goroutine ──► endpoint
//
// A drain costs nothing while it has no traffic: its sender goroutine runs
// only while there is something to do. The push that finds the drain
// parked (no goroutine) starts one, a flag flip under the lock the push
// already holds; the sender parks again once its buffer is empty (a syslog
// sender once its connection is closed too; an HTTP sender with sparse
// traffic leaves an open connection to its idle close, a timer whose close
// kicks it to release its buffers), with no timer armed. The sender's state
// (and its metric series) are made by its first run, so a drain configured
// but never used holds only its Buffer, Stats and config; a sender that
// parks disconnected with nothing to report is let go, and the next
// message makes a new one (senderMemo is what it must remember). Nor do
// the status reports look at an idle drain: the manager lists only the
// drains that may have changed (changes.go, Manager.EachChanged).
//
//	parked ──push, kick──► running ──buffer empty (syslog: and disconnected): park──► parked
//	   └──────────── stop ──────────┴──► closed (flushes what it holds)
//
// What a drain's buffer holds is its Form: an HTTP drain holds its messages
// as HTTP drain frames, formatted once by the router while it reads them
// (frame.AppendHTTPDrainHead), so its sender only copies them into a POST
// body; a syslog drain holds cooked syslog (token already rewritten) and its
// sender formats each with the drain's own token (AppendSyslogDrain); an
// OTLP drain holds cooked syslog too and encodes each as a log record.
//
// drain imports frame, ringbuf, config, fasthttp (only its URI parser: a
// drain's request-URI is what fasthttp would send; the requests themselves
// are http_client.go's), klauspost/compress and protowire
// (google.golang.org/protobuf/encoding/protowire: the OTLP payload is
// appended with it; nothing else of that module is linked).
package drain

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/internal/membudget"
	"github.com/logplex/logplex/ringbuf"
)

// Span is one message in a shared batch buffer: buf[Off:End].
type Span = ringbuf.Span

// Form is what a drain's buffer holds.
type Form uint8

const (
	// FormCooked: cooked syslog messages, as history stores them.
	FormCooked Form = iota
	// FormHTTP: HTTP drain frames (frame.AppendHTTPDrain), ready for a body.
	FormHTTP
)

// AppendForm appends the cooked message msg in form f; ok is false (dst
// unchanged) when a drain of that form delivers no such message (it does
// not parse). The router formats in one pass instead (route.Batch); this is
// for the rare producer that holds a cooked message. It may allocate.
func AppendForm(dst, msg []byte, f Form) ([]byte, bool) {
	if f == FormHTTP {
		var h frame.Head
		if !h.Read(msg) {
			return dst, false
		}
		var scratch []byte
		return frame.AppendHTTPDrainHead(dst, &scratch, msg, &h, msg[h.Start:h.End])
	}
	return append(dst, msg...), true
}

// Buffer is a drain's bounded message buffer: producers push batches under a
// short lock and wake the sender; the sender takes messages out under the
// same lock. Dropping the oldest on overflow is counted (Loss) for the L10
// notice.
type Buffer struct {
	mu   sync.Mutex
	form Form
	ring *ringbuf.Ring
	wake chan struct{} // capacity 1: "there is something to send"
	// drops counts messages displaced on overflow, for metrics (the ring's
	// loss counter is reset when a notice reports it).
	drops  uint64
	pushed uint64
	// hush, while positive, keeps pushes from waking the sender until the
	// buffer holds this many message bytes or half its capacity in
	// messages (a sender holding a batch window open, Hush).
	hush int
	// state is the sender's lifecycle (senderNone for a buffer whose
	// reader runs on its own); d is the drain whose sender a push starts.
	state senderState
	d     *Drain
	sp    *bufSpill // the drain's disk spill (spill.go); nil: none
	// size is the ring's capacity when it is not shrunk (a failing
	// drain's is): the node's setting, at most spillRingCap with a spill.
	size int
	// bud is the node's budget for drain buffers (budget.go; nil: none),
	// acct the ring's footprint as the budget last counted it.
	bud  *membudget.Budget
	acct int
}

// senderState is where a drain's sender goroutine is; under Buffer.mu.
type senderState uint8

const (
	senderNone    senderState = iota // no lifecycle: the reader runs on its own
	senderParked                     // no goroutine: the next push starts one
	senderRunning                    // a sender goroutine runs
	senderClosed                     // the drain is stopping: pushes start nothing
)

// NewBuffer returns a buffer of size messages in form f.
func NewBuffer(size int, f Form) *Buffer {
	return &Buffer{form: f, ring: ringbuf.NewRing(size), size: max(size, 1), wake: make(chan struct{}, 1)}
}

// restore gives a shrunk ring back its capacity (size).
func (b *Buffer) restore(now int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ring.Resize(b.size, now)
}

// Form is what the buffer holds; producers push messages in this form.
func (b *Buffer) Form() Form { return b.form }

// PushBatch copies the spans of buf in, in order, dropping the oldest when
// full. The messages are in the buffer's Form. buf is only read during the
// call.
func (b *Buffer) PushBatch(buf []byte, spans []Span, now int64) {
	b.mu.Lock()
	b.pushed += uint64(len(spans))
	if b.sp != nil { // a drain that spills to disk while it spills (spill.go)
		spans = spans[b.sp.push(buf, spans, now):]
	}
	if b.bud != nil {
		b.bound(now)
	}
	for i := range spans {
		b.drops += uint64(b.ring.PushRun(buf, spans[i:i+1], now))
	}
	b.account()
	wake := b.hush <= 0 || b.filled()
	start := b.state == senderParked && b.run()
	b.mu.Unlock()
	if start {
		go b.d.loop()
	} else if wake {
		b.signal()
	}
}

// run marks a parked sender running, for the caller to start its goroutine
// once it has released mu; under mu. It reports true.
func (b *Buffer) run() bool {
	b.state = senderRunning
	b.d.wg.Add(1)
	return true
}

// park ends the running sender goroutine's turn if the buffer is empty
// (with trim, its bytes are given back): the next push, or kick, starts a
// new goroutine (a loss still pending is reported with that push's
// messages, as it would have been). It reports false, and the sender goes
// on, when there is something to send or the drain is stopping. The sender
// must not touch its state once park reported true.
//
// With drop, the drain lets its sender go (Drain.s = nil): the next run
// makes a new one from Drain.memo, which the sender filled before.
func (b *Buffer) park(trim, drop bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != senderRunning || b.ring.Len() > 0 || (b.sp != nil && b.sp.held() > 0) {
		return false
	}
	if trim {
		b.ring.Trim()
		b.account()
	}
	if drop {
		b.d.s = nil
	}
	b.hush = 0
	b.state = senderParked
	return true
}

// kick wakes the sender for an event other than a push (its connection
// closed), starting it if it is parked.
func (b *Buffer) kick() {
	b.mu.Lock()
	start := b.state == senderParked && b.run()
	b.mu.Unlock()
	if start {
		go b.d.loop()
	} else {
		b.signal()
	}
}

// close makes later pushes start no sender and reports whether a sender
// goroutine runs (the caller then waits for it).
func (b *Buffer) close() (running bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	running = b.state == senderRunning
	b.state = senderClosed
	return running
}

// filled reports whether the buffer holds the hush bytes or half its
// capacity in messages; under mu.
func (b *Buffer) filled() bool {
	return b.ring.Size() >= b.hush || 2*b.ring.Len() >= b.ring.Cap() || (b.sp != nil && b.sp.held() > 0)
}

// Hush makes pushes wake the sender only once the buffer holds bytes
// message bytes or half its capacity in messages; 0 ends it (every push
// wakes). It reports whether the buffer already holds that much. A sender
// holding a batch window open hushes the buffer so that a trickle of
// messages does not wake it once per push.
func (b *Buffer) Hush(bytes int) bool {
	b.mu.Lock()
	b.hush = bytes
	full := bytes > 0 && b.filled()
	b.mu.Unlock()
	return full
}

// signal wakes the sender if it waits (capacity 1: never blocks).
func (b *Buffer) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// PushRun is PushBatch for spans that lie back to back in run (each
// starting where the one before ends): one copy for all of them.
func (b *Buffer) PushRun(run []byte, spans []Span, now int64) {
	b.mu.Lock()
	b.pushed += uint64(len(spans))
	if b.sp != nil {
		spans = spans[b.sp.push(run, spans, now):]
	}
	if b.bud != nil {
		b.bound(now)
	}
	b.drops += uint64(b.ring.PushRun(run, spans, now))
	b.account()
	wake := b.hush <= 0 || b.filled()
	start := b.state == senderParked && b.run()
	b.mu.Unlock()
	if start {
		go b.d.loop()
	} else if wake {
		b.signal()
	}
}

// Push copies one cooked message in, in the buffer's Form (used by tests;
// it allocates). A message the form cannot hold is not pushed.
func (b *Buffer) Push(msg []byte, now int64) {
	if m, ok := AppendForm(nil, msg, b.form); ok {
		b.PushBatch(m, []Span{{Off: 0, End: uint32(len(m))}}, now)
	}
}

// Trim releases the byte buffer of an empty buffer (an idle drain).
func (b *Buffer) Trim() {
	b.mu.Lock()
	b.ring.Trim()
	b.account()
	b.mu.Unlock()
}

// Wake is signalled (capacity 1) whenever messages were pushed.
func (b *Buffer) Wake() <-chan struct{} { return b.wake }

// With runs fn with the ring under the buffer's lock; fn must not block.
func (b *Buffer) With(fn func(r *ringbuf.Ring)) {
	b.mu.Lock()
	fn(b.ring)
	b.account()
	b.mu.Unlock()
}

// Take runs fn with the ring the sender takes its next messages from,
// under the buffer's lock: the buffer's ring, or, while the drain's disk
// spill holds messages (older than the ring's), the spill's front. What fn
// takes from the spill is consumed there at the next Take (its frame was
// settled by then) or by Stow.
func (b *Buffer) Take(fn func(r *ringbuf.Ring)) {
	if b.sp == nil {
		b.With(fn)
		return
	}
	b.sp.take(fn)
}

// Settle tells the buffer that the messages of the last Take were
// delivered or dropped: the spill consumes them (the next Take would).
func (b *Buffer) Settle() {
	if b.sp != nil {
		b.sp.settle()
	}
}

// Spills reports whether the buffer overflows to disk: a sender then keeps
// a frame that fails for a temporary reason rather than dropping it.
func (b *Buffer) Spills() bool { return b.sp != nil && b.sp.on }

// Retake puts back the messages the last Take gave from the spill (a
// write that failed: they are taken again next time); false when the
// last Take gave none from the spill.
func (b *Buffer) Retake() bool { return b.sp != nil && b.sp.retake() }

// Stow is called by a stopping sender before it counts what is left: with
// a spill, the ring's messages go to disk, and so does the frame in hand
// (n messages; inHand holds them as FormHTTP frames back to back, or is
// nil). It returns how many of the n are kept on disk (not lost).
func (b *Buffer) Stow(inHand []byte, n int) int {
	if b.sp == nil {
		return 0
	}
	return b.sp.stow(inHand, n)
}

// Size returns the message bytes held now.
func (b *Buffer) Size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ring.Size()
}

// Stats returns messages pushed, dropped on overflow so far, and held now.
func (b *Buffer) Stats() (pushed, dropped uint64, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held = b.ring.Len()
	if b.sp != nil {
		held += b.sp.held()
	}
	return b.pushed, b.drops, held
}

// sender is the goroutine body of one drain kind. run delivers from buf
// until the drain is idle, then parks the buffer (Buffer.park) and returns
// true; or until ctx ends: then it flushes what it can before flushCtx ends,
// releases everything and returns false. A parked sender keeps its state
// for the next run, which the next push starts on a new goroutine, unless
// the drain let it go (Buffer.park with drop).
type sender interface {
	run(ctx, flushCtx context.Context) (parked bool)
}

// Drain is one running drain on this node.
type Drain struct {
	Config *config.Drain
	URL    *config.DrainURL
	Buf    *Buffer
	Stats  *Stats // counters; the series are registered by the sender's first run

	o *Options
	// s is the sender, made by its first run (nil until the drain's first
	// message, and again once an idle sender with nothing to remember but
	// memo was let go). The goroutine running it owns it, and memo; between
	// runs Buf.mu hands them over (park, then the push that starts the
	// next run).
	s        sender
	memo     senderMemo
	made     func(sender)   // tests: called with each sender a run makes
	ctx      stopCtx        // delivery; its stop starts the final flush
	flushCtx stopCtx        // the final flush
	wg       sync.WaitGroup // the sender goroutine, while one runs

	// changes is the manager's list of drains that may have changed
	// (changes.go; nil outside a Manager), touched whether d is on it,
	// and stopped whether stop began (EachChanged skips d then).
	changes *changeList
	touched atomic.Bool
	stopped atomic.Bool

	// unreported counts the messages its stop gave up on, or that were
	// dropped before it and still awaited their L10 notice: neither
	// delivered nor announced to the receiver (Manager.Close adds them up).
	unreported atomic.Int64
}

// stoppedUnreported records, once the final flush is over, the messages
// the stop dropped (dropped) and those dropped before it whose L10 notice
// never went (earlier), and logs them if there are any; log is called only
// then (an HTTP sender makes its logger at its first use).
func (d *Drain) stoppedUnreported(log func() *slog.Logger, kind string, dropped, earlier int) {
	n := dropped + earlier
	if n <= 0 {
		return
	}
	d.unreported.Add(int64(n))
	log().Warn(kind+" drain stopped with undelivered messages", "dropped", dropped, "unreported_earlier", earlier)
}

// senderMemo is what a drain keeps of a sender it let go, for the next.
type senderMemo struct {
	lastGood  time.Time // the end of the last delivery
	seenDrops uint64    // syslog: the buffer's overflow drops already counted
}

// begin sets the drain up parked, with sender s or (nil) one made by its
// first run (newSender); d.Buf and d.Stats are set. The first push starts
// the sender (at once if messages were pushed before).
func (d *Drain) begin(s sender) {
	d.s = s
	b := d.Buf
	b.mu.Lock()
	b.d, b.state = d, senderParked
	start := b.ring.Len() > 0 && b.run()
	b.mu.Unlock()
	if start {
		go d.loop()
	}
}

// loop is one run of the sender goroutine, started by the push that found
// it parked.
func (d *Drain) loop() {
	defer d.wg.Done()
	d.touch() // a run changes the drain's status
	if d.s == nil {
		s, err := newSender(d.o, d)
		if err != nil { // checkSender passed when the drain started: not expected
			d.o.Logger.Warn("drain sender not started; its messages are dropped", "drain_id", d.Config.ID, "err", err)
			d.discard()
			return
		}
		d.s = s
		if d.made != nil {
			d.made(s)
		}
	}
	d.Stats.register()
	d.s.run(&d.ctx, &d.flushCtx)
}

// discard closes the buffer of a drain whose sender cannot be made and
// counts what it holds as dropped.
func (d *Drain) discard() {
	lost := 0
	d.Buf.With(func(r *ringbuf.Ring) {
		n, _ := r.TakeLoss()
		lost = n + r.PopWhile(func([]byte) bool { return true })
	})
	d.Buf.close()
	d.Stats.AddDropped(lost)
}

// stop ends delivery, lets the sender flush for at most grace, and waits.
// A parked sender runs once more, on this goroutine, to release what it
// holds.
func (d *Drain) stop(grace time.Duration) {
	d.stopped.Store(true)
	running := d.Buf.close()
	d.ctx.stop()
	if running || d.s != nil {
		t := time.AfterFunc(grace, d.flushCtx.stop)
		if running {
			d.wg.Wait()
		} else {
			d.s.run(&d.ctx, &d.flushCtx)
		}
		t.Stop()
	}
	d.flushCtx.stop()
	d.Buf.release()
	if d.Stats != nil {
		d.Stats.remove()
	}
}

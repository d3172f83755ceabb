package drain

// Disk spill (an extension, issue 19; docs/operations.md "Disk spill"): a
// drain whose buffer is "disk" (its "buffer" field, or every drain with
// SpillOptions.All) does not drop the oldest messages when its ring is
// full: the ring hands them to its spill (ringbuf.Overflow), and they are
// delivered, in order and before anything newer, once the endpoint is back.
//
//	router ──PushRun──► ring ──overflow (under the buffer lock)──► staging (2 × 2 MiB, reserved in the budgets)
//	          └─────── while spilling: straight to staging (the ring stays empty) ──┘
//	                                                                  │ writer goroutine: one record per batch
//	                                                                  ▼
//	sender ◄──Take: front ring while the spill holds messages ◄── spill.Queue (segment files in <dir>/<drain id>/)
//
// Nothing of this runs while the endpoint keeps up: the ring's overflow
// is the only way in. From then on until the spill is empty, the ring's
// messages and every new one go to staging (push), so the ring stays empty
// and a killed process loses only a batch not written yet. Staging is
// copied under the buffer lock (no disk I/O there); the writer goroutine,
// started at the first overflow, writes it out. Taking: while the spill
// holds messages, the sender takes from the front ring, filled with up to
// frontBytes of whole records read ahead from the queue; the messages it
// took are consumed in the queue when their frame is settled (delivered or
// dropped: Settle, or the next Take), so a frame in hand when the node
// stops stays in the queue and is sent again after a restart.
//
// Budgets: the node's (--drain-spill-max-bytes) and each drain's share
// (--drain-spill-drain-max-bytes) are reserved when a message is staged; a
// message that does not fit is dropped by the ring as without a spill (L10,
// counted). A write that fails (disk full, unwritable directory) loses its
// batch, counted and reported by L10 the same way, and the spill is not
// tried again for spillRetry.

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/ringbuf"
	"github.com/logplex/logplex/ringbuf/spill"
)

// SpillOptions configure the disk spill of this node's drains (off while
// Dir is empty).
type SpillOptions struct {
	Dir           string // one directory per drain under it
	MaxBytes      int64  // the node's budget; default 1 GiB
	DrainMaxBytes int64  // one drain's share; default a quarter of MaxBytes
	Sync          string // fsync policy: "segment" (default), "always" or "never"
	All           bool   // every drain spills unless its buffer is "memory"
}

const (
	// stageMax bounds a drain's staged bytes (and so a record); there are
	// two (one is written while the other fills), released when the spill
	// empties. Overflow beyond it (a burst faster than the disk, or a
	// writer starved of CPU) is dropped and counted.
	stageMax = 2 << 20
	// spillRetry is how long a spill that failed to open or write is not
	// tried again (its overflow is dropped and counted meanwhile).
	spillRetry = 5 * time.Second
	// frontCap bounds the messages of the front ring, and frontBytes what
	// one refill reads ahead (whole records).
	frontCap   = 1 << 22
	frontBytes = 1 << 20
	// spillRingCap bounds the ring of a drain that spills (Logplex's
	// buffer size): until the ring's first overflow moves them to disk,
	// its messages are only in memory, and a killed process loses them. A
	// larger ring would lose nothing more to an outage (the spill takes
	// the overflow), only more to a kill.
	spillRingCap = 1024
)

var (
	spillBytes       = metrics.NewGauge(`logplex_drain_spill_bytes`, nil)
	spillSpilled     = metrics.NewCounter(`logplex_drain_spill_spilled_total`)
	spillUnspilled   = metrics.NewCounter(`logplex_drain_spill_unspilled_total`)
	spillErrors      = metrics.NewCounter(`logplex_drain_spill_errors_total`)
	spillLost        = metrics.NewCounter(`logplex_drain_spill_lost_total`)
	spillFull        = metrics.NewCounter(`logplex_drain_spill_full_total`)
	spillBudgetBytes = metrics.NewGauge(`logplex_drain_spill_budget_bytes`, nil)
)

// nodeSpill is the spill of one data plane's drains.
type nodeSpill struct {
	o      SpillOptions
	sync   spill.Sync
	budget *spill.Budget
	log    *slog.Logger

	mu     sync.Mutex
	drains map[int64]*drainSpill
	left   map[int64]bool // drain directories found at start, not yet claimed
}

// newNodeSpill sets the spill up; nil when it is off or its directory
// cannot be made (logged and counted: drains then drop as without one).
func newNodeSpill(o SpillOptions, log *slog.Logger) *nodeSpill {
	if o.Dir == "" {
		return nil
	}
	sy, err := spill.ParseSync(o.Sync)
	if err != nil {
		log.Error("drain spill off", "err", err)
		spillErrors.Inc()
		return nil
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.DrainMaxBytes <= 0 {
		o.DrainMaxBytes = o.MaxBytes / 4
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		log.Error("drain spill off: its directory cannot be made", "dir", o.Dir, "err", err)
		spillErrors.Inc()
		return nil
	}
	n := &nodeSpill{o: o, sync: sy, budget: spill.NewBudget(o.MaxBytes), log: log.With("component", "spill"),
		drains: map[int64]*drainSpill{}, left: map[int64]bool{}}
	ents, _ := os.ReadDir(o.Dir)
	for _, e := range ents {
		if id, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && e.IsDir() {
			n.left[id] = true
		}
	}
	spillBudgetBytes.Set(float64(o.MaxBytes))
	return n
}

// enabled reports whether the drain's overflow goes to disk.
func (n *nodeSpill) enabled(d *Drain) bool {
	switch d.Config.Buffer {
	case "disk":
		return true
	case "memory":
		return false
	}
	return n.o.All
}

// attach gives d's buffer its spill when the drain spills or has messages
// left on disk from before (those are delivered either way).
func (n *nodeSpill) attach(d *Drain) {
	if n == nil || d.Buf == nil {
		return
	}
	on := n.enabled(d)
	n.mu.Lock()
	ds := n.drains[d.Config.ID]
	if ds == nil {
		left := n.left[d.Config.ID]
		if !on && !left {
			n.mu.Unlock()
			return
		}
		delete(n.left, d.Config.ID)
		ds = &drainSpill{n: n, id: d.Config.ID, dir: filepath.Join(n.o.Dir, strconv.FormatInt(d.Config.ID, 10))}
		n.drains[d.Config.ID] = ds
		if left {
			ds.open(time.Now().UnixNano()) // deliver what is there
		}
	}
	n.mu.Unlock()
	bs := &bufSpill{ds: ds, b: d.Buf, on: on, front: ringbuf.NewRing(frontCap), kick: make(chan struct{}, 1)}
	ds.reader.Store(bs)
	d.Buf.mu.Lock()
	d.Buf.sp = bs
	if on {
		d.Buf.ring.SetOverflow(bs)
		if d.Buf.size > spillRingCap {
			d.Buf.size = spillRingCap
			d.Buf.ring.Resize(spillRingCap, time.Now().UnixNano())
		}
	}
	d.Buf.mu.Unlock()
}

// kick starts the sender of a drain that has messages on disk from
// before it started (a parked drain starts on a push otherwise).
func (n *nodeSpill) kick(d *Drain) {
	if n != nil && d.Buf != nil && d.Buf.sp != nil && d.Buf.sp.ds.msgs.Load() > 0 {
		d.Buf.kick()
	}
}

// detach ends the spill use of stopped drains.
func (n *nodeSpill) detach(ds []*Drain) {
	if n == nil {
		return
	}
	for _, d := range ds {
		if d.Buf != nil && d.Buf.sp != nil {
			d.Buf.sp.detach()
		}
	}
}

// forget removes the spill of a deleted drain, and the directories of
// drains the first snapshot does not have (want: the drains that exist).
// It looks at every spill: the manager's full update.
func (n *nodeSpill) forget(want func(id int64) bool) {
	if n == nil {
		return
	}
	n.mu.Lock()
	var gone []*drainSpill
	for id, ds := range n.drains {
		if !want(id) {
			gone = append(gone, ds)
			delete(n.drains, id)
		}
	}
	for id := range n.left {
		if !want(id) {
			n.removeLeft(id)
		}
	}
	n.mu.Unlock()
	n.removeAll(gone)
}

// drop is forget for the drains of ids only, which no longer exist: the
// manager's update of what changed, where a drain not in ids keeps its
// spill.
func (n *nodeSpill) drop(ids []int64) {
	if n == nil || len(ids) == 0 {
		return
	}
	n.mu.Lock()
	var gone []*drainSpill
	for _, id := range ids {
		if ds := n.drains[id]; ds != nil {
			gone = append(gone, ds)
			delete(n.drains, id)
		}
		if n.left[id] {
			n.removeLeft(id)
		}
	}
	n.mu.Unlock()
	n.removeAll(gone)
}

// removeLeft removes the directory of a drain found at start; n.mu held.
func (n *nodeSpill) removeLeft(id int64) {
	delete(n.left, id)
	os.RemoveAll(filepath.Join(n.o.Dir, strconv.FormatInt(id, 10)))
}

// removeAll removes the spills of drains that are gone.
func (n *nodeSpill) removeAll(gone []*drainSpill) {
	for _, ds := range gone {
		ds.remove()
	}
	n.gauge()
}

func (n *nodeSpill) gauge() { spillBytes.Set(float64(n.budget.Used())) }

// close syncs and closes every queue (the node stops; they stay on disk).
func (n *nodeSpill) close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ds := range n.drains {
		ds.mu.Lock()
		if q := ds.q.Load(); q != nil {
			if err := q.Close(); err != nil {
				n.log.Warn("drain spill not synced", "drain_id", ds.id, "err", err)
			}
		}
		ds.mu.Unlock()
	}
	n.gauge()
}

// drainSpill is one drain's queue, shared by the buffers of its
// successive runs (a drain restarted by a config change keeps its spill).
type drainSpill struct {
	n   *nodeSpill
	id  int64
	dir string

	mu        sync.Mutex
	q         atomic.Pointer[spill.Queue] // nil until opened
	failUntil atomic.Int64                // unix ns: no open or write before
	reader    atomic.Pointer[bufSpill]    // the buffer that takes from it (the latest run)
	msgs      atomic.Int64                // staged + on disk, not consumed
	oldestAt  atomic.Int64                // unix ns: when the spill last went from empty to not
	removed   bool
}

// queue returns the open queue, opening it on first use; nil while it
// cannot be opened.
func (ds *drainSpill) queue(now int64) *spill.Queue {
	if q := ds.q.Load(); q != nil {
		return q
	}
	if now < ds.failUntil.Load() {
		return nil
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return ds.open(now)
}

// open opens the queue; under mu (or before ds is shared).
func (ds *drainSpill) open(now int64) *spill.Queue {
	if q := ds.q.Load(); q != nil || ds.removed {
		return q
	}
	n := ds.n
	q, rep, err := spill.Open(ds.dir, spill.Options{MaxBytes: n.o.DrainMaxBytes, Budget: n.budget, Sync: n.sync})
	if err != nil {
		spillErrors.Inc()
		ds.failUntil.Store(now + int64(spillRetry))
		n.log.Warn("drain spill cannot be opened; overflow is dropped (L10) meanwhile", "drain_id", ds.id, "err", err)
		return nil
	}
	if rep.TornBytes > 0 {
		spillLost.Add(rep.LostMsgs)
		n.log.Warn("drain spill: torn tail cut (the node stopped mid-write)", "drain_id", ds.id,
			"bytes", rep.TornBytes, "messages_lost", rep.LostMsgs)
	}
	m, _ := q.Len()
	ds.msgs.Store(m)
	ds.q.Store(q)
	n.gauge()
	return q
}

func (ds *drainSpill) remove() {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.removed = true
	if q := ds.q.Load(); q != nil {
		q.Remove()
	} else {
		os.RemoveAll(ds.dir)
	}
	ds.msgs.Store(0)
}

// bufSpill is one Buffer's side of its drain's spill: the staging its
// ring's overflow goes to, the writer, and the front ring taking reads.
type bufSpill struct {
	ds *drainSpill
	b  *Buffer
	on bool // the ring overflows into it; false: leftovers are only read

	mu       sync.Mutex // staging (under the buffer lock when called by the ring)
	run      []byte
	lens     []uint32
	at       int64 // when the first staged message was spilled
	reserved int64
	started  bool
	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}

	io    sync.Mutex // writing staged records and reading the queue, in turn
	wrun  []byte
	wlens []uint32
	spans []ringbuf.Span

	// under the buffer lock
	offloading bool          // push is offloading the ring: what Spill refuses stays in it
	closed     bool          // the drain stopped: nothing more is staged
	front      *ringbuf.Ring // messages read from the queue, not taken yet
	pending    int           // messages the sender took from front, not consumed in the queue yet
	frontAt    int64         // when front's messages were spilled
}

// Spill takes overflow into staging (ringbuf.Overflow); under the buffer
// lock: copies only.
func (s *bufSpill) Spill(run []byte, lens []uint32, now int64) int {
	k := s.stage(run, lens, nil, nil, now)
	if k < len(lens) && !s.offloading {
		spillFull.Add(len(lens) - k) // the ring drops them
	}
	return k
}

// push stages a batch straight to disk when the drain is spilling (its
// spill holds messages) or the batch would overflow the ring, whose
// messages then go first: while a drain spills, its ring stays empty and
// what it receives is on disk a moment later (a killed process loses only
// what was staged and not written yet). Under the buffer lock. It returns
// how many of the spans it took, from the first (0 while the drain keeps
// up, or when the spill cannot take the ring's messages: the ring as
// without a spill); the rest go to the ring after them.
func (s *bufSpill) push(buf []byte, spans []Span, now int64) int {
	r := s.b.ring
	if !s.on || s.closed || len(spans) == 0 || (s.ds.msgs.Load() <= 0 && r.Len()+len(spans) <= r.Cap()) {
		return 0
	}
	if r.Len() > 0 {
		s.offloading = true
		r.Offload(now)
		s.offloading = false
		if r.Len() > 0 {
			return 0
		}
	}
	return s.stage(nil, nil, buf, spans, now)
}

// stage copies messages into staging, within stageMax and the budgets:
// lens[i] bytes each back to back in run, or (lens nil) the spans of buf.
// It returns how many, from the first, it took. Under the buffer lock.
func (s *bufSpill) stage(run []byte, lens []uint32, buf []byte, spans []Span, now int64) int {
	q := s.ds.queue(now)
	if q == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(spans)
	if lens != nil {
		n = len(lens)
	}
	k, bytes := 0, 0
	for ; k < n; k++ {
		var l int
		if lens != nil {
			l = int(lens[k])
		} else {
			l = int(spans[k].End - spans[k].Off)
		}
		if len(s.run)+bytes+l > stageMax && len(s.lens)+k > 0 {
			break
		}
		bytes += l
	}
	if k == 0 {
		return 0
	}
	need := spill.RecordSize(k, bytes) - spill.HeaderSize
	if len(s.lens) == 0 {
		need += spill.HeaderSize
	}
	if !q.Reserve(need) {
		return 0
	}
	if len(s.lens) == 0 {
		s.at = now
	}
	if lens != nil {
		s.run = append(s.run, run[:bytes]...)
		s.lens = append(s.lens, lens[:k]...)
	} else {
		for _, sp := range spans[:k] {
			s.run = append(s.run, buf[sp.Off:sp.End]...)
			s.lens = append(s.lens, sp.End-sp.Off)
		}
	}
	s.reserved += need
	if s.ds.msgs.Load() <= 0 {
		s.ds.oldestAt.Store(now)
	}
	s.ds.msgs.Add(int64(k))
	if !s.started {
		s.started = true
		s.stop, s.stopped = make(chan struct{}), make(chan struct{})
		go s.writer()
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return k
}

// writer writes staging out until stopped.
func (s *bufSpill) writer() {
	defer close(s.stopped)
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			return
		}
		s.io.Lock()
		s.flushLocked()
		s.io.Unlock()
		s.b.signal() // the sender may wait for these to be readable
	}
}

// flushLocked writes what is staged as one record; under io.
func (s *bufSpill) flushLocked() {
	s.mu.Lock()
	run, lens, at, res := s.run, s.lens, s.at, s.reserved
	s.run, s.lens, s.reserved = s.wrun[:0], s.wlens[:0], 0
	s.mu.Unlock()
	if len(lens) > 0 {
		q := s.ds.q.Load()
		err := errors.New("spill removed")
		if q != nil {
			err = q.Append(run, lens, at, res)
		}
		if err == nil {
			spillSpilled.Add(len(lens))
		} else {
			if q != nil && !errors.Is(err, spill.ErrFull) {
				q.Unreserve(res)
			}
			s.lost(len(lens), at, err)
		}
		s.ds.n.gauge()
	}
	if len(lens) == 0 && cap(run) > 0 {
		run, lens = nil, nil // idle: give the staging back
	}
	s.wrun, s.wlens = run[:0], lens[:0]
}

// lost accounts a staged batch that could not be written: dropped and
// reported (L10) as an overflow without a spill would be.
func (s *bufSpill) lost(n int, at int64, err error) {
	s.ds.msgs.Add(-int64(n))
	spillErrors.Inc()
	spillLost.Add(n)
	s.ds.failUntil.Store(time.Now().UnixNano() + int64(spillRetry))
	b := s.b
	b.mu.Lock()
	b.ring.AddLoss(n, at)
	b.drops += uint64(n)
	b.mu.Unlock()
	s.ds.n.log.Warn("drain spill write failed; its messages are dropped (L10)", "drain_id", s.ds.id, "messages", n, "err", err)
}

// staged is the number of messages staged.
func (s *bufSpill) staged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lens)
}

// reading reports whether this buffer takes from the spill (it is the
// drain's latest run).
func (s *bufSpill) reading() bool { return s.ds.reader.Load() == s }

// held is the spill's messages not taken by the sender; under the buffer
// lock.
func (s *bufSpill) held() int {
	if !s.reading() {
		return 0
	}
	return int(max(s.ds.msgs.Load()-int64(s.pending), 0))
}

// take runs fn with the ring to take from: the front while the spill holds
// messages (refilled from the queue when empty), else the buffer's ring.
func (s *bufSpill) take(fn func(r *ringbuf.Ring)) {
	b := s.b
	if !s.reading() {
		b.With(fn)
		return
	}
	s.settle()
	if q := s.ds.q.Load(); q != nil && s.ds.msgs.Load() <= 0 {
		// the count can miss what another run of the drain staged
		// (a restart by a config change): the queue has the last word
		if m, _ := q.Len(); m > 0 {
			s.ds.msgs.Store(m)
		}
	}
	if s.front.Len() == 0 && s.ds.msgs.Load() > 0 { // front is the sender's: no lock to read it
		s.refill()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.front.Len() == 0 && s.ds.msgs.Load() <= 0 {
		s.frontAt = 0
		fn(b.ring)
		b.account()
		return
	}
	// A loss the ring holds (what it dropped while the spill was full)
	// rides on this frame: the ring may get no message to carry it (a
	// push that found the spill with room moved the ring's messages into
	// it, leaving the loss behind).
	if lost, since := b.ring.TakeLoss(); lost > 0 {
		s.front.AddLoss(lost, since)
	}
	n := s.front.Len()
	fn(s.front)
	s.pending = n - s.front.Len()
}

// settle consumes in the queue what the sender took last time (its frame
// was delivered or dropped since).
func (s *bufSpill) settle() {
	b := s.b
	b.mu.Lock()
	p := s.pending
	s.pending = 0
	b.mu.Unlock()
	if p == 0 {
		return
	}
	if q := s.ds.q.Load(); q != nil {
		q.Consume(p)
	}
	if s.ds.msgs.Add(-int64(p)) <= 0 {
		s.release()
	}
	spillUnspilled.Add(p)
	s.ds.n.gauge()
}

// release gives back the staging and front buffers of a spill that
// emptied (a drain that spilled once does not keep them).
func (s *bufSpill) release() {
	s.io.Lock()
	s.wrun, s.wlens, s.spans = nil, nil, nil
	s.io.Unlock()
	s.mu.Lock()
	idle := len(s.lens) == 0
	if idle {
		s.run, s.lens = nil, nil
	}
	s.mu.Unlock()
	if idle {
		s.stopWriter() // an idle drain holds no goroutine (the next overflow starts one)
	}
	s.b.mu.Lock()
	s.front.Trim()
	s.b.mu.Unlock()
}

// stopWriter ends the writer goroutine, if one runs, and waits for it; the
// next staged batch starts a new one.
func (s *bufSpill) stopWriter() {
	s.mu.Lock()
	stop, stopped, running := s.stop, s.stopped, s.started
	s.started = false
	s.mu.Unlock()
	if running {
		close(stop)
		<-stopped
	}
}

// detach ends this buffer's use of the spill once its drain has stopped
// (stow did it if the sender ran its final flush): no more staging, the
// writer gone, what is staged written.
func (s *bufSpill) detach() {
	s.b.mu.Lock()
	s.closed = true
	s.b.ring.SetOverflow(nil)
	s.b.mu.Unlock()
	s.stopWriter()
	s.io.Lock()
	s.flushLocked()
	s.io.Unlock()
}

// refill loads the record at the queue's cursor into front, writing out
// what is staged first when the queue has nothing else.
func (s *bufSpill) refill() {
	s.io.Lock()
	defer s.io.Unlock()
	q := s.ds.q.Load()
	if q == nil {
		s.ds.msgs.Store(int64(s.staged()))
		return
	}
	for range 4 {
		run, lens, at, err := q.Read(frontBytes)
		if err != nil {
			spillErrors.Inc()
			s.ds.n.log.Warn("drain spill: damaged record skipped", "drain_id", s.ds.id, "err", err)
			continue
		}
		if len(lens) == 0 {
			if s.staged() > 0 {
				s.flushLocked()
				continue
			}
			m, _ := q.Len() // nothing readable: the count follows the queue
			s.ds.msgs.Store(m)
			return
		}
		s.spans = s.spans[:0]
		off := uint32(0)
		for _, l := range lens {
			s.spans = append(s.spans, ringbuf.Span{Off: off, End: off + l})
			off += l
		}
		b := s.b
		b.mu.Lock()
		s.front.PushRun(run, s.spans, at)
		s.frontAt = at
		b.mu.Unlock()
		return
	}
}

// retake puts the messages the sender took from the spill back (they are
// read again from the queue); false when it took none.
func (s *bufSpill) retake() bool {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.pending == 0 {
		return false
	}
	s.pending = 0
	s.front.PopWhile(func([]byte) bool { return true }) // still in the queue: read again
	s.ds.q.Load().Rewind()
	return true
}

// stow ends this buffer's use of the spill when its sender stops: the
// ring's messages go to the spill (behind what is there), staging is
// written, and the sender's frame in hand (inHand: n FormHTTP frames back
// to back, or nil) stays in front of the queue. It returns how many of the
// n messages in hand are kept.
func (s *bufSpill) stow(inHand []byte, n int) (kept int) {
	b := s.b
	now := time.Now().UnixNano()
	b.mu.Lock()
	if s.on {
		b.drops += uint64(b.ring.SpillAll(now))
	}
	b.ring.SetOverflow(nil) // pushes that still arrive are dropped as without a spill
	s.closed = true
	b.mu.Unlock()
	s.stopWriter()
	s.io.Lock()
	defer s.io.Unlock()
	s.flushLocked()
	q := s.ds.q.Load()
	if q == nil || !s.reading() {
		return 0
	}
	b.mu.Lock()
	p := s.pending
	s.pending = 0
	s.front.PopWhile(func([]byte) bool { return true }) // still in the queue
	b.mu.Unlock()
	q.Rewind()
	switch {
	case n == 0 && p > 0: // the last frame was settled
		q.Consume(p)
		s.ds.msgs.Add(-int64(p))
		spillUnspilled.Add(p)
	case p > 0: // the frame in hand came from the queue: it is still there
		kept = n
	case n > 0 && inHand != nil && s.on:
		run, lens, ok := splitHTTPFrames(inHand, n)
		if ok && q.Prepend(run, lens, now) == nil {
			s.ds.msgs.Add(int64(n))
			spillSpilled.Add(n)
			kept = n
		}
	}
	if s.ds.n.sync != spill.SyncNever {
		q.Sync()
	}
	s.ds.n.gauge()
	return kept
}

// splitHTTPFrames cuts n octet-counted frames ("<len> <msg>", FormHTTP) lying
// back to back in b into lengths.
func splitHTTPFrames(b []byte, n int) ([]byte, []uint32, bool) {
	lens := make([]uint32, 0, n)
	for off := 0; off < len(b); {
		i, l := off, 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			l = 10*l + int(b[i]-'0')
			i++
		}
		if i == off || i >= len(b) || b[i] != ' ' || i+1+l > len(b) {
			return nil, nil, false
		}
		end := i + 1 + l
		lens = append(lens, uint32(end-off))
		off = end
	}
	return b, lens, len(lens) == n
}

// SpillStatus is a drain's spill for the status endpoint.
type SpillStatus struct {
	Messages   int64   // spilled, not delivered yet
	LagSeconds float64 // age of the oldest of them (catch-up lag)
}

func (s *bufSpill) status(now time.Time) SpillStatus {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	st := SpillStatus{Messages: int64(s.held())}
	if st.Messages > 0 {
		at := s.frontAt // the record being taken, or when the spill began
		if at == 0 {
			at = s.ds.oldestAt.Load()
		}
		if at > 0 {
			st.LagSeconds = max(now.Sub(time.Unix(0, at)).Seconds(), 0)
		}
	}
	return st
}

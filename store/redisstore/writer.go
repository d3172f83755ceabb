package redisstore

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store"
)

// logEvery throttles the "history writes failing" log per writer.
const logEvery = 10 * time.Second

// writer owns one bounded queue of batches and the goroutine that flushes
// it. Producers append under mu and signal wake when the queue turns
// non-empty or full; the goroutine swaps out the whole queue.
type writer struct {
	sp   *Spool
	conn *conn
	name string

	mu      sync.Mutex
	queue   []*store.HistoryBatch
	spare   []*store.HistoryBatch
	bytes   int
	msgs    int
	first   time.Time // when the queue turned non-empty
	stopped bool

	wake chan struct{} // capacity 1
	stop chan struct{} // closed by Spool.Close
	done chan struct{} // closed when run returns

	// owned by the run goroutine
	groups  map[string]*group
	order   []*group
	free    []*group
	arena   []byte  // the flush's messages, channel by channel (group)
	of      []int32 // each message's index in order, in arrival order (group)
	cmds    rueidis.Commands
	timer   *time.Timer
	lastLog time.Time
	failed  int64 // messages dropped on errors since the last log
}

// group is one channel's messages of a flush, oldest first; the strings
// are views of the writer's arena, valid until the next flush.
type group struct {
	channel string
	msgs    []string
	idx     int32 // in the writer's order
	n       int   // messages in the flush
	skip    int   // the oldest that are not sent (beyond History)
	left    int   // skipped messages still to come, while grouping
	pos     int   // where the next message goes in the arena
}

func newWriter(s *Spool, sh shardInfo) *writer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &writer{sp: s, conn: sh.conn, name: sh.name, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), groups: map[string]*group{}, timer: t}
}

// push queues b, or returns false when the queue is full or stopped. A
// small batch that fits in the spare capacity of the last one queued is
// copied into it (and recycled): a router with CPU to spare reads more
// often, so its batches are smaller, and QueueLen would otherwise be
// reached with fewer messages queued the less busy the router is.
func (w *writer) push(b *store.HistoryBatch) bool {
	o := &w.sp.opts
	w.mu.Lock()
	n := len(w.queue)
	if w.stopped || (n > 0 && w.bytes+len(b.Buf) > o.QueueBytes) {
		w.mu.Unlock()
		return false
	}
	wasFull := w.full()
	absorbed := n > 0 && len(b.Buf) <= maxAbsorbed && w.queue[n-1].Absorb(b)
	if !absorbed {
		if n >= o.QueueLen {
			w.mu.Unlock()
			return false
		}
		w.queue = append(w.queue, b)
	}
	w.bytes += len(b.Buf)
	w.msgs += len(b.Msgs)
	if n == 0 {
		w.first = time.Now()
	}
	signal := n == 0 || !wasFull && w.full()
	w.mu.Unlock()
	if absorbed {
		store.PutHistoryBatch(b)
	} else {
		queuedBatches.Add(1)
	}
	if signal {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// maxAbsorbed is the largest batch push copies into the one queued before
// it: a copy under mu of a few microseconds at most. Larger batches are
// queued as they come; the default 2 000 of them hold over 500 000
// messages of ~120 bytes.
const maxAbsorbed = 32 << 10

// full reports whether a flush should start now; w.mu is held.
func (w *writer) full() bool {
	return w.msgs >= w.sp.opts.FlushMsgs || w.bytes >= w.sp.opts.FlushBytes
}

func (w *writer) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// run flushes until Close, then flushes what is left.
func (w *writer) run() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			w.mu.Lock()
			w.stopped = true // no push succeeds from now on
			w.mu.Unlock()
			w.flush(w.take(), time.Unix(0, w.sp.closeBy.Load()))
			return
		}
		w.waitAge()
		w.flush(w.take(), time.Now().Add(w.sp.opts.Timeout))
	}
}

// waitAge waits until the oldest queued batch is FlushAge (plus jitter)
// old, unless the queue is full first or the spool closes.
func (w *writer) waitAge() {
	age := w.sp.opts.FlushAge
	age += rand.N(age + 1)
	w.mu.Lock()
	ready, first := w.full() || len(w.queue) == 0, w.first
	w.mu.Unlock()
	d := age - time.Since(first)
	if ready || d <= 0 {
		return
	}
	w.timer.Reset(d)
	select {
	case <-w.timer.C:
	case <-w.wake:
	case <-w.stop:
	}
	w.timer.Stop()
}

// take swaps out the queue.
func (w *writer) take() []*store.HistoryBatch {
	w.mu.Lock()
	q := w.queue
	w.queue, w.spare = w.spare[:0], nil
	w.bytes, w.msgs = 0, 0
	w.mu.Unlock()
	queuedBatches.Add(-int64(len(q)))
	return q
}

// flush writes the batches in one pipeline, counts, and recycles them.
func (w *writer) flush(batches []*store.HistoryBatch, deadline time.Time) {
	if len(batches) == 0 {
		return
	}
	w.group(batches)
	for _, b := range batches { // group copied what is sent
		store.PutHistoryBatch(b)
	}
	clear(batches)
	w.mu.Lock()
	w.spare = batches[:0]
	w.mu.Unlock()
	start := time.Now()
	written, dropped, reuse, err := w.send(deadline)
	historyFlushSeconds.UpdateDuration(start)
	historyFlushMessages.Update(float64(written + dropped))
	w.sp.countWritten(written)
	w.sp.countDropped(dropped)
	if err != nil {
		w.sp.errs.Add(1)
		redisErrors.Inc()
		w.logFailure(dropped, err)
	}
	w.release(reuse)
}

// release forgets the flush's groups; with reuse false (a command failed)
// it lets the arena go to the garbage collector, since rueidis answers a
// broken or timed-out pipeline while its writer may still be copying the
// LPUSH arguments, which are views of the arena.
func (w *writer) release(reuse bool) {
	for _, g := range w.order {
		clear(g.msgs) // drop the views
		g.msgs = g.msgs[:0]
		w.free = append(w.free, g)
	}
	w.order = w.order[:0]
	clear(w.groups)
	if !reuse || oversized(len(w.arena), cap(w.arena), 1<<20) {
		w.arena = nil
	}
	if oversized(len(w.of), cap(w.of), 1<<16) {
		w.of = nil
	}
}

// oversized reports whether a buffer of capacity c, of which this flush
// used n, is worth letting go: more than small, and four times what was
// used (the writer's memory follows the load down).
func oversized(n, c, small int) bool { return c > small && n < c/4 }

// group sorts the batches' messages by channel, keeping arrival order:
// each channel's messages are copied back to back into the arena, except
// those beyond History in one flush, which would be trimmed at once. The
// copy costs less than it saves: the batches are read in the order they
// were written, which the CPU prefetches, and rueidis then copies each
// channel's messages from consecutive bytes, instead of picking ~120-byte
// messages one by one out of batches written long enough ago to have left
// the caches (each a cache miss or two; a quarter of the router's CPU at
// 2 M msgs/s).
func (w *writer) group(batches []*store.HistoryBatch) {
	of := w.of[:0]
	for _, b := range batches { // each message's group
		var g *group
		for i := range b.Msgs {
			if m := &b.Msgs[i]; g == nil || g.channel != m.Channel {
				g = w.groupOf(m.Channel)
			}
			g.n++
			of = append(of, g.idx)
		}
	}
	w.of = of
	for _, g := range w.order {
		g.skip = max(g.n-w.sp.opts.History, 0)
		g.left, g.pos = g.skip, 0
		g.msgs = slices.Grow(g.msgs[:0], g.n-g.skip)
	}
	w.place(batches, nil, false) // each group's bytes, in pos
	size := 0
	for _, g := range w.order { // each group's place in the arena
		size, g.pos = size+g.pos, size
		g.left = g.skip
	}
	arena := slices.Grow(w.arena[:0], size)[:size]
	w.place(batches, arena, true)
	w.arena = arena
}

// place walks the messages group sends, in arrival order (each group's
// left oldest are not sent), moving each one's group pos past it; with
// fill it first copies the message to pos in arena and adds its view to
// the group.
func (w *writer) place(batches []*store.HistoryBatch, arena []byte, fill bool) {
	k := 0
	for _, b := range batches {
		for i := range b.Msgs {
			g := w.order[w.of[k]]
			k++
			if g.left > 0 {
				g.left--
				continue
			}
			m := b.Msg(i)
			if fill {
				copy(arena[g.pos:], m)
				g.msgs = append(g.msgs, rueidis.BinaryString(arena[g.pos:g.pos+len(m)]))
			}
			g.pos += len(m)
		}
	}
}

func (w *writer) groupOf(channel string) *group {
	if g := w.groups[channel]; g != nil {
		return g
	}
	var g *group
	if n := len(w.free); n > 0 {
		g, w.free = w.free[n-1], w.free[:n-1]
	} else {
		g = &group{}
	}
	g.channel, g.n, g.idx = channel, 0, int32(len(w.order))
	w.groups[channel] = g
	w.order = append(w.order, g)
	return g
}

// send pipelines LPUSH (oldest first, so the newest ends at the head),
// LTRIM and EXPIRE per channel and reports what Redis acknowledged; the
// messages group left out (beyond History in one flush, trimmed at once)
// count as written. reuse reports whether the arena may be reused: not
// after a failed command (release).
func (w *writer) send(deadline time.Time) (written, dropped int64, reuse bool, err error) {
	total := int64(0)
	for _, g := range w.order {
		total += int64(g.n)
	}
	cl, err := w.conn.get()
	if err != nil {
		return 0, total, true, err // nothing was handed to rueidis
	}
	o := &w.sp.opts
	expiry := max(int64(o.Expiry/time.Second), 1)
	cmds := w.cmds[:0]
	for _, g := range w.order {
		key := spoolKey(g.channel)
		cmds = append(cmds,
			cl.B().Lpush().Key(key).Element(g.msgs...).Build(),
			cl.B().Ltrim().Key(key).Start(0).Stop(int64(o.History-1)).Build(),
			cl.B().Expire().Key(key).Seconds(expiry).Build())
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	res := cl.DoMulti(ctx, cmds...)
	cancel()
	clear(cmds) // built commands are single-use
	w.cmds = cmds[:0]
	reuse = true
	for _, r := range res {
		if r.Error() != nil {
			reuse = false
		}
	}
	for i, g := range w.order {
		n := int64(g.n)
		if e := res[3*i].Error(); e != nil {
			dropped += n
			err = e
			continue
		}
		written += n
	}
	return written, dropped, reuse, err
}

func (w *writer) logFailure(dropped int64, err error) {
	w.failed += dropped
	if time.Since(w.lastLog) < logEvery {
		return
	}
	w.sp.log.Warn("history writes failing; messages dropped", "shard", w.name,
		"dropped", strconv.FormatInt(w.failed, 10), "err", err)
	w.lastLog, w.failed = time.Now(), 0
}

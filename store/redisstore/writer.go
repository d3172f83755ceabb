package redisstore

import (
	"context"
	"math/rand/v2"
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
	cmds    rueidis.Commands
	timer   *time.Timer
	lastLog time.Time
	failed  int64 // messages dropped on errors since the last log
}

// group is one channel's messages of a flush, oldest first; the strings
// are zero-copy views of batch bytes, valid until the batches are recycled.
type group struct {
	channel string
	msgs    []string
}

func newWriter(s *Spool, sh shardInfo) *writer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &writer{sp: s, conn: sh.conn, name: sh.name, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), groups: map[string]*group{}, timer: t}
}

// push queues b, or returns false when the queue is full or stopped.
func (w *writer) push(b *store.HistoryBatch) bool {
	o := &w.sp.opts
	w.mu.Lock()
	if w.stopped || len(w.queue) >= o.QueueLen || (len(w.queue) > 0 && w.bytes+len(b.Buf) > o.QueueBytes) {
		w.mu.Unlock()
		return false
	}
	wasEmpty, wasFull := len(w.queue) == 0, w.full()
	w.queue = append(w.queue, b)
	w.bytes += len(b.Buf)
	w.msgs += len(b.Msgs)
	if wasEmpty {
		w.first = time.Now()
	}
	signal := wasEmpty || !wasFull && w.full()
	w.mu.Unlock()
	queuedBatches.Add(1)
	if signal {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return true
}

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
	start := time.Now()
	written, dropped, recycle, err := w.send(deadline)
	historyFlushSeconds.UpdateDuration(start)
	historyFlushMessages.Update(float64(written + dropped))
	w.sp.countWritten(written)
	w.sp.countDropped(dropped)
	if err != nil {
		w.sp.errs.Add(1)
		redisErrors.Inc()
		w.logFailure(dropped, err)
	}
	for _, g := range w.order {
		clear(g.msgs) // drop the views before the batches are reused
		g.msgs = g.msgs[:0]
		w.free = append(w.free, g)
	}
	w.order = w.order[:0]
	clear(w.groups)
	for _, b := range batches {
		if recycle {
			store.PutHistoryBatch(b)
		}
	}
	clear(batches)
	w.mu.Lock()
	w.spare = batches[:0]
	w.mu.Unlock()
}

// group sorts the batches' messages by channel, keeping arrival order.
func (w *writer) group(batches []*store.HistoryBatch) {
	for _, b := range batches {
		var g *group
		for i, m := range b.Msgs {
			if g == nil || g.channel != m.Channel {
				g = w.groupOf(m.Channel)
			}
			g.msgs = append(g.msgs, rueidis.BinaryString(b.Msg(i)))
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
	g.channel = channel
	w.groups[channel] = g
	w.order = append(w.order, g)
	return g
}

// send pipelines LPUSH (oldest first, so the newest ends at the head),
// LTRIM and EXPIRE per channel and reports what Redis acknowledged.
// Messages beyond History in one flush would be trimmed at once: they are
// not sent, and count as written. recycle reports whether the batches may
// be reused: not after a failed command, since rueidis answers a broken or
// timed-out pipeline while its writer may still be copying the LPUSH
// arguments, which are views of the batches (the garbage collector takes
// them instead).
func (w *writer) send(deadline time.Time) (written, dropped int64, recycle bool, err error) {
	total := int64(0)
	for _, g := range w.order {
		total += int64(len(g.msgs))
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
		msgs := g.msgs[max(len(g.msgs)-o.History, 0):]
		cmds = append(cmds,
			cl.B().Lpush().Key(key).Element(msgs...).Build(),
			cl.B().Ltrim().Key(key).Start(0).Stop(int64(o.History-1)).Build(),
			cl.B().Expire().Key(key).Seconds(expiry).Build())
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	res := cl.DoMulti(ctx, cmds...)
	cancel()
	clear(cmds) // built commands are single-use
	w.cmds = cmds[:0]
	recycle = true
	for _, r := range res {
		if r.Error() != nil {
			recycle = false
		}
	}
	for i, g := range w.order {
		n := int64(len(g.msgs))
		if e := res[3*i].Error(); e != nil {
			dropped += n
			err = e
			continue
		}
		written += n
	}
	return written, dropped, recycle, err
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

package store

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/internal/membudget"
)

// Bus carries live tail traffic (docs/logplex.md §7) from the data planes that ingest
// a channel's messages to the control planes serving its tail sessions:
//
//	route.Batch.Flush ─► Bus.Publish(ch, msgs)      one call per tailed channel per batch
//	                          │ in-process, or PUBLISH logplex:tail:<ch> (Redis)
//	                          ▼
//	      Bus.Subscribe(ch, q) ─► TailQueue.Push ─► TailQueue.Next ─► session lines
//
// A channel is published only while a session registers it (config.TailKey
// in the ConfigStore, seen by data planes through the change feed): with no
// live tail there is no publishing cost. The subscriber hands in its own
// TailQueue, the bounded per-session buffer (spec: 1024 messages,
// drop-oldest, reported as L11), so the bus needs no second buffer and no
// goroutine per session.
type Bus interface {
	// Publish offers msgs, cooked messages of channel oldest first, to every
	// subscriber of channel anywhere in the cluster. It never blocks: when
	// the bus is behind the batch is dropped and counted. msgs and the bytes
	// they point at are only read during the call.
	Publish(channel string, msgs [][]byte)
	// Subscribe adds q to channel's subscribers. It returns once the
	// subscription is active: every batch published after it returns is
	// pushed to q (unless lost, which q counts where it can). ctx bounds
	// the setup only. cancel removes q; call it exactly once.
	Subscribe(ctx context.Context, channel string, q *TailQueue) (cancel func(), err error)
	// Close ends every subscription and stops publishing.
	Close() error
}

// TTLRefresher is implemented by config stores that can extend the TTL of
// a key written with config.Change.TTL without a change-feed entry (both
// stores do), so a refresh costs the data planes nothing. Refresh reports
// false when the key no longer exists (it expired or was deleted): the
// caller writes it again.
type TTLRefresher interface {
	Refresh(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// DefaultTailQueue is a tail session's buffer in messages (Logplex's 1024).
const DefaultTailQueue = 1024

// tailDropped counts messages tail queues dropped (oldest first) because
// their reader was slow, on this node.
var tailDropped = metrics.NewCounter(`logplex_tail_buffer_dropped_total`)

// The tail queues' budget (NewTailBudget; one per process, in tests that
// make several the newest), for its gauges, and the messages dropped to
// keep within it.
var (
	tailBudget atomic.Pointer[membudget.Budget]
	_          = metrics.NewGauge(`logplex_tail_buffers_bytes`, func() float64 { return float64(tailBudget.Load().Held()) })
	_          = metrics.NewGauge(`logplex_tail_buffers_max_bytes`, func() float64 { return float64(tailBudget.Load().Max()) })
	tailShed   = metrics.NewCounter(`logplex_tail_buffers_shed_total`)
)

// NewTailBudget returns a budget of max bytes for the tail queues of a
// node (NewBoundedTailQueue); nil (each queue bounded in messages only)
// for max <= 0. The node's gauges show the newest one made.
func NewTailBudget(max int64) *membudget.Budget {
	g := membudget.New(max)
	if g != nil {
		tailBudget.Store(g)
	}
	return g
}

// tailUnheard counts messages of a tailed channel that a bus published and
// nobody received (PUBLISH answered 0 subscribers, or no local queue): a
// session's subscription was being re-established, or had just ended.
var tailUnheard = metrics.NewCounter(`logplex_tail_bus_unheard_total`)

// CountUnheard counts n messages published to nobody.
func CountUnheard(n int) { tailUnheard.Add(n) }

// UnheardTotal is the count so far (for tests).
func UnheardTotal() uint64 { return tailUnheard.Get() }

// TailQueue is one subscriber's bounded buffer of messages: Push (the bus)
// never blocks and drops the oldest messages when full, counting them and
// noting when the first was lost; Next (the session) takes everything held,
// with the loss to report. Safe for one pusher and one reader at a time
// (pushes are serialised by its lock).
//
// Push keeps the slices it is given, without copying: a pushed message
// must never be modified afterwards. The buses copy each published batch
// once and share it read-only between subscribers.
//
// A queue of a budget (NewBoundedTailQueue; membudget's rule) counts the
// bytes of the messages it holds and of those its last Next handed out
// (the session writes them before it calls Next again: a session whose
// client does not read holds them). While the node's queues hold more
// than the budget, a push that leaves the queue over its share drops its
// oldest messages, reported by L11 as any overflow.
type TailQueue struct {
	mu     sync.Mutex
	ring   [][]byte
	head   int
	n      int
	bytes  int // of the messages held
	hand   int // of the messages the last Next handed out
	bud    *membudget.Budget
	acct   int // bytes + hand as bud last counted them
	lost   int
	since  time.Time // first loss since the last Next
	ended  bool
	signal chan struct{} // capacity 1: something to read, or ended
	born   time.Time     // when NewTailQueue made it: older losses are not its own
}

// NewTailQueue returns a queue holding at most limit messages (0:
// DefaultTailQueue).
func NewTailQueue(limit int) *TailQueue {
	if limit <= 0 {
		limit = DefaultTailQueue
	}
	return &TailQueue{ring: make([][]byte, limit), signal: make(chan struct{}, 1), born: time.Now()}
}

// NewBoundedTailQueue is NewTailQueue, the queue also bounded by the
// node's budget bud (NewTailBudget; nil: none). End takes it out of the
// budget.
func NewBoundedTailQueue(limit int, bud *membudget.Budget) *TailQueue {
	q := NewTailQueue(limit)
	q.bud = bud
	return q
}

// Push appends msgs (oldest first), dropping the oldest held messages when
// the queue is full. It never blocks; after End it does nothing.
func (q *TailQueue) Push(msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	q.mu.Lock()
	if q.ended {
		q.mu.Unlock()
		return
	}
	limit := len(q.ring)
	if len(msgs) > limit {
		q.lose(len(msgs) - limit)
		msgs = msgs[len(msgs)-limit:]
	}
	if over := q.n + len(msgs) - limit; over > 0 {
		q.dropOldest(over)
	}
	for _, m := range msgs {
		q.ring[(q.head+q.n)%limit] = m
		q.n++
		q.bytes += len(m)
	}
	if q.bud != nil {
		q.bound()
		q.account()
	}
	q.mu.Unlock()
	q.wake()
}

// dropOldest drops the n oldest messages held and counts them lost; the
// caller holds mu.
func (q *TailQueue) dropOldest(n int) {
	for range n {
		q.bytes -= len(q.ring[q.head])
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
	}
	q.n -= n
	q.lose(n)
}

// bound keeps the queue within its share of the budget while the node's
// queues are over it: the oldest messages go until what it holds and what
// it handed out fit; the caller holds mu.
func (q *TailQueue) bound() {
	if !q.bud.Over() {
		return
	}
	excess := q.bytes + q.hand - q.bud.Share()
	n := 0
	for ; n < q.n && excess > 0; n++ {
		excess -= len(q.ring[(q.head+n)%len(q.ring)])
	}
	if n > 0 {
		q.dropOldest(n)
		tailShed.Add(n)
	}
}

// account brings the budget up to date; the caller holds mu.
func (q *TailQueue) account() {
	if f := q.bytes + q.hand; f != q.acct {
		q.bud.Move(q.acct, f)
		q.acct = f
	}
}

// AddLoss counts n messages lost before they reached the queue.
func (q *TailQueue) AddLoss(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.lose(n)
	q.mu.Unlock()
	q.wake()
}

// AddLossSince counts n messages lost on the way to the queue (a bus that
// could not deliver them), the first of them at since; a loss that began
// before the queue existed is not its own and is ignored.
func (q *TailQueue) AddLossSince(n int, since time.Time) {
	if n <= 0 || since.Before(q.born) {
		return
	}
	q.mu.Lock()
	if q.lost == 0 || since.Before(q.since) {
		q.since = since
	}
	q.lost += n
	q.mu.Unlock()
	q.wake()
}

// lose records n dropped messages; the caller holds mu.
func (q *TailQueue) lose(n int) {
	if q.lost == 0 {
		q.since = time.Now()
	}
	q.lost += n
	tailDropped.Add(n)
}

func (q *TailQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// Next waits until the queue holds messages or a loss to report, then
// appends every held message to dst (oldest first) and returns it with the
// number of messages lost since the last call and when the first of them
// was lost. It returns ctx.Err() when ctx ends and io.EOF once the queue
// was ended. The returned slices stay valid (they are never modified).
func (q *TailQueue) Next(ctx context.Context, dst [][]byte) (msgs [][]byte, lost int, since time.Time, err error) {
	for {
		q.mu.Lock()
		if q.ended {
			q.mu.Unlock()
			return dst, 0, time.Time{}, io.EOF
		}
		q.hand = 0 // the caller is done with what it took before
		if q.n > 0 || q.lost > 0 {
			for ; q.n > 0; q.n-- {
				dst = append(dst, q.ring[q.head])
				q.ring[q.head] = nil
				q.head = (q.head + 1) % len(q.ring)
			}
			q.hand, q.bytes = q.bytes, 0
			q.account()
			lost, since = q.lost, q.since
			q.lost, q.since = 0, time.Time{}
			q.mu.Unlock()
			return dst, lost, since, nil
		}
		q.account()
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			return dst, 0, time.Time{}, ctx.Err()
		}
	}
}

// End ends the queue: held messages are discarded, Push does nothing and
// Next returns io.EOF (kill_tail_sessions, or the bus closing).
func (q *TailQueue) End() {
	q.mu.Lock()
	q.ended = true
	clear(q.ring)
	q.n, q.bytes, q.hand = 0, 0, 0
	q.account()
	q.mu.Unlock()
	q.wake()
}

// Len is the number of messages held.
func (q *TailQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// ShareBatch copies msgs into one new buffer and returns slices of it, for
// a bus to push the same immutable batch to several queues.
func ShareBatch(msgs [][]byte) [][]byte {
	size := 0
	for _, m := range msgs {
		size += len(m)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		off := len(buf)
		buf = append(buf, m...)
		out[i] = buf[off:len(buf):len(buf)]
	}
	return out
}

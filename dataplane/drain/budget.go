package drain

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// bufBudget bounds the memory of all the drain buffers of a node together
// (Options.BuffersMaxBytes). Each buffer bounds itself in messages
// (Logplex's 1 024); with 20 000 drains whose receivers hang, or a tenant
// whose drains never answer and whose messages are 10 KB, that is
// gigabytes. The budget counts each buffer's footprint (its ring's byte
// buffer and index, Ring.Footprint), which changes only when a ring grows
// or gives its memory back: a push pays an atomic load and a compare or
// two, and an atomic add only when its buffer grew or shrank.
//
// While the node holds more than max, every push to a buffer bounds it to
// its share, max divided among the buffers that hold memory (at least
// minShare): a buffer over it drops its oldest messages (Ring.Fit: into
// the drain's disk spill if it has one, else lost and reported by L10 as
// any overflow) and grows no further. Drains that keep up hold far less
// than a share and lose nothing; the ones whose receivers do not take
// their messages are the ones cut down. Once the node holds less than
// 7/8 of max, buffers are bounded only in messages again.
type bufBudget struct {
	max    int64
	held   atomic.Int64 // footprints of the buffers accounted
	active atomic.Int64 // buffers holding memory
}

// minShare is the least a buffer is bounded to: room for one of the
// largest messages (10 240 bytes) and its index.
const minShare = 32 << 10

// newBufBudget returns a budget of max bytes, nil (no bound) for max <= 0.
func newBufBudget(max int64) *bufBudget {
	if max <= 0 {
		return nil
	}
	buffersMax.Store(max)
	return &bufBudget{max: max}
}

// share is what one buffer may hold while the node is over its budget.
func (g *bufBudget) share() int {
	return int(max(g.max/max(g.active.Load(), 1), minShare))
}

// Node-wide figures of the budget (one Manager per process; tests that
// make several share them).
var (
	buffersHeld atomic.Int64
	buffersMax  atomic.Int64
	_           = metrics.NewGauge(`logplex_drain_buffers_bytes`, func() float64 { return float64(buffersHeld.Load()) })
	_           = metrics.NewGauge(`logplex_drain_buffers_max_bytes`, func() float64 { return float64(buffersMax.Load()) })
	buffersShed = metrics.NewCounter(`logplex_drain_buffers_shed_total`)
)

// bound applies the budget to b before a push: the buffer's share while
// the node is over it, no byte bound once it is well under. Under b.mu.
func (b *Buffer) bound(now int64) {
	g := b.bud
	held := g.held.Load()
	switch {
	case held > g.max:
		// the ring's buffer grows to twice its bound: bound it to half
		// its share
		share := g.share()
		if b.ring.Footprint() > share {
			b.drops += uint64(b.ring.Fit(share/2, now)) // the ring counts them as shed and lost (L10)
		} else if b.ring.MaxBytes() != share/2 {
			b.ring.SetMaxBytes(share / 2)
		}
	case held < g.max-g.max/8 && b.ring.MaxBytes() != 0:
		b.ring.SetMaxBytes(0)
	}
}

// account brings the budget up to date with b's footprint, and the node's
// count of shed messages with the ring's; under b.mu.
func (b *Buffer) account() {
	g := b.bud
	if g == nil {
		return
	}
	if n := b.ring.TakeShed(); n > 0 {
		buffersShed.Add(n)
	}
	f := b.ring.Footprint()
	d := f - b.acct
	if d == 0 {
		return
	}
	switch {
	case b.acct == 0:
		g.active.Add(1)
	case f == 0:
		g.active.Add(-1)
	}
	b.acct = f
	g.held.Add(int64(d))
	buffersHeld.Add(int64(d))
}

// release takes b out of its budget (a stopped drain, whose buffer is
// garbage once the router lets it go); under b.mu.
func (b *Buffer) release() {
	if g := b.bud; g != nil && b.acct != 0 {
		g.held.Add(-int64(b.acct))
		buffersHeld.Add(-int64(b.acct))
		g.active.Add(-1)
	}
	b.bud, b.acct = nil, 0
}

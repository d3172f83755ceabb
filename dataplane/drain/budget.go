package drain

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/internal/membudget"
)

// The node's budget for drain buffers (Options.BuffersMaxBytes; the rule
// is membudget's). The budget counts each buffer's footprint (its ring's
// byte buffer and index, Ring.Footprint), which changes only when a ring
// grows or gives its memory back: a push pays an atomic load and a
// compare or two, and an atomic add only when its buffer grew or shrank.
// A buffer over its share drops its oldest messages (Ring.Fit: into the
// drain's disk spill if it has one, else lost and reported by L10 as any
// overflow) and grows no further.

// newBufBudget returns a budget of max bytes, nil (no bound) for max <= 0;
// the node's gauges show the newest one made.
func newBufBudget(max int64) *membudget.Budget {
	g := membudget.New(max)
	if g != nil {
		buffersBudget.Store(g)
	}
	return g
}

// The node's budget, for its gauges (one Manager per process; in tests
// that make several, the newest), and what it shed.
var (
	buffersBudget atomic.Pointer[membudget.Budget]
	_             = metrics.NewGauge(`logplex_drain_buffers_bytes`, func() float64 { return float64(buffersBudget.Load().Held()) })
	_             = metrics.NewGauge(`logplex_drain_buffers_max_bytes`, func() float64 { return float64(buffersBudget.Load().Max()) })
	buffersShed   = metrics.NewCounter(`logplex_drain_buffers_shed_total`)
)

// bound applies the budget to b before a push: the buffer's share while
// the node is over it, no byte bound once it is well under. Under b.mu.
func (b *Buffer) bound(now int64) {
	g := b.bud
	switch {
	case g.Over():
		// the ring's buffer grows to twice its bound: bound it to half
		// its share
		share := g.Share()
		if b.ring.Footprint() > share {
			b.drops += uint64(b.ring.Fit(share/2, now)) // the ring counts them as shed and lost (L10)
		} else if b.ring.MaxBytes() != share/2 {
			b.ring.SetMaxBytes(share / 2)
		}
	case b.ring.MaxBytes() != 0 && g.Relaxed(): // an unbounded ring pays no second load
		b.ring.SetMaxBytes(0)
	}
}

// account brings the budget up to date with b's footprint, and the node's
// count of shed messages with the ring's; under b.mu.
func (b *Buffer) account() {
	if b.bud == nil {
		return
	}
	if n := b.ring.TakeShed(); n > 0 {
		buffersShed.Add(n)
	}
	if f := b.ring.Footprint(); f != b.acct {
		b.bud.Move(b.acct, f)
		b.acct = f
	}
}

// release takes b out of its budget (a stopped drain, whose buffer is
// garbage once the router lets it go).
func (b *Buffer) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bud.Move(b.acct, 0)
	b.bud, b.acct = nil, 0
}

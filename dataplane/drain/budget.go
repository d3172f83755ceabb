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
// its share: what the small buffers (at most minShare each) leave of max,
// divided among the big ones, and at least minShare. A buffer over its
// share drops its oldest messages (Ring.Fit: into the drain's disk spill
// if it has one, else lost and reported by L10 as any overflow) and grows
// no further. Drains that keep up hold a few KB, stay small and lose
// nothing; the big ones, whose receivers do not take their messages,
// share what is left, so a few of them among thousands of small ones keep
// most of the budget. Once the node holds less than 7/8 of max, buffers
// are bounded only in messages again.
type bufBudget struct {
	max     int64
	held    atomic.Int64 // footprints of the buffers accounted
	big     atomic.Int64 // buffers whose footprint is over minShare
	bigHeld atomic.Int64 // their footprints
}

// minShare is the least a buffer is bounded to (room for one of the
// largest messages, 10 240 bytes, and its index), and what makes a
// buffer big.
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
	small := g.held.Load() - g.bigHeld.Load()
	return int(max((g.max-small)/max(g.big.Load(), 1), minShare))
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
	if f == b.acct {
		return
	}
	g.count(b.acct, -1)
	g.count(f, 1)
	b.acct = f
}

// count adds (sign 1) or removes (-1) a buffer's footprint f.
func (g *bufBudget) count(f int, sign int64) {
	if f == 0 {
		return
	}
	d := sign * int64(f)
	g.held.Add(d)
	buffersHeld.Add(d)
	if f > minShare {
		g.big.Add(sign)
		g.bigHeld.Add(d)
	}
}

// release takes b out of its budget (a stopped drain, whose buffer is
// garbage once the router lets it go).
func (b *Buffer) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.bud; g != nil {
		g.count(b.acct, -1)
	}
	b.bud, b.acct = nil, 0
}

// Package membudget bounds the memory of many buffers together: the drain
// buffers of a data plane (dataplane/drain), the tail queues of a control
// plane (store.TailQueue). Each buffer bounds itself in messages
// (Logplex's 1 024); with thousands of them whose readers take nothing,
// and messages of 10 KB, that is gigabytes. A Budget counts what each
// buffer holds (its owner reports every change with Move) and, while the
// node holds more than its max, tells each buffer its share: what the
// small buffers (at most MinShare each) leave of max, divided among the
// big ones, and at least MinShare. A buffer over its share drops its
// oldest messages (reported as its own overflow). Buffers whose readers
// keep up stay small and lose nothing; the big ones share what is left,
// so a few of them among thousands of small ones keep most of the budget.
// Once the node holds less than 7/8 of max (Relaxed), buffers are bounded
// in messages only again.
//
// Every method is safe for concurrent use and costs a few atomic
// operations: a buffer calls Over (or Relaxed) before it grows and Move
// when the bytes it holds changed.
package membudget

import "sync/atomic"

// MinShare is the least a buffer is bounded to (room for one of the
// largest messages, 10 240 bytes, and an index), and what makes a buffer
// big.
const MinShare = 32 << 10

// Budget is a bound of max bytes on a set of buffers. A nil *Budget is
// no bound: Over and Relaxed report false, Move does nothing.
type Budget struct {
	max     int64
	held    atomic.Int64 // bytes of the buffers accounted
	big     atomic.Int64 // buffers holding more than MinShare
	bigHeld atomic.Int64 // their bytes
}

// New returns a budget of max bytes; nil (no bound) for max <= 0.
func New(max int64) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: max}
}

// Max is the budget in bytes (0 for none).
func (g *Budget) Max() int64 {
	if g == nil {
		return 0
	}
	return g.max
}

// Held is what the buffers hold together now.
func (g *Budget) Held() int64 {
	if g == nil {
		return 0
	}
	return g.held.Load()
}

// Big is how many buffers hold more than MinShare, and their bytes.
func (g *Budget) Big() (n, bytes int64) {
	if g == nil {
		return 0, 0
	}
	return g.big.Load(), g.bigHeld.Load()
}

// Over reports whether the buffers hold more than the budget: each then
// keeps to its Share.
func (g *Budget) Over() bool { return g != nil && g.held.Load() > g.max }

// Relaxed reports whether the buffers hold less than 7/8 of the budget: a
// buffer bounded to its share while the node was over may lift its bound.
func (g *Budget) Relaxed() bool { return g != nil && g.held.Load() < g.max-g.max/8 }

// Share is what one buffer may hold while the node is Over.
func (g *Budget) Share() int {
	small := g.held.Load() - g.bigHeld.Load()
	return int(max((g.max-small)/max(g.big.Load(), 1), MinShare))
}

// Move records that a buffer accounted at from bytes now holds to (0 for
// a buffer that starts, or that is gone).
func (g *Budget) Move(from, to int) {
	if g == nil || from == to {
		return
	}
	g.count(from, -1)
	g.count(to, 1)
}

// count adds (sign 1) or removes (-1) a buffer of f bytes.
func (g *Budget) count(f int, sign int64) {
	if f == 0 {
		return
	}
	d := sign * int64(f)
	g.held.Add(d)
	if f > MinShare {
		g.big.Add(sign)
		g.bigHeld.Add(d)
	}
}

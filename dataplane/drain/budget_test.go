package drain

import (
	"bytes"
	"testing"

	"github.com/logplex/logplex/ringbuf"
)

// TestBufferBudget: drains whose receivers take nothing, pushed 10 KB
// messages, are cut down to their shares of the node's budget (their
// oldest messages dropped, as losses for L10 and in their drop counts),
// while a drain that keeps up, pushed in between, loses nothing; once the
// hung ones are emptied the bound lifts, and stopped drains leave the
// budget at zero.
func TestBufferBudget(t *testing.T) {
	const budget = 1 << 20
	g := newBufBudget(budget)
	newBuf := func() *Buffer {
		b := NewBuffer(1024, FormCooked)
		b.bud = g
		return b
	}
	hung := []*Buffer{newBuf(), newBuf(), newBuf(), newBuf()}
	healthy := newBuf()
	shedBefore := buffersShed.Get()

	big := bytes.Repeat([]byte("x"), 10_000)
	small := bytes.Repeat([]byte("y"), 200)
	got := 0
	for i := range 1024 {
		for _, b := range hung {
			b.PushRun(big, []Span{{Off: 0, End: uint32(len(big))}}, int64(i))
		}
		healthy.PushRun(small, []Span{{Off: 0, End: uint32(len(small))}}, int64(i))
		healthy.With(func(r *ringbuf.Ring) { got += r.PopWhile(func([]byte) bool { return true }) })
	}
	// every buffer within its share, give or take its index (8 KiB) and
	// the message that arrived last
	if held, most := g.held.Load(), int64(budget+5*(8<<10+len(big))); held > most {
		t.Fatalf("the node's drain buffers hold %d bytes, budget %d (at most %d expected)", held, budget, most)
	}
	if g.active.Load() != 5 {
		t.Fatalf("%d buffers counted as holding memory, want 5", g.active.Load())
	}
	shed := 0
	for i, b := range hung {
		lost, _ := b.ring.Loss()
		_, drops, held := b.Stats()
		if lost == 0 || uint64(lost) != drops || lost+held != 1024 {
			t.Fatalf("hung drain %d: lost %d, drops %d, held %d of 1024", i, lost, drops, held)
		}
		shed += lost
	}
	if n := buffersShed.Get() - shedBefore; n != uint64(shed) {
		t.Fatalf("logplex_drain_buffers_shed_total rose by %d, the drains lost %d", n, shed)
	}
	if lost, _ := healthy.ring.Loss(); lost != 0 || got != 1024 {
		t.Fatalf("the drain that keeps up lost %d, got %d of 1024", lost, got)
	}

	// the hung drains' receivers come back: their buffers empty and the
	// healthy drain is bounded in messages only again
	for _, b := range hung {
		b.With(func(r *ringbuf.Ring) { r.PopWhile(func([]byte) bool { return true }) })
		b.Trim()
	}
	healthy.PushRun(small, []Span{{Off: 0, End: uint32(len(small))}}, 2000)
	if m := healthy.ring.MaxBytes(); m != 0 {
		t.Fatalf("under the budget, a buffer is still bounded to %d bytes", m)
	}
	for _, b := range append(hung, healthy) {
		b.mu.Lock()
		b.release()
		b.mu.Unlock()
	}
	if g.held.Load() != 0 || g.active.Load() != 0 {
		t.Fatalf("after every drain stopped the budget counts %d bytes in %d buffers", g.held.Load(), g.active.Load())
	}
}

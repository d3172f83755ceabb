package drain

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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
	if held, most := g.Held(), int64(budget+5*(8<<10+len(big))); held > most {
		t.Fatalf("the node's drain buffers hold %d bytes, budget %d (at most %d expected)", held, budget, most)
	}
	if n, _ := g.Big(); n != 4 {
		t.Fatalf("%d buffers counted as big, want the 4 hung ones", n)
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
		b.release()
	}
	if n, bigHeld := g.Big(); g.Held() != 0 || n != 0 || bigHeld != 0 {
		t.Fatalf("after every drain stopped the budget counts %d bytes, %d big buffers of %d", g.Held(), n, bigHeld)
	}
}

// TestBufferBudgetShares: with many drains that keep up (small buffers)
// and two whose receivers take nothing, the two share what the small ones
// leave of the budget, not the budget divided among all of them.
func TestBufferBudgetShares(t *testing.T) {
	const budget = 1 << 20
	g := newBufBudget(budget)
	small := make([]*Buffer, 300)
	msg := bytes.Repeat([]byte("s"), 200)
	for i := range small {
		small[i] = NewBuffer(1024, FormCooked)
		small[i].bud = g
		small[i].PushRun(msg, []Span{{Off: 0, End: uint32(len(msg))}}, 0)
	}
	hung := []*Buffer{NewBuffer(1024, FormCooked), NewBuffer(1024, FormCooked)}
	big := bytes.Repeat([]byte("x"), 10_000)
	for i := range 1024 {
		for _, b := range hung {
			b.bud = g
			b.PushRun(big, []Span{{Off: 0, End: uint32(len(big))}}, int64(i))
		}
	}
	_, bigHeld := g.Big()
	smallHeld := g.Held() - bigHeld
	for i, b := range hung {
		// each may hold half its share in messages, its share being what
		// the small buffers leave, halved between the two
		if want := int(budget-smallHeld) / 2 / 2 * 9 / 10; b.ring.Size() < want {
			t.Errorf("hung drain %d keeps %d bytes of messages, want at least %d (the small buffers hold %d of the %d)",
				i, b.ring.Size(), want, smallHeld, budget)
		}
	}
	if held, most := g.Held(), int64(budget+2*(8<<10+len(big))); held > most {
		t.Fatalf("the buffers hold %d bytes, budget %d", held, budget)
	}
	for _, b := range small {
		if lost, _ := b.ring.Loss(); lost != 0 {
			t.Fatalf("a small buffer lost %d", lost)
		}
	}
}

// TestHTTPBodyBufferGivenBackWhenBounded: the body buffers a drain's big
// frames grew (plain and compressed) are given back at its next frame once
// its buffer is bounded by the node's budget, so a drain that is behind
// holds no more than its share in its frame either. The sender's frame
// steps run on the test's goroutine: no endpoint, no sender goroutine.
func TestHTTPBodyBufferGivenBackWhenBounded(t *testing.T) {
	for _, coding := range []string{"none", "gzip"} {
		t.Run(coding, func(t *testing.T) { httpBodyBufferGivenBack(t, coding) })
	}
}

func httpBodyBufferGivenBack(t *testing.T, coding string) {
	d, s := newHTTPDrain(t, Options{}, "http://127.0.0.1:9/", coding)
	rng := rand.New(rand.NewPCG(1, 2)) // text that gzip does not shrink much
	var msgs [][]byte
	for i := range 100 {
		m := fmt.Appendf(nil, "<134>1 2012-12-10T03:00:48Z erlang app web.1 - - %d ", i)
		for range 900 {
			m = append(m, byte('!'+rng.IntN(90)))
		}
		msgs = append(msgs, m)
	}
	frame := func() {
		t.Helper()
		s.fr = httpFrame{} // the last frame was delivered
		if !s.nextFrame() {
			t.Fatal("no frame")
		}
		s.body(time.Now())
	}
	push(d, msgs...)
	frame()
	if c := cap(s.raw); c < 90_000 {
		t.Fatalf("a frame of 100 messages of ~1 KB grew the body buffer to %d bytes only", c)
	}
	if c := cap(s.zbody); coding == "gzip" && c < 40_000 {
		t.Fatalf("the compressed body of that frame took %d bytes only", c)
	}
	const bound = 16 << 10
	d.Buf.With(func(r *ringbuf.Ring) { r.SetMaxBytes(bound) })
	push(d, msgs[0])
	frame()
	if c := cap(s.raw); c > httpL10Room+2*bound {
		t.Fatalf("bounded to %d bytes, the drain still holds a body buffer of %d", bound, c)
	}
	if c := cap(s.zbody); c > 2*bound {
		t.Fatalf("bounded to %d bytes, the drain still holds a compressed body buffer of %d", bound, c)
	}
}

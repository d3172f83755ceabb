package ringbuf

import (
	"fmt"
	"testing"
)

func contents(r *Ring) []string {
	var out []string
	r.Each(func(m []byte) { out = append(out, string(m)) })
	return out
}

func TestRingDropOldestCountsLoss(t *testing.T) {
	r := NewRing(3)
	for i := 1; i <= 5; i++ {
		dropped := r.Push([]byte(fmt.Sprint(i)), int64(i*10))
		if want := i > 3; dropped != want {
			t.Fatalf("push %d: dropped=%v want %v", i, dropped, want)
		}
	}
	if got := fmt.Sprint(contents(r)); got != "[3 4 5]" {
		t.Fatalf("contents %s", got)
	}
	if n, since := r.TakeLoss(); n != 2 || since != 40 {
		t.Fatalf("loss %d since %d, want 2 since 40", n, since)
	}
	if n, _ := r.Loss(); n != 0 {
		t.Fatalf("loss not reset: %d", n)
	}
}

func TestRingPopWhileStopsAndKeeps(t *testing.T) {
	r := NewRing(8)
	for _, m := range []string{"aa", "bbb", "cccc"} {
		r.Push([]byte(m), 0)
	}
	budget := 6
	k := r.PopWhile(func(m []byte) bool {
		if len(m) > budget {
			return false
		}
		budget -= len(m)
		return true
	})
	if k != 2 || r.Len() != 1 {
		t.Fatalf("popped %d, left %d", k, r.Len())
	}
	if m, _ := r.Peek(); string(m) != "cccc" {
		t.Fatalf("left %q", m)
	}
}

func TestRingResize(t *testing.T) {
	r := NewRing(100)
	for i := 0; i < 50; i++ {
		r.Push([]byte(fmt.Sprint(i)), 7)
	}
	r.Resize(10, 9)
	if r.Len() != 10 || r.Cap() != 10 {
		t.Fatalf("len %d cap %d", r.Len(), r.Cap())
	}
	if m, _ := r.Peek(); string(m) != "40" {
		t.Fatalf("oldest kept %q, want 40 (newest kept)", m)
	}
	if n, since := r.Loss(); n != 40 || since != 9 {
		t.Fatalf("loss %d since %d", n, since)
	}
	r.Resize(1024, 10)
	for i := 0; i < 500; i++ {
		r.Push([]byte("x"), 11)
	}
	if r.Len() != 510 {
		t.Fatalf("after growing: len %d", r.Len())
	}
	if got := contents(r)[0]; got != "40" {
		t.Fatalf("order lost on grow: first %q", got)
	}
}

func TestRingAddLoss(t *testing.T) {
	r := NewRing(2)
	r.AddLoss(0, 5)
	r.AddLoss(3, 6)
	r.Push([]byte("a"), 7)
	r.Push([]byte("b"), 7)
	r.Push([]byte("c"), 8)
	if n, since := r.TakeLoss(); n != 4 || since != 6 {
		t.Fatalf("loss %d since %d", n, since)
	}
}

func TestRingPushAllocatesNothingWhenWarm(t *testing.T) {
	r := NewRing(64)
	msg := make([]byte, 120)
	for i := 0; i < 128; i++ {
		r.Push(msg, 1)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		r.Push(msg, 1)
		r.Pop()
		r.Push(msg, 1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per push/pop", allocs)
	}
}

func TestPoolDropsForeignSizes(t *testing.T) {
	b := GetBuf()
	b.B = append(b.B, "hello"...)
	PutBuf(b)
	c := GetBuf()
	if len(c.B) != 0 {
		t.Fatalf("pooled buffer not reset: %q", c.B)
	}
	huge := &Buf{B: make([]byte, 0, MaxPooled+1)}
	PutBuf(huge) // must not panic, must not be kept
}

func BenchmarkRingPushPop(b *testing.B) {
	r := NewRing(1024)
	msg := make([]byte, 120)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Push(msg, int64(i))
		if r.Len() > 512 {
			r.Pop()
		}
	}
}

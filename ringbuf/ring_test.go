package ringbuf

import (
	"fmt"
	"math/rand/v2"
	"strings"
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

// TestRingMatchesModel drives a ring and a plain slice with the same random
// pushes (sizes from 0 to past maxKeptBytes), runs (PushRun, up to twice the
// ring), pops, partial PopWhiles and resizes, and compares contents and
// losses after every step.
// size is the bytes of the messages of model.
func size(model []string) (n int) {
	for _, m := range model {
		n += len(m)
	}
	return n
}

// fitModel is the byte bound (Ring.SetMaxBytes) after a push: the oldest
// messages go until the rest fit in maxB bytes, the newest always stays.
func fitModel(model []string, maxB int) []string {
	for maxB > 0 && len(model) > 1 && size(model) > maxB {
		model = model[1:]
	}
	return model
}

// TestRingMatchesModel: pushes (single and runs), pops, resizes, byte
// bounds (Fit and SetMaxBytes) and loss reports at random against a slice.
func TestRingMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		limit := 1 + rng.IntN(300)
		r := NewRing(limit)
		var model []string
		lost, shed, maxB := 0, 0, 0
		for step := 0; step < 3000; step++ {
			switch op := rng.IntN(100); {
			case op < 8: // a run, sometimes longer than the ring
				var run []byte
				spans := []Span(nil)
				run = append(run, "junk before"[:rng.IntN(12)]...)
				drops := 0
				for j := range rng.IntN(2*limit + 2) {
					m := fmt.Sprintf("%d-%d-%d-", round, step, j) + strings.Repeat("r", rng.IntN(150))
					spans = append(spans, Span{uint32(len(run)), uint32(len(run) + len(m))})
					run = append(run, m...)
					if len(model) == limit {
						model, lost, drops = model[1:], lost+1, drops+1
					}
					model = append(model, m)
				}
				n := len(model)
				model = fitModel(model, maxB)
				lost, shed, drops = lost+n-len(model), shed+n-len(model), drops+n-len(model)
				run = append(run, "junk after"...)
				if got := r.PushRun(run, spans, int64(step)); got != drops {
					t.Fatalf("round %d step %d: PushRun of %d dropped %d, want %d", round, step, len(spans), got, drops)
				}
			case op < 60:
				size := rng.IntN(200)
				if rng.IntN(500) == 0 {
					size = maxKeptBytes + rng.IntN(1000)
				}
				m := fmt.Sprintf("%d-%d-", round, step)
				m += strings.Repeat(string(rune('a'+step%26)), max(size-len(m), 0))
				full := len(model) == limit
				if full {
					model, lost = model[1:], lost+1
				}
				model = append(model, m)
				n := len(model)
				model = fitModel(model, maxB)
				lost, shed = lost+n-len(model), shed+n-len(model)
				if dropped, want := r.Push([]byte(m), int64(step)), full || n > len(model); dropped != want {
					t.Fatalf("round %d step %d: push dropped=%v, want %v (full %v, over the byte bound %v)", round, step, dropped, want, full, n > len(model))
				}
			case op < 75:
				m, ok := r.Pop()
				if ok != (len(model) > 0) || (ok && string(m) != model[0]) {
					t.Fatalf("round %d step %d: pop %q %v, want %v", round, step, m, ok, model)
				}
				if ok {
					model = model[1:]
				}
			case op < 90:
				k := rng.IntN(len(model) + 2)
				want := min(k, len(model))
				got := r.PopWhile(func(m []byte) bool {
					if k == 0 {
						return false
					}
					if string(m) != model[0] {
						t.Fatalf("round %d step %d: PopWhile saw %q want %q", round, step, m, model[0])
					}
					k--
					model = model[1:]
					return true
				})
				if got != want {
					t.Fatalf("round %d step %d: PopWhile removed %d want %d", round, step, got, want)
				}
			case op < 93: // bound the bytes, at once (Fit) or from the next push on
				maxB = 0
				if rng.IntN(3) > 0 {
					maxB = rng.IntN(4000)
				}
				if rng.IntN(2) == 0 {
					for size(model) > maxB && maxB > 0 {
						model, lost, shed = model[1:], lost+1, shed+1
					}
					if got, want := r.Fit(maxB, int64(step)), 0; maxB == 0 && got != want {
						t.Fatalf("round %d step %d: Fit(0) dropped %d", round, step, got)
					}
					if maxB > 0 && cap(r.data) > max(2*maxB, minBytes) {
						t.Fatalf("round %d step %d: fitted to %d bytes, the buffer holds %d", round, step, maxB, cap(r.data))
					}
				} else {
					r.SetMaxBytes(maxB)
				}
			case op < 95:
				limit = 1 + rng.IntN(300)
				r.Resize(limit, int64(step))
				if len(model) > limit {
					lost += len(model) - limit
					model = model[len(model)-limit:]
				}
			default:
				n, _ := r.TakeLoss()
				if n != lost {
					t.Fatalf("round %d step %d: loss %d want %d", round, step, n, lost)
				}
				if n := r.TakeShed(); n != shed {
					t.Fatalf("round %d step %d: shed %d want %d", round, step, n, shed)
				}
				lost, shed = 0, 0
			}
			if r.Size() != size(model) {
				t.Fatalf("round %d step %d: Size %d, want %d", round, step, r.Size(), size(model))
			}
			if got := contents(r); len(got) != len(model) || r.Len() != len(model) || (len(got) > 0 && (got[0] != model[0] || got[len(got)-1] != model[len(model)-1])) {
				t.Fatalf("round %d step %d: %d held (Len %d), want %d", round, step, len(got), r.Len(), len(model))
			}
		}
		if got, want := strings.Join(contents(r), "|"), strings.Join(model, "|"); got != want {
			t.Fatalf("round %d: contents differ", round)
		}
	}
}

// TestRingMemoryFollowsContents: a new ring holds no buffer; a ring emptied
// after a burst of big messages keeps its buffer while the burst is the
// busy period that just ended, releases it when it next empties after a
// small one, and at once on Trim; the index grows only as far as the
// messages held.
func TestRingMemoryFollowsContents(t *testing.T) {
	r := NewRing(1024)
	if cap(r.data) != 0 || len(r.recs) != 0 {
		t.Fatalf("new ring holds %d bytes, %d index slots", cap(r.data), len(r.recs))
	}
	r.Push([]byte("x"), 0)
	if len(r.recs) > minRecs || cap(r.data) > minBytes {
		t.Fatalf("one message: %d index slots, %d bytes", len(r.recs), cap(r.data))
	}
	big := make([]byte, 100<<10)
	for i := 0; i < 8; i++ {
		r.Push(big, 0)
	}
	if cap(r.data) < 8*len(big) {
		t.Fatalf("holding 800 KiB in %d bytes", cap(r.data))
	}
	for r.Len() > 0 {
		r.Pop()
	}
	burst := cap(r.data)
	if burst < 8*len(big) {
		t.Fatalf("emptied right after the burst: %d bytes kept, want the burst's %d", burst, 8*len(big))
	}
	for range 3 { // busy periods that use half the buffer: kept
		for range 2 {
			r.Push(make([]byte, burst/4), 0)
		}
		r.Pop()
		r.Pop()
		if cap(r.data) != burst {
			t.Fatalf("busy with half the buffer: %d bytes, want the %d kept", cap(r.data), burst)
		}
	}
	r.Push([]byte("small"), 0) // a small busy period
	r.Pop()
	if cap(r.data) != 0 {
		t.Fatalf("empty after a small period that followed the burst: still %d bytes", cap(r.data))
	}
	for i := 0; i < 8; i++ {
		r.Push(big, 0)
	}
	for r.Len() > 0 {
		r.Pop()
	}
	r.Trim()
	if cap(r.data) != 0 {
		t.Fatalf("trimmed: still %d bytes", cap(r.data))
	}
}

// takeSome is an Overflow that keeps up to room messages.
type takeSome struct {
	room int
	got  []string
}

func (o *takeSome) Spill(run []byte, lens []uint32, now int64) int {
	off, n := 0, 0
	for _, l := range lens {
		if o.room == 0 {
			break
		}
		o.got = append(o.got, string(run[off:off+int(l)]))
		off += int(l)
		o.room--
		n++
	}
	return n
}

// TestOverflowTakesTheDisplaced: a full ring hands what it displaces,
// oldest first, to its Overflow (single pushes, runs bigger than the ring,
// shrinking, SpillAll) and counts as lost only what the Overflow refuses.
func TestOverflowTakesTheDisplaced(t *testing.T) {
	r := NewRing(3)
	o := &takeSome{room: 6}
	r.SetOverflow(o)
	for i := range 5 {
		if r.Push([]byte(fmt.Sprint("a", i)), 1) {
			t.Fatalf("push %d reported a loss the overflow took", i)
		}
	}
	// a run of 4 into a full ring of 3: the 3 held and the first of the run go
	var run []byte
	var spans []Span
	for i := range 4 {
		s := uint32(len(run))
		run = append(run, fmt.Sprint("b", i)...)
		spans = append(spans, Span{Off: s, End: uint32(len(run))})
	}
	if d := r.PushRun(run, spans, 2); d != 0 {
		t.Fatalf("PushRun dropped %d, want 0 (room for 4 more)", d)
	}
	if got := fmt.Sprint(o.got); got != "[a0 a1 a2 a3 a4 b0]" {
		t.Fatalf("overflow got %s", got)
	}
	// room for none: displaced messages are lost and counted
	if !r.Push([]byte("c0"), 3) {
		t.Fatal("push past a full overflow reported no loss")
	}
	if n, since := r.Loss(); n != 1 || since != 3 {
		t.Fatalf("loss %d since %d", n, since)
	}
	o.room = 10
	r.Resize(1, 4)
	if lost := r.SpillAll(5); lost != 0 || r.Len() != 0 {
		t.Fatalf("SpillAll lost %d, left %d", lost, r.Len())
	}
	if got := fmt.Sprint(o.got[6:]); got != "[b2 b3 c0]" {
		t.Fatalf("after shrink and SpillAll the overflow got %s", got)
	}
}

// TestRingMaxBytesBoundsGrowth: a ring bounded in bytes never grows its
// buffer past twice the bound, keeps the newest messages that fit, and
// offers what it sheds to its Overflow before counting it lost.
func TestRingMaxBytesBoundsGrowth(t *testing.T) {
	r := NewRing(1024)
	o := &takeSome{room: 50}
	r.SetOverflow(o)
	r.SetMaxBytes(10_000)
	msg := make([]byte, 100)
	for i := range 1000 {
		msg[0] = byte(i)
		r.Push(msg, 1)
		if cap(r.data) > 20_000 {
			t.Fatalf("push %d: buffer of %d bytes, bound 10000 (20000 for the buffer)", i, cap(r.data))
		}
	}
	if r.Len() != 100 || r.Size() != 10_000 {
		t.Fatalf("held %d messages, %d bytes; want the newest 100, 10000 bytes", r.Len(), r.Size())
	}
	if m, _ := r.Peek(); m[0] != byte(900%256) {
		t.Fatalf("oldest held is push %d (mod 256), want 900", m[0])
	}
	if lost, _ := r.Loss(); lost != 850 || len(o.got) != 50 {
		t.Fatalf("lost %d, overflow took %d; want 850 and 50", lost, len(o.got))
	}
	if shed := r.TakeShed(); shed != 850 {
		t.Fatalf("shed %d, want 850", shed)
	}
	if r.Footprint() != cap(r.data)+8*len(r.recs) {
		t.Fatalf("footprint %d", r.Footprint())
	}
}

// TestRingHoldsAtMostMaxHeldBytes: a ring whose capacity in messages would
// let it hold more than maxHeldBytes (lowered here; 1 GiB: its index keeps
// uint32 offsets) drops its oldest beyond it, counted as lost, not as shed
// (no byte bound was set), and its buffer stays within twice the bound;
// a byte bound above maxHeldBytes does not lift it.
func TestRingHoldsAtMostMaxHeldBytes(t *testing.T) {
	defer func(m int) { maxHeldBytes = m }(maxHeldBytes)
	maxHeldBytes = 10_000
	for _, set := range []int{0, 50_000} {
		r := NewRing(1 << 20)
		r.SetMaxBytes(set)
		msg := make([]byte, 100)
		for i := range 1000 {
			msg[0] = byte(i)
			r.Push(msg, 1)
			if cap(r.data) > 20_000+minBytes {
				t.Fatalf("SetMaxBytes(%d), push %d: buffer of %d bytes, want at most twice 10000", set, i, cap(r.data))
			}
		}
		if r.Len() != 100 || r.Size() != 10_000 {
			t.Fatalf("SetMaxBytes(%d): held %d messages, %d bytes; want the newest 100, 10000 bytes", set, r.Len(), r.Size())
		}
		if m, _ := r.Peek(); m[0] != byte(900%256) {
			t.Fatalf("SetMaxBytes(%d): oldest held is push %d (mod 256), want 900", set, m[0])
		}
		if lost, _ := r.Loss(); lost != 900 {
			t.Fatalf("SetMaxBytes(%d): lost %d, want 900", set, lost)
		}
		if shed := r.TakeShed(); shed != 0 {
			t.Fatalf("SetMaxBytes(%d): shed %d, want 0 (no budget bound them)", set, shed)
		}
	}
}

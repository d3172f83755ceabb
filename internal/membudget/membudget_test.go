package membudget

import "testing"

// TestBudget: Move keeps the counts, a share is what the small buffers
// leave divided among the big ones (at least MinShare), and a nil budget
// bounds nothing.
func TestBudget(t *testing.T) {
	const max = 1 << 20
	g := New(max)
	for range 300 {
		g.Move(0, 1000) // small buffers: 300 000 bytes
	}
	a := 0
	for _, to := range []int{40 << 10, 400 << 10, 600 << 10} { // a big buffer grows
		g.Move(a, to)
		a = to
	}
	g.Move(0, 500<<10) // a second one
	if n, held := g.Big(); n != 2 || held != 1100<<10 {
		t.Fatalf("big %d holding %d, want 2 holding %d", n, held, 1100<<10)
	}
	if !g.Over() || g.Relaxed() || g.Held() != 300_000+1100<<10 {
		t.Fatalf("held %d: over %v, relaxed %v", g.Held(), g.Over(), g.Relaxed())
	}
	if got, want := g.Share(), (max-300_000)/2; got != want {
		t.Fatalf("share %d, want %d", got, want)
	}
	g.Move(a, 0)
	g.Move(500<<10, 1000) // both big ones shrink: no big buffer left
	if n, held := g.Big(); n != 0 || held != 0 || g.Over() || !g.Relaxed() {
		t.Fatalf("big %d holding %d, over %v, relaxed %v", n, held, g.Over(), g.Relaxed())
	}
	for range 1100 {
		g.Move(0, 1000) // small buffers past the budget: the share is MinShare
	}
	if g.Share() != MinShare {
		t.Fatalf("share %d, want MinShare", g.Share())
	}
	var none *Budget
	none.Move(0, 1<<30)
	if New(0) != nil || none.Over() || none.Relaxed() || none.Max() != 0 || none.Held() != 0 {
		t.Fatal("a nil budget bounds something")
	}
}

package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/logplex/logplex/store"
)

// RunFrameDeduper runs the FrameDeduper suite; open must return an empty store.
func RunFrameDeduper(t *testing.T, open func(t *testing.T) store.FrameDeduper) {
	d := open(t)
	c := ctx(t)
	first := func(scope, id string, ttl time.Duration, limit int) bool {
		t.Helper()
		ok, err := d.FirstSeen(c, scope, id, ttl, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first("a", "1", time.Minute, 0) || first("a", "1", time.Minute, 0) {
		t.Fatal("an id must be new once, then seen")
	}
	if !first("b", "1", time.Minute, 0) {
		t.Fatal("scopes are independent")
	}
	if !first("s", "short", time.Second, 0) {
		t.Fatal("short key new")
	}
	waitFor(t, func() bool { ok, _ := d.FirstSeen(c, "s", "short", time.Second, 0); return ok })

	// a scope records at most limit ids per window; a seen id is still a
	// duplicate beyond it, other scopes are unaffected
	for i := range 3 {
		if !first("lim", string(rune('a'+i)), time.Minute, 3) {
			t.Fatalf("id %d within the limit not new", i)
		}
	}
	if ok, err := d.FirstSeen(c, "lim", "z", time.Minute, 3); ok || !errors.Is(err, store.ErrFrameIDLimit) {
		t.Fatalf("4th id of a scope limited to 3: %v %v", ok, err)
	}
	if first("lim", "a", time.Minute, 3) {
		t.Fatal("a seen id must stay a duplicate over the limit")
	}
	if !first("other", "z", time.Minute, 3) {
		t.Fatal("another scope must not be limited")
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/logplex/logplex/store"
)

// RunFrameDeduper runs the FrameDeduper suite; open must return an empty store.
func RunFrameDeduper(t *testing.T, open func(t *testing.T) store.FrameDeduper) {
	d := open(t)
	c := ctx(t)
	first := func(key string, ttl time.Duration) bool {
		t.Helper()
		ok, err := d.FirstSeen(c, key, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first("a:1", time.Minute) || first("a:1", time.Minute) {
		t.Fatal("a key must be new once, then seen")
	}
	if !first("b:1", time.Minute) {
		t.Fatal("keys are independent")
	}
	if !first("short", time.Second) {
		t.Fatal("short key new")
	}
	waitFor(t, func() bool { ok, _ := d.FirstSeen(c, "short", time.Second); return ok })
}

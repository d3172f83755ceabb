package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/logplex/logplex/store"
)

// RunStatusBoard runs the StatusBoard suite; open must return an empty store.
func RunStatusBoard(t *testing.T, open func(t *testing.T) store.StatusBoard) {
	b := open(t)
	c := ctx(t)
	if err := b.PutDrainStatus(c, "node-a", map[int64][]byte{1: []byte(`{"delivered":1}`), 2: []byte(`{"delivered":2}`)}, time.Minute, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.PutDrainStatus(c, "node-b", map[int64][]byte{1: []byte(`{"delivered":10}`)}, time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.PutDrainStatus(c, "node-c", map[int64][]byte{1: []byte(`{"delivered":100}`)}, time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := b.DrainStatus(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%d %s %s %s", len(got), got["node-a"], got["node-b"], got["node-c"]) != `3 {"delivered":1} {"delivered":10} {"delivered":100}` {
		t.Fatalf("drain 1: %q", got)
	}
	if err := b.PutDrainStatus(c, "node-a", map[int64][]byte{1: []byte(`{"delivered":5}`)}, time.Minute, time.Minute); err != nil {
		t.Fatal(err)
	}
	// node-b's 1 s document expires; node-c stops being alive after 1 s, so
	// its one-minute document is no longer read; node-a's stays.
	waitFor(t, func() bool {
		got, _ := b.DrainStatus(c, 1)
		return len(got) == 1 && string(got["node-a"]) == `{"delivered":5}`
	})
	// A node that only says it is alive keeps its documents readable.
	if err := b.PutDrainStatus(c, "node-a", nil, time.Minute, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.DrainStatus(c, 2); string(got["node-a"]) != `{"delivered":2}` {
		t.Fatalf("drain 2 after an alive-only report: %q", got)
	}
	if got, _ := b.DrainStatus(c, 99); len(got) != 0 {
		t.Fatalf("unknown drain: %q", got)
	}
}

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
	if err := b.PutDrainStatus(c, "node-a", map[int64][]byte{1: []byte(`{"delivered":1}`), 2: []byte(`{"delivered":2}`)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.PutDrainStatus(c, "node-b", map[int64][]byte{1: []byte(`{"delivered":10}`)}, time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := b.DrainStatus(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%d %s %s", len(got), got["node-a"], got["node-b"]) != `2 {"delivered":1} {"delivered":10}` {
		t.Fatalf("drain 1: %q", got)
	}
	if err := b.PutDrainStatus(c, "node-a", map[int64][]byte{1: []byte(`{"delivered":5}`)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { // node-b's 1 s entry expires; node-a's refreshed one stays
		got, _ := b.DrainStatus(c, 1)
		return len(got) == 1 && string(got["node-a"]) == `{"delivered":5}`
	})
	if got, _ := b.DrainStatus(c, 99); len(got) != 0 {
		t.Fatalf("unknown drain: %q", got)
	}
}

package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// RunConfigMore runs further ConfigStore cases (whole-hash rewrites, the
// control rod, feed positions, sessions); open must return an empty store.
func RunConfigMore(t *testing.T, open func(t *testing.T) store.ConfigStore) {
	t.Run("RewriteDropsFields", func(t *testing.T) { testRewriteDropsFields(t, open(t)) })
	t.Run("MergeKeepsFields", func(t *testing.T) { testMergeKeepsFields(t, open(t)) })
	t.Run("ControlRod", func(t *testing.T) { testControlRod(t, open(t)) })
	t.Run("FollowStartsAfterVersion", func(t *testing.T) { testFollowStartsAfterVersion(t, open(t)) })
	t.Run("VersionsIncrease", func(t *testing.T) { testVersionsIncrease(t, open(t)) })
	t.Run("SessionOverwriteBinary", func(t *testing.T) { testSessionOverwrite(t, open(t)) })
}

func testRewriteDropsFields(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	d := &config.Drain{ChannelID: "1", Token: "d.1", URL: "https://x.example/", Compression: "gzip"}
	mustWrite(t, st, config.Change{Key: config.DrainKey(9), Fields: config.DrainHash(d)})
	d.URL, d.Compression = "", ""
	mustWrite(t, st, config.Change{Key: config.DrainKey(9), Fields: config.DrainHash(d)})
	mustWrite(t, st, config.Change{Key: config.CredKey("gone")}) // deleting a missing key is fine
	s, err := st.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Drain(9); got == nil || got.URL != "" || got.Compression != "" || got.Token != "d.1" {
		t.Fatalf("rewritten drain = %+v", got)
	}
}

// A merge writes the fields it names and keeps the others (an operator's
// flags, a field logplex does not know), in storage and in what followers
// and watchers see.
func testMergeKeepsFields(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	key := config.ChannelKey("m1")
	mustWrite(t, st, config.Change{Key: key, Fields: config.Hash{"name": "a", "flags": "no_tail", "logplex_field": "x"}})
	w := store.NewWatcher(st, time.Hour, nil)
	wctx, cancel := context.WithCancel(c)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }() // the watcher is done with the store before the test cleans up
	waitFor(t, w.Ready)
	v := mustWrite(t, st, config.Change{Key: key, Fields: config.Hash{"name": "b"}, Merge: true})
	if err := w.WaitVersion(c, v); err != nil {
		t.Fatal(err)
	}
	if ch := w.Current().Channel("m1"); ch == nil || ch.Name != "b" || !ch.NoTail {
		t.Fatalf("followed channel after a merge = %+v, want name b with no_tail kept", ch)
	}
	s, err := st.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	if ch := s.Channel("m1"); ch == nil || ch.Name != "b" || ch.Flags != "no_tail" {
		t.Fatalf("loaded channel after a merge = %+v", ch)
	}
	mustWrite(t, st, config.Change{Key: key, Fields: config.Hash{"flags": ""}, Merge: true})
	if ch := mustLoad(t, st).Channel("m1"); ch == nil || ch.Name != "b" || ch.NoTail {
		t.Fatalf("channel after merging flags \"\" = %+v", ch)
	}
}

func mustLoad(t *testing.T, st store.ConfigStore) *config.Snapshot {
	t.Helper()
	s, err := st.Load(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testControlRod(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	w := store.NewWatcher(st, time.Hour, nil)
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	go w.Run(wctx)
	waitFor(t, w.Ready)
	for _, bit := range []string{"1", "0", "1"} {
		v := mustWrite(t, st, config.Change{Key: config.ControlRodKey, Fields: config.Hash{"0": bit}})
		if err := w.WaitVersion(c, v); err != nil {
			t.Fatal(err)
		}
		if w.Current().ReadOnly != (bit == "1") {
			t.Fatalf("watcher ReadOnly = %v after control rod %s", w.Current().ReadOnly, bit)
		}
	}
	if s, err := st.Load(c); err != nil || !s.ReadOnly {
		t.Fatalf("Load after control rod 1: %v", err)
	}
}

// Follow from a loaded version delivers exactly the later writes, each
// Write as one call with its changes in order.
func testFollowStartsAfterVersion(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	mustWrite(t, st, config.Change{Key: config.ChannelKey("old"), Fields: config.ChannelHash("", "")})
	s, err := st.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, st, config.Change{Key: config.ChannelKey("a"), Fields: config.ChannelHash("", "")},
		config.Change{Key: config.TokenKey("t.a"), Fields: config.TokenHash("a", "x")},
		config.Change{Key: config.ChannelKey("old")})
	fctx, cancel := context.WithCancel(c)
	defer cancel()
	var mu sync.Mutex
	var calls []string
	go st.Follow(fctx, s.Version, func(chs []config.Change, _ string) {
		keys := make([]string, len(chs))
		for i, ch := range chs {
			keys[i] = ch.Key
		}
		mu.Lock()
		calls = append(calls, strings.Join(keys, " "))
		mu.Unlock()
	})
	mustWrite(t, st, config.Change{Key: config.ChannelKey("marker")}) // the call after ours
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != "[ch:a:data tok:t.a:data ch:old:data ch:marker:data]" {
		t.Fatalf("Follow calls = %q", calls)
	}
}

func testVersionsIncrease(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	prev := ""
	for i := range 20 {
		v := mustWrite(t, st, config.Change{Key: config.ChannelKey(fmt.Sprint(i)), Fields: config.ChannelHash("", "")})
		if store.CompareVersions(v, prev) <= 0 {
			t.Fatalf("version %q after %q", v, prev)
		}
		prev = v
	}
	s, err := st.Load(c)
	if err != nil || store.CompareVersions(s.Version, prev) < 0 {
		t.Fatalf("Load version %q is before the last write %q (%v)", s.Version, prev, err)
	}
}

func testSessionOverwrite(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	body := []byte("\x00\xff{\"tail\":true}\r\n")
	for _, b := range [][]byte{[]byte("first"), body} {
		if err := st.PutSession(c, "same", b, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Session(c, "same")
	if err != nil || string(got) != string(body) {
		t.Fatalf("Session = %q, %v", got, err)
	}
}

func mustWrite(t *testing.T, st store.ConfigStore, changes ...config.Change) string {
	t.Helper()
	v, err := st.Write(ctx(t), changes...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// RunSpoolMore runs further Spool cases; open returns an empty spool keeping
// history messages per channel.
func RunSpoolMore(t *testing.T, open func(t *testing.T, history int) store.Spool) {
	t.Run("ExactLengths", func(t *testing.T) {
		sp := open(t, 5)
		write(sp, "c", "1", "2", "3", "4", "5", "6", "7")
		waitRange(t, sp, "c", 100, "[7 6 5 4 3]")
		waitRange(t, sp, "c", 0, "[]")
		waitRange(t, sp, "c", 1, "[7]")
	})
	t.Run("ManyBatchesInOrder", func(t *testing.T) {
		sp := open(t, 1000)
		want := make([]string, 0, 100)
		for b := range 50 {
			msgs := make([]string, 20)
			for i := range msgs {
				msgs[i] = fmt.Sprint(b*20 + i)
			}
			write(sp, "c", msgs...)
		}
		for i := 999; i >= 900; i-- {
			want = append(want, fmt.Sprint(i))
		}
		waitRange(t, sp, "c", 100, fmt.Sprint(want))
	})
	t.Run("BytesRoundTrip", func(t *testing.T) {
		sp := open(t, 10)
		write(sp, "c", "a\r\nb", "\x00\xff")
		waitRange(t, sp, "c", 10, "[\x00\xff a\r\nb]")
		ms, err := sp.Range(ctx(t), "c", 10)
		if err != nil {
			t.Fatal(err)
		}
		ms[0][0] = 'X' // the slices are the caller's
		waitRange(t, sp, "c", 10, "[\x00\xff a\r\nb]")
	})
}

// Package storetest is the one test suite every store implementation must
// pass: call RunConfig and RunSpool from the implementation's tests with a
// constructor of fresh, empty stores.
//
// storetest imports config, store and the standard library only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// RunConfig runs the ConfigStore suite; open must return an empty store.
func RunConfig(t *testing.T, open func(t *testing.T) store.ConfigStore) {
	t.Run("Incr", func(t *testing.T) { testIncr(t, open(t)) })
	t.Run("WriteLoad", func(t *testing.T) { testWriteLoad(t, open(t)) })
	t.Run("Follow", func(t *testing.T) { testFollow(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Watcher", func(t *testing.T) { testWatcher(t, open(t)) })
}

func testIncr(t *testing.T, st store.ConfigStore) {
	for want := int64(1); want <= 3; want++ {
		got, err := st.Incr(ctx(t), config.ChannelIndexKey)
		if err != nil || got != want {
			t.Fatalf("Incr = %d, %v; want %d", got, err, want)
		}
	}
	if got, _ := st.Incr(ctx(t), config.DrainIndexKey); got != 1 {
		t.Fatalf("counters are not independent: drain_index = %d", got)
	}
}

func testWriteLoad(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	_, err := st.Write(c,
		config.Change{Key: config.ChannelKey("7"), Fields: config.ChannelHash("app", "no_redis")},
		config.Change{Key: config.TokenKey("t.a"), Fields: config.TokenHash("7", "web")},
		config.Change{Key: config.TokenKey("t.b"), Fields: config.TokenHash("7", "api")},
		config.Change{Key: config.DrainKey(3), Fields: config.DrainHash(&config.Drain{ChannelID: "7", Token: "d.x", URL: "http://e.example/"})},
		config.Change{Key: config.CredKey("C1"), Fields: config.CredHash(&config.Cred{Name: "ops", PassSHA256: "ab", FullAPI: true})},
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(c, config.Change{Key: config.TokenKey("t.b")}); err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Channel("7")
	if ch == nil || ch.Name != "app" || !ch.NoRedis || len(ch.Tokens) != 1 || ch.Tokens[0].Name != "web" {
		t.Fatalf("loaded channel = %+v", ch)
	}
	if len(ch.Drains) != 1 || ch.Drains[0].URL != "http://e.example/" || ch.Drains[0].Token != "d.x" {
		t.Fatalf("loaded drains = %+v", ch.Drains)
	}
	if cr := s.Cred("C1"); cr == nil || !cr.FullAPI || cr.PassSHA256 != "ab" {
		t.Fatalf("loaded cred = %+v", cr)
	}
	if s.Token("t.b") != nil {
		t.Fatal("deleted token still loaded")
	}
}

func testFollow(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	s, err := st.Load(c)
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(c)
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- st.Follow(fctx, s.Version, func(chs []config.Change, v string) {
			mu.Lock()
			defer mu.Unlock()
			for _, ch := range chs {
				got = append(got, ch.Key)
			}
			// A batch from another writer (keyspace notifications) carries
			// the version of the stream entry before it: never older.
			if store.CompareVersions(v, s.Version) < 0 {
				t.Errorf("version %q is older than %q", v, s.Version)
			}
		})
	}()
	for i := range 5 {
		if _, err := st.Write(c, config.Change{Key: config.ChannelKey(fmt.Sprint(i)), Fields: config.ChannelHash("", "")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5 })
	mu.Lock()
	if fmt.Sprint(got) != "[ch:0:data ch:1:data ch:2:data ch:3:data ch:4:data]" {
		t.Errorf("followed changes out of order: %v", got)
	}
	mu.Unlock()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v after cancel", err)
	}
}

func testSessions(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	if _, err := st.Session(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing session: %v", err)
	}
	body := []byte(`{"channel_id":"1","tail":true}`)
	if err := st.PutSession(c, "s1", body, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := st.Session(c, "s1")
	if err != nil || string(got) != string(body) {
		t.Fatalf("Session = %q, %v", got, err)
	}
	if err := st.PutSession(c, "s2", body, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := st.Session(c, "s2"); return errors.Is(err, store.ErrNotFound) })
}

func testWatcher(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	w := store.NewWatcher(st, time.Hour, nil)
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	go w.Run(wctx)
	waitFor(t, w.Ready)
	v, err := st.Write(c, config.Change{Key: config.ChannelKey("42"), Fields: config.ChannelHash("n", "")},
		config.Change{Key: config.TokenKey("t.42"), Fields: config.TokenHash("42", "app")})
	if err != nil {
		t.Fatal(err)
	}
	wc, wcancel := context.WithTimeout(c, 2*time.Second)
	defer wcancel()
	if err := w.WaitVersion(wc, v); err != nil {
		t.Fatalf("WaitVersion(%s): %v", v, err)
	}
	if tok := w.Current().Token("t.42"); tok == nil || tok.ChannelID != "42" {
		t.Fatalf("watcher snapshot lacks the written token: %+v", tok)
	}
	if _, err := st.Write(c, config.Change{Key: config.ChannelKey("42")}, config.Change{Key: config.TokenKey("t.42")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return w.Current().Channel("42") == nil && w.Current().Token("t.42") == nil })
}

// RunSpool runs the Spool suite; open returns an empty spool keeping history
// messages per channel.
func RunSpool(t *testing.T, open func(t *testing.T, history int) store.Spool) {
	t.Run("OrderAndTrim", func(t *testing.T) {
		sp := open(t, 4)
		write(sp, "a", "1", "2", "3")
		write(sp, "b", "x")
		write(sp, "a", "4", "5", "6")
		waitRange(t, sp, "a", 10, "[6 5 4 3]")
		waitRange(t, sp, "a", 2, "[6 5]")
		waitRange(t, sp, "b", 10, "[x]")
		waitRange(t, sp, "none", 10, "[]")
	})
	t.Run("InterleavedChannels", func(t *testing.T) {
		sp := open(t, 100)
		b := store.GetHistoryBatch()
		for i := range 20 {
			b.Add([]string{"p", "q"}[i%2], []byte(fmt.Sprint(i)))
		}
		sp.Write(b)
		waitRange(t, sp, "p", 3, "[18 16 14]")
		waitRange(t, sp, "q", 3, "[19 17 15]")
	})
}

func write(sp store.Spool, ch string, msgs ...string) {
	b := store.GetHistoryBatch()
	for _, m := range msgs {
		b.Add(ch, []byte(m))
	}
	sp.Write(b)
}

func waitRange(t *testing.T, sp store.Spool, ch string, num int, want string) {
	t.Helper()
	var got string
	waitFor(t, func() bool {
		ms, err := sp.Range(ctx(t), ch, num)
		if err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(ms))
		for i, m := range ms {
			s[i] = string(m)
		}
		got = fmt.Sprint(s)
		return got == want
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

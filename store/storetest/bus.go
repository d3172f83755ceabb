package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// RunBus runs the Bus suite; open must return a bus no one else uses.
func RunBus(t *testing.T, open func(t *testing.T) store.Bus) {
	t.Run("ActiveOnReturn", func(t *testing.T) { testBusActiveOnReturn(t, open(t)) })
	t.Run("Channels", func(t *testing.T) { testBusChannels(t, open(t)) })
	t.Run("BatchIntegrity", func(t *testing.T) { testBusBatchIntegrity(t, open(t)) })
	t.Run("BigBatch", func(t *testing.T) { testBusBigBatch(t, open(t)) })
	t.Run("SlowSubscriber", func(t *testing.T) { testBusSlowSubscriber(t, open(t)) })
	t.Run("Cancel", func(t *testing.T) { testBusCancel(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testBusClose(t, open(t)) })
}

func subscribe(t *testing.T, b store.Bus, ch string, limit int) *store.TailQueue {
	t.Helper()
	q := store.NewTailQueue(limit)
	cancel, err := b.Subscribe(ctx(t), ch, q)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", ch, err)
	}
	t.Cleanup(cancel)
	return q
}

// receive reads from q until it holds n messages (5 s at most) and returns
// them with the loss reported on the way.
func receive(t *testing.T, q *store.TailQueue, n int) ([]string, int) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	lost := 0
	var buf [][]byte
	for len(got) < n {
		msgs, l, since, err := q.Next(c, buf[:0])
		if err != nil {
			t.Fatalf("after %d of %d messages (lost %d): %v; got %q", len(got), n, lost, err, tail(got))
		}
		if l > 0 && since.IsZero() {
			t.Fatal("a loss without its time")
		}
		lost += l
		for _, m := range msgs {
			got = append(got, string(m))
		}
		buf = msgs
	}
	return got, lost
}

func tail(s []string) []string { return s[max(0, len(s)-3):] }

func strs(prefix string, from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, []byte(fmt.Sprintf("%s %d", prefix, i)))
	}
	return out
}

func wantSeq(t *testing.T, got []string, prefix string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d messages, want %d: %q", len(got), to-from, tail(got))
	}
	for i, g := range got {
		if want := fmt.Sprintf("%s %d", prefix, from+i); g != want {
			t.Fatalf("message %d = %q, want %q", i, g, want)
		}
	}
}

// A batch published right after Subscribe returns is delivered: the
// subscription is active on return (a session reads history right after).
func testBusActiveOnReturn(t *testing.T, b store.Bus) {
	for i := range 20 {
		ch := fmt.Sprintf("fresh%d", i)
		q := subscribe(t, b, ch, 0)
		b.Publish(ch, [][]byte{[]byte("first")})
		if got, _ := receive(t, q, 1); got[0] != "first" {
			t.Fatalf("got %q", got)
		}
	}
}

// Subscribers get their channel's batches only, in publish order; every
// subscriber of a channel gets each batch.
func testBusChannels(t *testing.T, b store.Bus) {
	a1, a2 := subscribe(t, b, "a", 0), subscribe(t, b, "a", 0)
	bq := subscribe(t, b, "b", 0)
	for i := range 50 {
		b.Publish("a", strs("a", 2*i, 2*i+2))
		b.Publish("b", strs("b", i, i+1))
	}
	for _, q := range []*store.TailQueue{a1, a2} {
		got, lost := receive(t, q, 100)
		wantSeq(t, got, "a", 0, 100)
		if lost != 0 {
			t.Fatalf("lost %d", lost)
		}
	}
	got, _ := receive(t, bq, 50)
	wantSeq(t, got, "b", 0, 50)
	if a1.Len() != 0 || bq.Len() != 0 {
		t.Fatal("messages of another channel delivered")
	}
}

// Messages arrive byte for byte (framing characters, newlines, empty and
// binary messages), and Publish does not keep the caller's memory.
func testBusBatchIntegrity(t *testing.T, b store.Bus) {
	q := subscribe(t, b, "bin", 0)
	in := []string{"", "12 ", "<134>1 2012-12-10T03:00:48Z h app web.1 - - 5 x\n", "\x00\xff\r\n", strings.Repeat("z", 10000), " "}
	src := make([][]byte, len(in))
	for i, s := range in {
		src[i] = []byte(s)
	}
	b.Publish("bin", src)
	for _, m := range src { // the caller reuses its buffers at once
		for j := range m {
			m[j] = '#'
		}
	}
	b.Publish("bin", [][]byte{[]byte("end")})
	got, _ := receive(t, q, len(in)+1)
	for i, s := range in {
		if got[i] != s {
			t.Fatalf("message %d = %q, want %q", i, got[i], s)
		}
	}
}

// A batch larger than one bus message arrives whole and in order.
func testBusBigBatch(t *testing.T, b store.Bus) {
	q := subscribe(t, b, "big", 20000)
	batch := make([][]byte, 6000)
	for i := range batch {
		batch[i] = []byte(fmt.Sprintf("%05d %s", i, strings.Repeat("x", 300)))
	}
	b.Publish("big", batch)
	got, lost := receive(t, q, len(batch))
	if lost != 0 {
		t.Fatalf("lost %d", lost)
	}
	for i, g := range got {
		if g != string(batch[i]) {
			t.Fatalf("message %d = %.20q", i, g)
		}
	}
}

// A subscriber that does not read never blocks the publisher: its queue
// keeps the newest messages and counts every dropped one.
func testBusSlowSubscriber(t *testing.T, b store.Bus) {
	slow := subscribe(t, b, "s", 10)
	fast := subscribe(t, b, "s", 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			b.Publish("s", strs("s", 10*i, 10*i+10))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	got, lost := receive(t, fast, 500) // everything reached the bus's far side
	wantSeq(t, got, "s", 0, 500)
	if lost != 0 {
		t.Fatalf("fast subscriber lost %d", lost)
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var held []string
	lostSlow := 0
	for len(held) == 0 || held[len(held)-1] != "s 499" {
		msgs, l, _, err := slow.Next(c, nil)
		if err != nil {
			t.Fatalf("slow subscriber: %v (held %q, lost %d)", err, held, lostSlow)
		}
		lostSlow += l
		for _, m := range msgs {
			held = append(held, string(m))
		}
	}
	if lostSlow == 0 || lostSlow+len(held) != 500 || len(held) > 10 {
		t.Fatalf("slow subscriber: %d held (%q) + %d lost, want at most 10 held and 500 in all", len(held), held, lostSlow)
	}
	wantSeq(t, held, "s", 500-len(held), 500)
}

// After cancel a queue receives nothing more; other subscribers still do.
func testBusCancel(t *testing.T, b store.Bus) {
	keep := subscribe(t, b, "c", 0)
	q := store.NewTailQueue(0)
	cancel, err := b.Subscribe(ctx(t), "c", q)
	if err != nil {
		t.Fatal(err)
	}
	b.Publish("c", [][]byte{[]byte("one")})
	if got, _ := receive(t, q, 1); got[0] != "one" {
		t.Fatalf("got %q", got)
	}
	cancel()
	b.Publish("c", [][]byte{[]byte("two")})
	if got, _ := receive(t, keep, 2); got[1] != "two" {
		t.Fatalf("got %q", got)
	}
	if q.Len() != 0 {
		t.Fatal("a cancelled subscription still receives")
	}
	// the last subscriber leaving and a new one arriving on the same channel
	cancelAll := func() {}
	for i := range 5 {
		cancelAll()
		q := store.NewTailQueue(0)
		cancel, err := b.Subscribe(ctx(t), "again", q)
		if err != nil {
			t.Fatal(err)
		}
		b.Publish("again", [][]byte{[]byte(fmt.Sprint(i))})
		if got, _ := receive(t, q, 1); got[0] != fmt.Sprint(i) {
			t.Fatalf("round %d: got %q", i, got)
		}
		cancelAll = cancel
	}
	cancelAll()
}

// Close ends every subscriber's queue.
func testBusClose(t *testing.T, b store.Bus) {
	q := subscribe(t, b, "x", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, _, err := q.Next(c, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Close: %v, want io.EOF", err)
	}
	b.Publish("x", [][]byte{[]byte("late")}) // must not panic or block
}

// RunTails runs the tail-registration suite on a ConfigStore (which must
// implement store.TTLRefresher): registrations written with a TTL load
// as Tailed, follow like any key, refresh, expire and delete.
func RunTails(t *testing.T, open func(t *testing.T) store.ConfigStore) {
	t.Run("RegisterRefreshDelete", func(t *testing.T) { testTailRegister(t, open(t)) })
	t.Run("Expire", func(t *testing.T) { testTailExpire(t, open(t)) })
}

func testTailRegister(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	ref, ok := st.(store.TTLRefresher)
	if !ok {
		t.Fatalf("%T does not implement store.TTLRefresher", st)
	}
	w := store.NewWatcher(st, time.Hour, nil)
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	go w.Run(wctx)
	waitFor(t, w.Ready)
	key := config.TailKey("7", "0b8a0c4e-1111-4222-8333-444455556666")
	v, err := st.Write(c, config.Change{Key: config.ChannelKey("7"), Fields: config.ChannelHash("", "")},
		config.Change{Key: key, Fields: config.TailHash("node-a"), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WaitVersion(c, v); err != nil {
		t.Fatal(err)
	}
	if s := w.Current(); !s.Tailed("7") {
		t.Fatal("the followed snapshot does not show the registration")
	}
	if s, err := st.Load(c); err != nil || !s.Tailed("7") || s.Tailed("8") {
		t.Fatalf("loaded snapshot: %v", err)
	}
	if ok, err := ref.Refresh(c, key, time.Minute); !ok || err != nil {
		t.Fatalf("Refresh of a live key = %v, %v", ok, err)
	}
	if ok, err := ref.Refresh(c, config.TailKey("7", "nope"), time.Minute); ok || err != nil {
		t.Fatalf("Refresh of a missing key = %v, %v", ok, err)
	}
	if _, err := st.Write(c, config.Change{Key: key}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !w.Current().Tailed("7") })
	if s, err := st.Load(c); err != nil || s.Tailed("7") {
		t.Fatalf("deleted registration still loads (%v)", err)
	}
}

// Time is the subject here: a registration lives for its TTL, a refresh
// extends it, and then it expires. The check is made only when its timing
// is conclusive (the load ran after the first TTL had surely passed and
// before the refreshed one could end); on a machine too busy for that the
// round is repeated with a TTL twice as long.
func testTailExpire(t *testing.T, st store.ConfigStore) {
	c := ctx(t)
	ref := st.(store.TTLRefresher)
	key := config.TailKey("9", "s")
	for ttl := 600 * time.Millisecond; ; ttl *= 2 {
		if ttl > 20*time.Second {
			t.Fatal("the machine is too busy for any TTL round to be conclusive")
		}
		if _, err := st.Write(c, config.Change{Key: key, Fields: config.TailHash("n"), TTL: ttl}); err != nil {
			t.Fatal(err)
		}
		written := time.Now() // the first TTL ends by written+ttl
		time.Sleep(ttl / 2)
		refreshing := time.Now() // the refreshed TTL ends no sooner than refreshing+ttl
		if ok, err := ref.Refresh(c, key, ttl); !ok || err != nil {
			t.Fatalf("Refresh = %v, %v", ok, err)
		}
		time.Sleep(time.Until(written.Add(ttl + 20*time.Millisecond)))
		loading := time.Now()
		s, err := st.Load(c)
		loaded := time.Now()
		if loading.Before(written.Add(ttl)) || !loaded.Before(refreshing.Add(ttl)) {
			t.Logf("TTL %v: inconclusive timing (load %v..%v after the write), again with a longer TTL", ttl, loading.Sub(written), loaded.Sub(written))
			if _, err := st.Write(c, config.Change{Key: key}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil || !s.Tailed("9") {
			t.Fatalf("refreshed registration gone %v after the write, TTL %v (%v)", loaded.Sub(written), ttl, err)
		}
		break
	}
	waitFor(t, func() bool {
		s, err := st.Load(c)
		return err == nil && !s.Tailed("9")
	})
	if ok, _ := ref.Refresh(c, key, time.Second); ok {
		t.Fatal("an expired registration refreshed")
	}
}

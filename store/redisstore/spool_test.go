package redisstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

func writeMsgs(sp store.Spool, channel string, msgs ...string) {
	b := store.GetHistoryBatch()
	for _, m := range msgs {
		b.Add(channel, []byte(m))
	}
	sp.Write(b)
}

// waitDone waits until every message written so far is written or dropped.
func waitDone(t testing.TB, sp *Spool, sent int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sp.Written()+sp.Dropped() < sent {
		if time.Now().After(deadline) {
			t.Fatalf("written %d + dropped %d != sent %d after 10s", sp.Written(), sp.Dropped(), sent)
		}
		time.Sleep(time.Millisecond)
	}
}

// Case 90: with shards #frag1 and #frag2, channel "1" lives on #frag2 and
// "123" on #frag1, whatever order the URLs are given in.
func TestShardPlacement(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{b.URL() + "/#frag2", a.URL() + "/#frag1"}})
	writeMsgs(sp, "1", "one")
	writeMsgs(sp, "123", "one-two-three")
	waitDone(t, sp, 2)
	for _, c := range []struct {
		srv     *redistest.Server
		key     string
		want    string
		absent  *redistest.Server
		absentK string
	}{
		{b, "ch:1:spool", "[one]", a, "ch:1:spool"},
		{a, "ch:123:spool", "[one-two-three]", b, "ch:123:spool"},
	} {
		if got := fmt.Sprint(c.srv.MustDo(t, "LRANGE", c.key, "0", "-1")); got != c.want {
			t.Errorf("LRANGE %s on %s = %s, want %s", c.key, c.srv.Addr(), got, c.want)
		}
		if n := c.absent.MustDo(t, "EXISTS", c.absentK); n != int64(0) {
			t.Errorf("%s also on %s", c.absentK, c.absent.Addr())
		}
	}
	if ttl := b.MustDo(t, "TTL", "ch:1:spool").(int64); ttl < 604790 || ttl > 604800 {
		t.Errorf("TTL ch:1:spool = %d, want a week", ttl)
	}
}

// History keeps exactly History messages; Range returns exactly num.
func TestHistoryLength(t *testing.T) {
	srv := redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, History: 10})
	var msgs []string
	for i := range 25 {
		msgs = append(msgs, fmt.Sprint(i))
	}
	writeMsgs(sp, "c", msgs[:3]...)
	writeMsgs(sp, "c", msgs[3:]...) // more than History in one flush
	waitDone(t, sp, 25)
	if n := srv.MustDo(t, "LLEN", "ch:c:spool"); n != int64(10) {
		t.Fatalf("LLEN = %v, want 10", n)
	}
	got, err := sp.Range(testCtx(t), "c", 3)
	if err != nil || fmt.Sprint(toStrings(got)) != "[24 23 22]" {
		t.Fatalf("Range 3 = %q, %v", got, err)
	}
	got, _ = sp.Range(testCtx(t), "c", 100)
	if len(got) != 10 || string(got[9]) != "15" {
		t.Fatalf("Range 100 = %q", got)
	}
	if sp.Written() != 25 || sp.Dropped() != 0 {
		t.Fatalf("written %d dropped %d", sp.Written(), sp.Dropped())
	}
}

// Messages are bytes: CR, LF, NUL and invalid UTF-8 round-trip.
func TestBinaryMessages(t *testing.T) {
	srv := redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}})
	msg := "<13>1 - h a p - - x\r\n\x00\xff\xfe"
	writeMsgs(sp, "c", msg, "")
	waitDone(t, sp, 2)
	got, err := sp.Range(testCtx(t), "c", 5)
	if err != nil || len(got) != 2 || string(got[0]) != "" || string(got[1]) != msg {
		t.Fatalf("Range = %q, %v", got, err)
	}
}

// A full queue drops (and counts) whole batches; Write never waits.
func TestQueueFullDrops(t *testing.T) {
	srv := redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, QueueLen: 2, FlushAge: time.Hour,
		FlushMsgs: 1 << 30, FlushBytes: 1 << 30, CloseTimeout: time.Second})
	for range 5 { // batches with no spare capacity: none absorbs the next
		b := &store.HistoryBatch{}
		b.Add("c", []byte("a"))
		b.Add("c", []byte("b"))
		sp.Write(b)
	}
	if sp.Dropped() != 6 || sp.Queued() != 2 {
		t.Fatalf("dropped %d queued %d, want 6 and 2", sp.Dropped(), sp.Queued())
	}
	sp.Close() // flushes the 2 queued batches
	if sp.Written() != 4 {
		t.Fatalf("written after Close = %d, want 4", sp.Written())
	}
	writeMsgs(sp, "c", "late")
	if sp.Dropped() != 7 {
		t.Fatalf("a write after Close is not counted as dropped: %d", sp.Dropped())
	}
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// Batches of many channels split over shards and writers keep each
// channel's order.
func TestOrderAcrossShardsAndWriters(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{a.URL(), b.URL()}, Writers: 3, History: 1000})
	const channels, rounds = 20, 50
	for r := range rounds {
		bt := store.GetHistoryBatch()
		for c := range channels {
			bt.Add(fmt.Sprint(c), []byte(fmt.Sprint(r)))
		}
		sp.Write(bt)
	}
	waitDone(t, sp, channels*rounds)
	for c := range channels {
		got, err := sp.Range(testCtx(t), fmt.Sprint(c), rounds)
		if err != nil || len(got) != rounds {
			t.Fatalf("channel %d: %d messages, %v", c, len(got), err)
		}
		for i, m := range got {
			if string(m) != fmt.Sprint(rounds-1-i) {
				t.Fatalf("channel %d out of order: %s", c, strings.Join(toStrings(got), ","))
			}
		}
	}
}

// A flush groups its messages by channel in arrival order, keeps the
// newest History of each, and counts every message.
func TestWriterGroups(t *testing.T) {
	w := &writer{sp: &Spool{opts: SpoolOptions{History: 3}}, groups: map[string]*group{}}
	var batches []*store.HistoryBatch
	want := map[string][]string{}
	n := 0
	for b := range 3 {
		hb := store.GetHistoryBatch()
		for i := range 7 {
			ch := []string{"a", "b", "a", "c"}[(b+i)%4]
			m := fmt.Sprintf("%s-%d-%d%s", ch, b, i, strings.Repeat("x", n%5))
			hb.Add(ch, []byte(m))
			want[ch] = append(want[ch], m)
			n++
		}
		batches = append(batches, hb)
	}
	for round := range 2 { // the second flush reuses the arena and groups
		w.group(batches)
		got, counted := map[string][]string{}, 0
		for _, g := range w.order {
			got[g.channel] = g.msgs
			counted += g.n
		}
		for ch, msgs := range want {
			if keep := msgs[max(len(msgs)-3, 0):]; fmt.Sprint(got[ch]) != fmt.Sprint(keep) {
				t.Fatalf("round %d, channel %s: %q, want %q", round, ch, got[ch], keep)
			}
		}
		if len(got) != len(want) || counted != n {
			t.Fatalf("round %d: %d groups counting %d messages, want %d and %d", round, len(got), counted, len(want), n)
		}
		w.release(true)
	}
	empty := &store.HistoryBatch{} // nothing to copy, two messages to send
	empty.Add("e", nil)
	empty.Add("e", nil)
	w.group([]*store.HistoryBatch{empty})
	if len(w.order) != 1 || len(w.order[0].msgs) != 2 {
		t.Fatalf("two empty messages grouped as %d groups", len(w.order))
	}
}

// A batch that fits in the spare capacity of the one queued before it is
// copied into it: QueueLen counts batches, and a hundred one-message
// batches take no more of it than one.
func TestWriterAbsorbsSmallBatches(t *testing.T) {
	sp := &Spool{opts: SpoolOptions{QueueLen: 2, QueueBytes: 1 << 20, FlushMsgs: 1 << 20, FlushBytes: 1 << 20}}
	w := &writer{sp: sp, wake: make(chan struct{}, 1)}
	first := &store.HistoryBatch{Buf: make([]byte, 0, 4096), Msgs: make([]store.HistoryMsg, 0, 128)}
	first.Add("c0", []byte("0"))
	w.push(first)
	for i := 1; i < 100; i++ {
		b := &store.HistoryBatch{}
		b.Add(fmt.Sprint("c", i%3), []byte(fmt.Sprint(i)))
		if !w.push(b) {
			t.Fatalf("batch %d dropped", i)
		}
	}
	q := w.take()
	if len(q) != 1 || len(q[0].Msgs) != 100 {
		t.Fatalf("queued %d batches, the first of %d messages; want 1 of 100", len(q), len(q[0].Msgs))
	}
	for i, m := range q[0].Msgs {
		if got := string(q[0].Msg(i)); got != fmt.Sprint(i) || m.Channel != fmt.Sprint("c", i%3) {
			t.Fatalf("message %d: %q on %s", i, got, m.Channel)
		}
	}
	if w.msgs != 0 || w.bytes != 0 {
		t.Fatalf("after take: %d messages, %d bytes counted", w.msgs, w.bytes)
	}
	// A large batch is queued as it is, whatever room the last one has.
	roomy := &store.HistoryBatch{Buf: make([]byte, 0, 4*maxAbsorbed), Msgs: make([]store.HistoryMsg, 0, 8)}
	roomy.Add("c", []byte("small"))
	large := &store.HistoryBatch{}
	large.Add("c", make([]byte, maxAbsorbed+1))
	if !w.push(roomy) || !w.push(large) || len(w.take()) != 2 {
		t.Fatal("a batch over maxAbsorbed was copied into the one before it")
	}
}

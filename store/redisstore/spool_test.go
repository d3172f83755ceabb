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
	for range 5 {
		writeMsgs(sp, "c", "a", "b")
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

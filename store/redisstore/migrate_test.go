package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// entry is a history entry stamped sec seconds after t0.
func entry(sec int, msg string) string {
	return fmt.Sprintf("<134>1 %s host app web.1 - %s", t0.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano), msg)
}

// newestFirst returns entries stamped from..to (inclusive), newest first.
func newestFirst(from, to int, tag string) []string {
	var out []string
	for s := to; s >= from; s-- {
		out = append(out, entry(s, tag+strconv.Itoa(s)))
	}
	return out
}

func TestMergeHistoryOrder(t *testing.T) {
	// destination written by new-list nodes after the roll (11..15), the
	// source by old-list nodes before (1..10): the destination's newer
	// entries go first.
	dst, src := newestFirst(11, 15, "d"), newestFirst(1, 10, "s")
	out, fromSrc, present := mergeHistory(dst, src, 100)
	if want := append(slices.Clone(dst), src...); !slices.Equal(out, want) {
		t.Fatalf("merge = %q\nwant %q", out, want)
	}
	if present != 0 || slices.Index(fromSrc, true) != len(dst) {
		t.Errorf("present %d, fromSrc %v", present, fromSrc)
	}
	// interleaved by timestamp, even with other offsets and precisions
	dst = []string{entry(6, "d6"), entry(4, "d4"), entry(2, "d2")}
	src = []string{"<134>1 " + t0.Add(5*time.Second).In(time.FixedZone("", 3600)).Format(time.RFC3339) + " host app web.1 - s5", entry(3, "s3")}
	out, _, _ = mergeHistory(dst, src, 100)
	if want := []string{dst[0], src[0], dst[1], src[1], dst[2]}; !slices.Equal(out, want) {
		t.Fatalf("merge = %q\nwant %q", out, want)
	}
	// no timestamps: the destination's order first, then the source's
	dst, src = []string{"<1>1 - h a p - d2", "<1>1 - h a p - d1"}, []string{"x", "<1>1 - h a p - s1"}
	out, _, _ = mergeHistory(dst, src, 100)
	if want := append(slices.Clone(dst), src...); !slices.Equal(out, want) {
		t.Fatalf("merge = %q\nwant %q", out, want)
	}
	// an entry without a timestamp goes with the next older one of its list
	dst = []string{entry(6, "d6"), entry(2, "d2")}
	src = []string{"<1>1 - h a p - s-", entry(4, "s4")}
	out, _, _ = mergeHistory(dst, src, 100)
	if want := []string{dst[0], src[0], src[1], dst[1]}; !slices.Equal(out, want) {
		t.Fatalf("merge = %q\nwant %q", out, want)
	}
}

func TestMergeHistoryTrimAndIdempotence(t *testing.T) {
	for _, c := range []struct {
		name     string
		dst, src []string
	}{
		{"sorted", newestFirst(50, 80, "d"), newestFirst(1, 60, "s")},
		{"no timestamps", []string{"a", "b", "c"}, []string{"x", "a", "y", "z", "b", "w"}},
		{"repeats", []string{entry(9, "r"), entry(9, "r"), entry(8, "d")}, []string{entry(9, "r"), entry(9, "r"), entry(9, "r"), entry(7, "s"), entry(7, "s")}},
		{"overlap", newestFirst(20, 40, "x"), newestFirst(10, 30, "x")},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, hist := range []int{4, 25, 1000} {
				once, _, _ := mergeHistory(c.dst, c.src, hist)
				if len(once) > hist {
					t.Fatalf("hist %d: %d entries", hist, len(once))
				}
				// no entry more often than in either list
				count := func(l []string) map[string]int {
					m := map[string]int{}
					for _, e := range l {
						m[e]++
					}
					return m
				}
				cd, cs := count(c.dst), count(c.src)
				for e, n := range count(once) {
					if n > max(cd[e], cs[e]) {
						t.Errorf("hist %d: %q %d times, lists have %d and %d", hist, e, n, cd[e], cs[e])
					}
				}
				if want := min(hist, len(c.dst)+len(c.src)-overlap(cd, cs)); len(once) != want {
					t.Errorf("hist %d: %d entries, want %d", hist, len(once), want)
				}
				twice, _, present := mergeHistory(once, c.src, hist)
				if !slices.Equal(once, twice) {
					t.Errorf("hist %d: second merge changed the list:\n%q\n%q", hist, once, twice)
				}
				if hist >= len(once) && len(once) < hist && present != len(c.src) {
					t.Errorf("hist %d: second merge found %d of %d present", hist, present, len(c.src))
				}
			}
		})
	}
}

func overlap(a, b map[string]int) int {
	n := 0
	for e, k := range a {
		n += min(k, b[e])
	}
	return n
}

// migrateEnv is an old list of one shard and a new list of two: old plus
// a new one, under fragments that put the new shard second.
type migrateEnv struct {
	a, b     *redistest.Server
	from, to []string
}

func newMigrateEnv(t *testing.T) migrateEnv {
	a, b := redistest.Start(t), redistest.Start(t)
	return migrateEnv{a: a, b: b, from: []string{a.URL() + "/#1"}, to: []string{a.URL() + "/#1", b.URL() + "/#2"}}
}

// movedChannels returns n channels the 2-shard ring puts on shard 1.
func movedChannels(n int) []string {
	r := newRing(2)
	var out []string
	for i := 1; len(out) < n; i++ {
		if ch := strconv.Itoa(i); r.shard(ch) == 1 {
			out = append(out, ch)
		}
	}
	return out
}

func client(t *testing.T, s *redistest.Server) rueidis.Client {
	t.Helper()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func pushAll(t *testing.T, s *redistest.Server, key string, newestFirst []string) {
	t.Helper()
	cl := client(t, s)
	old := slices.Clone(newestFirst)
	slices.Reverse(old)
	if err := cl.Do(context.Background(), cl.B().Lpush().Key(key).Element(old...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func lrange(t *testing.T, s *redistest.Server, key string) []string {
	t.Helper()
	v := s.MustDo(t, "LRANGE", key, "0", "-1").([]any)
	out := make([]string, len(v))
	for i, e := range v {
		out[i] = e.(string)
	}
	return out
}

func TestPlanAndMigrate(t *testing.T) {
	e := newMigrateEnv(t)
	moved := movedChannels(3)
	stay := "123" // shard 0 of 2
	for _, ch := range append(slices.Clone(moved), stay) {
		pushAll(t, e.a, spoolKey(ch), newestFirst(1, 30, "old"+ch+"-"))
		e.a.MustDo(t, "EXPIRE", spoolKey(ch), "5000")
	}
	// the first moved channel already got entries from a new-list node
	pushAll(t, e.b, spoolKey(moved[0]), newestFirst(31, 35, "new"))
	e.b.MustDo(t, "EXPIRE", spoolKey(moved[0]), "100")
	ctx := context.Background()
	p, err := PlanShards(ctx, e.from, e.to, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Moves) != 1 || p.Moves[0].Channels != 3 || p.Unchanged != 1 || p.Moves[0].To != e.b.Addr()+"/0" {
		t.Fatalf("plan %+v", p)
	}
	opts := MigrateOptions{From: e.from, To: e.to, History: 20, Timeout: time.Second}
	c, err := MigrateShards(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	// moved[0]: 5 new + 15 of 30 old; the others 20 of 30
	if want := (MigrateCounts{Channels: 3, Merged: 3, Copied: 15 + 20 + 20, Trimmed: 15 + 10 + 10}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	got := lrange(t, e.b, spoolKey(moved[0]))
	if want := append(newestFirst(31, 35, "new"), newestFirst(16, 30, "old"+moved[0]+"-")...); !slices.Equal(got, want) {
		t.Errorf("merged list %q\nwant %q", got, want)
	}
	if ttl := e.b.MustDo(t, "TTL", spoolKey(moved[0])).(int64); ttl < 4990 {
		t.Errorf("TTL %d, want the source's 5000 (the larger)", ttl)
	}
	if n := e.b.MustDo(t, "EXISTS", spoolKey(stay)); n != int64(0) {
		t.Errorf("unmoved channel copied")
	}
	// again: nothing to do
	c, err = MigrateShards(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Copied != 0 || c.Merged != 0 || c.Present != 15+20+20 || c.Trimmed != 35 {
		t.Errorf("second run %+v", c)
	}
	if again := lrange(t, e.b, spoolKey(moved[0])); !slices.Equal(again, got) {
		t.Errorf("second run changed the list")
	}
	// --redis-buffer-expiry and --delete-source
	opts.Expiry, opts.DeleteSource = 42*time.Second, true
	e.a.MustDo(t, "LPUSH", spoolKey(moved[1]), entry(99, "late"))
	if c, err = MigrateShards(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if c.Deleted != 3 || c.Copied != 1 {
		t.Errorf("delete run %+v", c)
	}
	if ttl := e.b.MustDo(t, "TTL", spoolKey(moved[1])).(int64); ttl > 42 || ttl < 40 {
		t.Errorf("TTL %d, want 42", ttl)
	}
	for _, ch := range moved {
		if n := e.a.MustDo(t, "EXISTS", spoolKey(ch)); n != int64(0) {
			t.Errorf("source of %s not deleted", ch)
		}
	}
	if n := e.a.MustDo(t, "EXISTS", spoolKey(stay)); n != int64(1) {
		t.Errorf("unmoved channel deleted")
	}
}

// Writers LPUSH+LTRIM to the destination while the migration merges: none
// of their entries is lost, and the source's land behind them.
func TestMigrateConcurrentPush(t *testing.T) {
	e := newMigrateEnv(t)
	const hist = 1500
	moved := movedChannels(20)
	for _, ch := range moved {
		pushAll(t, e.a, spoolKey(ch), newestFirst(1, 400, "s"))
	}
	cl := client(t, e.b)
	var stop atomic.Bool
	var wg sync.WaitGroup
	pushed := make([][]string, len(moved))
	for w, ch := range moved {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := 1000; i < 2000 && !stop.Load(); i++ { // as a router: LPUSH + LTRIM + EXPIRE, pipelined
				m := entry(i, "d")
				for _, r := range cl.DoMulti(ctx, cl.B().Lpush().Key(spoolKey(ch)).Element(m).Build(),
					cl.B().Ltrim().Key(spoolKey(ch)).Start(0).Stop(hist-1).Build(),
					cl.B().Expire().Key(spoolKey(ch)).Seconds(600).Build()) {
					if err := r.Error(); err != nil {
						t.Error(err)
						return
					}
				}
				pushed[w] = append(pushed[w], m)
			}
		}()
	}
	c, err := MigrateShards(context.Background(), MigrateOptions{From: e.from, To: e.to, History: hist, Timeout: 5 * time.Second})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("counts %+v", c)
	inFlight := 0
	for w, ch := range moved {
		got := lrange(t, e.b, spoolKey(ch))
		slices.Reverse(pushed[w])
		want := append(pushed[w], newestFirst(1, 400, "s")...)
		want = want[:min(len(want), hist)]
		if !slices.Equal(got, want) {
			t.Errorf("channel %s: %d entries, want %d (%d pushed)", ch, len(got), len(want), len(pushed[w]))
		}
		if len(pushed[w]) > 0 && len(pushed[w]) < hist {
			inFlight++
		}
	}
	t.Logf("%d of %d channels had writes in flight at the end", inFlight, len(moved))
}

// Entries pushed to the destination between its snapshot and the merge
// script stay at the head, also when their LTRIM cut the snapshot's tail.
func TestMigratePushBetweenSnapshotAndMerge(t *testing.T) {
	e := newMigrateEnv(t)
	ch := movedChannels(1)[0]
	key := spoolKey(ch)
	pushAll(t, e.a, key, newestFirst(1, 10, "s"))
	pushAll(t, e.b, key, newestFirst(21, 30, "d"))
	cl := client(t, e.b)
	const hist = 15
	testHookBeforeMerge = func(string) {
		for i := 31; i <= 37; i++ {
			cl.DoMulti(context.Background(), cl.B().Lpush().Key(key).Element(entry(i, "d"+strconv.Itoa(i))).Build(),
				cl.B().Ltrim().Key(key).Start(0).Stop(hist-1).Build())
		}
	}
	defer func() { testHookBeforeMerge = nil }()
	c, err := MigrateShards(context.Background(), MigrateOptions{From: e.from, To: e.to, History: hist, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := lrange(t, e.b, key)
	if want := newestFirst(21, 37, "d")[:hist]; !slices.Equal(got, want) {
		t.Errorf("list %q\nwant %q", got, want)
	}
	if c.Copied != 0 || c.Trimmed != 10 {
		t.Errorf("counts %+v", c)
	}
	// with room, the source's entries follow
	testHookBeforeMerge = func(string) {
		cl.DoMulti(context.Background(), cl.B().Lpush().Key(key).Element(entry(38, "d38")).Build())
	}
	c, err = MigrateShards(context.Background(), MigrateOptions{From: e.from, To: e.to, History: 40, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got = lrange(t, e.b, key)
	want := append(newestFirst(38, 38, "d"), newestFirst(23, 37, "d")...)
	if want = append(want, newestFirst(1, 10, "s")...); !slices.Equal(got, want) {
		t.Errorf("list %q\nwant %q", got, want)
	}
	if c.Copied != 10 {
		t.Errorf("counts %+v", c)
	}
}

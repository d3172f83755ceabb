package route

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

const tok = "t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42"

func testSnapshot() *config.Snapshot {
	return config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
		config.ChannelKey("2"): config.ChannelHash("", "no_redis"),
		config.TokenKey("t.2"): config.TokenHash("2", "quiet"),
		config.TokenKey("t.9"): config.TokenHash("9", "orphan"),
	}, false, "1-0")
}

func history(t *testing.T, sp store.Spool, ch string) []string {
	t.Helper()
	ms, err := sp.Range(context.Background(), ch, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = string(m) // oldest first
	}
	return out
}

func TestRouteRewritesAppNameOnly(t *testing.T) {
	sp := embedded.NewSpool(10, 0)
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, sp, nil)
	before := ReadCounters()
	b := r.Batch()
	b.AddByAppName([]byte("<134>1 2012-12-10T03:00:48.123456Z erlang " + tok + " console.1 - - Logsplat test message 1"))
	b.AddByAppName([]byte("<134>1 2012-12-10T03:00:48.123456Z " + tok + " " + tok + " p - - host field is the token too"))
	b.AddByAppName([]byte("<1>1 t h t.unknown p - - x"))
	b.AddByAppName([]byte("<1>1 t h notatoken p - - x"))
	b.AddByAppName([]byte("<1>1 t h t.2 p - - no_redis channel"))
	b.AddByAppName([]byte("<1>1 t h t.9 p - - channel missing"))
	b.Flush()
	got := history(t, sp, "1")
	want := []string{
		"<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - Logsplat test message 1",
		"<134>1 2012-12-10T03:00:48.123456Z " + tok + " app p - - host field is the token too",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history\n got %q\nwant %q", got, want)
	}
	if h := history(t, sp, "2"); len(h) != 0 {
		t.Fatalf("no_redis channel got history: %q", h)
	}
	d := ReadCounters()
	if d.Received-before.Received != 4 || d.Processed-before.Processed != 3 || d.UnknownToken-before.UnknownToken != 1 ||
		d.Malformed-before.Malformed != 1 || d.UnknownChannel-before.UnknownChannel != 1 {
		t.Fatalf("counters moved by %+v (before %+v)", d, before)
	}
}

func TestAddForTokenIgnoresOtherAppName(t *testing.T) {
	sp := embedded.NewSpool(10, 0)
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, sp, nil)
	b := r.Batch()
	tk := snap.Token(tok)
	b.AddForToken([]byte("<158>1 2013-05-27T19:59:36.538297+00:00 node t.8ec095b4-8960-39fa-b948-e9e21f27f5de router - - at=info"), tk)
	b.AddForToken([]byte("<42> blafasel"), tk)
	b.Flush()
	got := history(t, sp, "1")
	if len(got) != 2 || got[0] != "<158>1 2013-05-27T19:59:36.538297+00:00 node t.8ec095b4-8960-39fa-b948-e9e21f27f5de router - - at=info" || got[1] != "<42> blafasel" {
		t.Fatalf("token-auth history %q", got)
	}
}

func TestNoSnapshotCountsUnknownToken(t *testing.T) {
	r := New(func() *config.Snapshot { return nil }, nil, nil)
	before := ReadCounters().UnknownToken
	b := r.Batch()
	b.AddByAppName([]byte("<1>1 t h " + tok + " p - - x"))
	b.Flush()
	if ReadCounters().UnknownToken != before+1 {
		t.Fatal("message before config load not counted")
	}
}

// discard is a Spool that recycles batches, to measure the routing path alone.
type discard struct{}

func (discard) Write(b *store.HistoryBatch) { store.PutHistoryBatch(b) }
func (discard) Range(context.Context, string, int) ([][]byte, error) {
	return nil, nil
}
func (discard) Close() error { return nil }

func TestRoutePathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items); make test runs this without -race")
	}
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, discard{}, nil)
	msg := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang " + tok + " console.1 - - Logsplat test message 1")
	for range 10 { // warm the pools
		b := r.Batch()
		for range 100 {
			b.AddByAppName(msg)
		}
		b.Flush()
	}
	allocs := testing.AllocsPerRun(200, func() {
		b := r.Batch()
		for range 100 {
			b.AddByAppName(msg)
		}
		b.Flush()
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per 100-message batch, want 0", allocs)
	}
}

func BenchmarkRouteBatch(b *testing.B) {
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, discard{}, nil)
	msg := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang " + tok + " console.1 - - Logsplat test message 1")
	b.SetBytes(int64(len(msg)) * 100)
	b.ReportAllocs()
	for b.Loop() {
		bt := r.Batch()
		for range 100 {
			bt.AddByAppName(msg)
		}
		bt.Flush()
	}
}

// docs/logplex.md §10 case 89: 400 000 qualifying messages split 50% ± 0.5% between
// two firehose channels (and evenly over three).
func TestFirehoseSplitsEvenly(t *testing.T) {
	for _, n := range []int{2, 3} {
		var b Batch
		counts := make([]int, n)
		const total = 400_000
		for range total {
			counts[b.pick(n)]++
		}
		for i, c := range counts {
			share := float64(c) / total
			if share < 1/float64(n)-0.005 || share > 1/float64(n)+0.005 {
				t.Fatalf("%d channels: channel %d got %.4f of the messages (%v)", n, i, share, counts)
			}
		}
	}
}

// The batch caches (app-name → token, token → channel) outlive a batch; a
// new snapshot must replace them: the token moves to another channel, is
// renamed, then is deleted, and each batch follows the snapshot it is bound to.
func TestRouteCachesFollowTheSnapshot(t *testing.T) {
	sp := embedded.NewSpool(10, 0)
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, sp, nil)
	send := func(text string) {
		for range 3 { // several batches per snapshot: the pooled batch is reused
			b := r.Batch()
			b.AddByAppName([]byte("<1>1 T h " + tok + " web.1 - - " + text))
			b.Flush()
		}
	}
	send("a")
	snap = snap.With([]config.Change{{Key: config.TokenKey(tok), Fields: config.TokenHash("3", "moved")},
		{Key: config.ChannelKey("3"), Fields: config.ChannelHash("", "")}}, "2-0")
	send("b")
	snap = snap.With([]config.Change{{Key: config.TokenKey(tok), Fields: config.TokenHash("3", "renamed")}}, "3-0")
	send("c")
	snap = snap.With([]config.Change{{Key: config.TokenKey(tok)}}, "4-0")
	before := ReadCounters()
	send("d")
	if got := ReadCounters().UnknownToken - before.UnknownToken; got != 3 {
		t.Errorf("after the token's deletion %d messages counted as unknown token, want 3", got)
	}
	if got, want := fmt.Sprint(history(t, sp, "1")), "[<1>1 T h app web.1 - - a <1>1 T h app web.1 - - a <1>1 T h app web.1 - - a]"; got != want {
		t.Errorf("channel 1 history %s, want %s", got, want)
	}
	want := "[<1>1 T h moved web.1 - - b <1>1 T h moved web.1 - - b <1>1 T h moved web.1 - - b " +
		"<1>1 T h renamed web.1 - - c <1>1 T h renamed web.1 - - c <1>1 T h renamed web.1 - - c]"
	if got := fmt.Sprint(history(t, sp, "3")); got != want {
		t.Errorf("channel 3 history %s, want %s", got, want)
	}
}

// Three tokens whose ids fall in the same set of the app-name cache (two
// ways) evict one another in turn; every message still goes to its own
// token's channel.
func TestRouteTokenCacheEviction(t *testing.T) {
	set := func(id string) uint64 { return idKeyString(id) >> (64 - tokenBits) }
	var ids []string
	want := set("t.00000000-0000-0000-0000-000000000000")
	for i := 0; len(ids) < 3; i++ {
		if id := fmt.Sprintf("t.00000000-0000-0000-0000-%012d", i); set(id) == want {
			ids = append(ids, id)
		}
	}
	hs := map[string]config.Hash{}
	for i, id := range ids {
		ch := strconv.Itoa(i + 1)
		hs[config.ChannelKey(ch)] = config.ChannelHash("", "")
		hs[config.TokenKey(id)] = config.TokenHash(ch, "n"+ch)
	}
	snap := config.Build(hs, false, "1-0")
	sp := embedded.NewSpool(100, 0)
	r := New(func() *config.Snapshot { return snap }, sp, nil)
	for round := range 2 {
		b := r.Batch()
		for k := range 9 {
			b.AddByAppName([]byte("<1>1 T h " + ids[k%3] + " p - - " + strconv.Itoa(round*9+k)))
		}
		b.Flush()
	}
	for i := range ids {
		got := history(t, sp, strconv.Itoa(i+1))
		if len(got) != 6 {
			t.Fatalf("channel %d got %d messages, want 6: %q", i+1, len(got), got)
		}
		for j, m := range got {
			if want := "<1>1 T h n" + strconv.Itoa(i+1) + " p - - " + strconv.Itoa(j/3*9+j%3*3+i); m != want {
				t.Fatalf("channel %d message %d = %q, want %q", i+1, j, m, want)
			}
		}
	}
}

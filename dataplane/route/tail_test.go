package route

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

// recordingBus is a store.Bus that records each Publish call.
type recordingBus struct {
	calls []string // channel per call
	msgs  map[string][]string
}

func (r *recordingBus) Publish(ch string, msgs [][]byte) {
	r.calls = append(r.calls, ch)
	if r.msgs == nil {
		r.msgs = map[string][]string{}
	}
	for _, m := range msgs {
		r.msgs[ch] = append(r.msgs[ch], string(m))
	}
}
func (*recordingBus) Subscribe(context.Context, string, *store.TailQueue) (func(), error) {
	return func() {}, nil
}
func (*recordingBus) Close() error { return nil }

// tailed returns snap with tail sessions registered on the given channels.
func tailed(snap *config.Snapshot, channels ...string) *config.Snapshot {
	var cs []config.Change
	for i, ch := range channels {
		cs = append(cs, config.Change{Key: config.TailKey(ch, "s"+strconv.Itoa(i)), Fields: config.TailHash("n")})
	}
	return snap.With(cs, "2-0")
}

func TestRoutePublishesTailedChannels(t *testing.T) {
	snap := tailed(testSnapshot(), "2") // channel 2 (no_redis, token t.2) is tailed, channel 1 is not
	bus := &recordingBus{}
	r := New(func() *config.Snapshot { return snap }, embedded.NewSpool(10, 0), nil)
	r.SetBus(bus)
	b := r.Batch()
	b.AddByAppName([]byte("<1>1 T h " + tok + " web.1 - - untailed"))
	b.AddByAppName([]byte("<1>1 T h t.2 web.1 - - one"))
	b.AddByAppName([]byte("<1>1 T h t.2 web.2 - - two"))
	b.AddByAppName([]byte("<1>1 T h t.9 web.1 - - orphan"))
	b.Flush()
	if fmt.Sprint(bus.calls) != "[2]" {
		t.Fatalf("Publish calls %v, want one for channel 2", bus.calls)
	}
	want := []string{"<1>1 T h quiet web.1 - - one", "<1>1 T h quiet web.2 - - two"} // cooked, in order
	if fmt.Sprint(bus.msgs["2"]) != fmt.Sprint(want) {
		t.Fatalf("published %q, want %q", bus.msgs["2"], want)
	}

	r.SetDenyTailSessions(true)
	b = r.Batch()
	b.AddByAppName([]byte("<1>1 T h t.2 web.1 - - denied"))
	b.Flush()
	r.Notice("2", []byte("<188>1 T d.x t.2 logplex - - Error L14 denied"))
	if len(bus.calls) != 1 {
		t.Fatalf("deny_tail_sessions: still published (%v)", bus.calls)
	}
	r.SetDenyTailSessions(false)
	r.Notice("2", []byte("<188>1 T d.x t.2 logplex - - Error L14"))
	if len(bus.calls) != 2 || bus.msgs["2"][2] != "<188>1 T d.x quiet logplex - - Error L14" {
		t.Fatalf("L14 notice not published cooked to the tail: %q", bus.msgs["2"])
	}
}

// End to end inside the process: route → embedded bus → a session's queue.
func TestRouteToTailQueue(t *testing.T) {
	bus := embedded.NewBus()
	q := store.NewTailQueue(0)
	cancel, err := bus.Subscribe(context.Background(), "1", q)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	snap := testSnapshot()
	r := New(func() *config.Snapshot { return snap }, discard{}, nil)
	r.SetBus(bus)
	route := func(text string) {
		b := r.Batch()
		b.AddByAppName([]byte("<1>1 T h " + tok + " web.1 - - " + text))
		b.Flush()
	}
	route("before the registration reached this node")
	snap = tailed(snap, "1")
	route("tailed")
	ctx, done := context.WithTimeout(context.Background(), time.Second)
	defer done()
	msgs, lost, _, err := q.Next(ctx, nil)
	if err != nil || lost != 0 || len(msgs) != 1 || string(msgs[0]) != "<1>1 T h app web.1 - - tailed" {
		t.Fatalf("queue got %q (lost %d, %v)", msgs, lost, err)
	}
}

// otherTails is the routing snapshot with n tail sessions on n channels
// other than the one the benchmark routes to.
func otherTails(n int) *config.Snapshot {
	snap := testSnapshot()
	var cs []config.Change
	for i := range n {
		id := strconv.Itoa(100 + i)
		cs = append(cs, config.Change{Key: config.ChannelKey(id), Fields: config.ChannelHash("", "")},
			config.Change{Key: config.TailKey(id, "s"), Fields: config.TailHash("n")})
	}
	return snap.With(cs, "2-0")
}

// Tails on other channels cost the route path nothing: still no allocation.
func TestRoutePathAllocatesNothingWithOtherTails(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items); make test runs this without -race")
	}
	snap := otherTails(10)
	r := New(func() *config.Snapshot { return snap }, discard{}, nil)
	r.SetBus(embedded.NewBus())
	msg := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang " + tok + " console.1 - - Logsplat test message 1")
	for range 10 {
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
		t.Fatalf("%.1f allocations per 100-message batch with 10 tails elsewhere, want 0", allocs)
	}
}

// BenchmarkRouteOtherTails is acceptance 3: routing throughput with 0 and
// with 10 live tails on other channels (bus attached in both). Compare the
// msgs/s of the two sub-benchmarks; they must differ by less than 5%.
func BenchmarkRouteOtherTails(b *testing.B) {
	for _, n := range []int{0, 10} {
		b.Run(fmt.Sprintf("tails=%d", n), func(b *testing.B) {
			snap := otherTails(n)
			r := New(func() *config.Snapshot { return snap }, discard{}, nil)
			bus := embedded.NewBus()
			for i := range n { // live subscribers too, as on a node serving the sessions
				cancel, _ := bus.Subscribe(context.Background(), strconv.Itoa(100+i), store.NewTailQueue(0))
				defer cancel()
			}
			r.SetBus(bus)
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
			b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRouteManyChannels: batches of 25 and of 500 messages spread over
// 100 tailed channels (so every message finds its channel's group in the
// batch; at saturation the router reads ~500 messages per batch).
func BenchmarkRouteManyChannels(b *testing.B) {
	hs := map[string]config.Hash{}
	var msgs [][]byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100 { // random token ids, as the API makes them
		id := strconv.Itoa(1 + i)
		tk := randomTokenID(rng)
		hs[config.ChannelKey(id)] = config.ChannelHash("", "")
		hs[config.TokenKey(tk)] = config.TokenHash(id, "app")
		hs[config.TailKey(id, "s")] = config.TailHash("n")
		msgs = append(msgs, []byte("<134>1 2012-12-10T03:00:48.123456Z erlang "+tk+" console.1 - - Logsplat test message 1"))
	}
	snap := config.Build(hs, false, "1-0")
	for _, per := range []int{25, 500} {
		b.Run(fmt.Sprintf("batch=%d", per), func(b *testing.B) {
			k := 0
			routeBatches(b, snap, per, func() []byte { k += 7; return msgs[k%len(msgs)] })
		})
	}
}

// randomTokenID is a token id as the API makes them ("t." and a random
// UUID v4).
func randomTokenID(rng *rand.Rand) string {
	return fmt.Sprintf("t.%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
		rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
}

// routeBatches routes batches of per messages (next gives each) through a
// router on snap whose tails go to an embedded bus, and reports msgs/s.
func routeBatches(b *testing.B, snap *config.Snapshot, per int, next func() []byte) {
	routeBatchesBetween(b, snap, per, next, nil)
}

// routeBatchesBetween is routeBatches calling between (untimed, unless
// nil) after each batch.
func routeBatchesBetween(b *testing.B, snap *config.Snapshot, per int, next func() []byte, between func()) {
	r := New(func() *config.Snapshot { return snap }, discard{}, nil)
	r.SetBus(embedded.NewBus())
	b.ReportAllocs()
	for b.Loop() {
		bt := r.Batch()
		for range per {
			bt.AddByAppName(next())
		}
		bt.Flush()
		if between != nil {
			b.StopTimer()
			between()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)*float64(per)/b.Elapsed().Seconds(), "msgs/s")
}

// A batch over more channels than its group table first holds (it grows
// twice here, re-entering every group) still gives every channel exactly
// its own messages, in order, in one group.
func TestRouteBatchManyGroups(t *testing.T) {
	const n = 3*groupTableMin + 100 // the table grows twice
	hs := map[string]config.Hash{}
	var msgs [][]byte
	for i := range n {
		id, tk := strconv.Itoa(1+i), "t.g"+strconv.Itoa(i)
		hs[config.ChannelKey(id)] = config.ChannelHash("", "")
		hs[config.TokenKey(tk)] = config.TokenHash(id, "app")
		hs[config.TailKey(id, "s")] = config.TailHash("n")
		msgs = append(msgs, []byte("<134>1 2012-12-10T03:00:48Z h "+tk+" web.1 - - m"))
	}
	snap := config.Build(hs, false, "1-0")
	r := New(func() *config.Snapshot { return snap }, nil, nil)
	bus := &recordingBus{}
	r.SetBus(bus)
	for round := range 2 {
		b := r.Batch()
		for pass := range 2 { // each channel twice per batch, far apart
			for i := range n {
				m := append([]byte(nil), msgs[i]...)
				m = append(m, strconv.Itoa(round*2+pass)...)
				b.AddByAppName(m)
			}
		}
		b.Flush()
	}
	calls := map[string]int{}
	for _, ch := range bus.calls {
		calls[ch]++
	}
	for i := range n {
		if c := calls[strconv.Itoa(1+i)]; c != 2 {
			t.Fatalf("channel %d published %d times in 2 batches, want once per batch (one group per channel)", 1+i, c)
		}
		got := bus.msgs[strconv.Itoa(1+i)]
		want := []string{"m0", "m1", "m2", "m3"}
		if len(got) != len(want) {
			t.Fatalf("channel %d: %d messages %q, want %d", 1+i, len(got), got, len(want))
		}
		for k := range want {
			if !strings.HasSuffix(got[k], " app web.1 - - "+want[k]) {
				t.Fatalf("channel %d: message %d is %q, want ...%s", 1+i, k, got[k], want[k])
			}
		}
	}
}

// Tokens whose ids end alike share a slot of the batch's token cache; each
// message still reaches its own token's channel.
func TestRouteTokenCacheCollisions(t *testing.T) {
	toks := []string{"t.aaaa-12345678", "t.bbbb-12345678", "t.12345678", "t.x"}
	hs := map[string]config.Hash{}
	for i, tk := range toks {
		id := strconv.Itoa(1 + i)
		hs[config.ChannelKey(id)] = config.ChannelHash("", "")
		hs[config.TokenKey(tk)] = config.TokenHash(id, "app"+id)
		hs[config.TailKey(id, "s")] = config.TailHash("n")
	}
	snap := config.Build(hs, false, "1-0")
	r := New(func() *config.Snapshot { return snap }, nil, nil)
	bus := &recordingBus{}
	r.SetBus(bus)
	b := r.Batch()
	for round := range 3 {
		for _, tk := range toks {
			b.AddByAppName([]byte("<134>1 2012-12-10T03:00:48Z h " + tk + " web.1 - - r" + strconv.Itoa(round)))
		}
		b.AddByAppName([]byte("<134>1 2012-12-10T03:00:48Z h t.cccc-12345678 web.1 - - unknown"))
	}
	b.Flush()
	for i := range toks {
		id := strconv.Itoa(1 + i)
		got := bus.msgs[id]
		if len(got) != 3 {
			t.Fatalf("channel %s got %q, want its 3 messages", id, got)
		}
		for _, m := range got {
			if !strings.Contains(m, " app"+id+" web.1") {
				t.Fatalf("channel %s got %q, another token's message", id, m)
			}
		}
	}
}

package route

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/ringbuf"
	"github.com/logplex/logplex/store"
)

// recordingSpool is a store.Spool that records what each channel's history
// gets, in order.
type recordingSpool struct{ got map[string][]string }

func (s *recordingSpool) Write(b *store.HistoryBatch) {
	for i, m := range b.Msgs {
		s.got[m.Channel] = append(s.got[m.Channel], string(b.Msg(i)))
	}
	store.PutHistoryBatch(b)
}
func (*recordingSpool) Range(context.Context, string, int) ([][]byte, error) { return nil, nil }
func (*recordingSpool) Close() error                                         { return nil }

// cacheModel is the test's world: ids to draw from, and the drains a drain
// table may hold (their buffers record what the router pushes).
type cacheModel struct {
	rng      *rand.Rand
	channels []string
	tokens   []string // ids, some ending alike (one cache set), some short
	names    []string // token names, "fh" is the firehose's
	drains   []*drain.Drain
}

func newCacheModel(seed uint64) *cacheModel {
	m := &cacheModel{rng: rand.New(rand.NewPCG(seed, 99)), names: []string{"app", "web", "fh", "my app"}}
	for i := range 8 {
		m.channels = append(m.channels, strconv.Itoa(1+i))
	}
	m.tokens = []string{"t.aaaa-12345678", "t.bbbb-12345678", "t.12345678", "t.x", "t.y"}
	for range 20 {
		r := m.rng
		m.tokens = append(m.tokens, fmt.Sprintf("t.%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff,
			r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff))
	}
	for i := range 6 {
		m.drains = append(m.drains, &drain.Drain{Buf: drain.NewBuffer(1<<16, drain.Form(i%2))})
	}
	return m
}

func (m *cacheModel) pick(s []string) string { return s[m.rng.IntN(len(s))] }

// change returns a random config change: a token set or deleted (moved,
// renamed), a channel set (flags) or deleted, a tail registered or ended,
// a drain record set or deleted (a channel's Drains decide whether the
// router asks the drain table).
func (m *cacheModel) change() config.Change {
	ch := m.pick(m.channels)
	switch m.rng.IntN(7) {
	case 0, 1:
		return config.Change{Key: config.TokenKey(m.pick(m.tokens)), Fields: config.TokenHash(ch, m.pick(m.names))}
	case 2:
		return config.Change{Key: config.TokenKey(m.pick(m.tokens))}
	case 3:
		if m.rng.IntN(4) == 0 {
			return config.Change{Key: config.ChannelKey(ch)}
		}
		return config.Change{Key: config.ChannelKey(ch), Fields: config.ChannelHash("", []string{"", "no_redis"}[m.rng.IntN(2)])}
	case 4:
		if m.rng.IntN(2) == 0 {
			return config.Change{Key: config.TailKey(ch, "s")}
		}
		return config.Change{Key: config.TailKey(ch, "s"), Fields: config.TailHash("n")}
	default:
		id := int64(1 + m.rng.IntN(10))
		if m.rng.IntN(3) == 0 {
			return config.Change{Key: config.DrainKey(id)}
		}
		return config.Change{Key: config.DrainKey(id), Fields: config.DrainHash(&config.Drain{ID: id, ChannelID: ch,
			Token: "d.1", URL: "http://127.0.0.1/"})}
	}
}

// table returns a new drain table: each drain on a random channel or none.
func (m *cacheModel) table() *drain.Table {
	t := map[string][]*drain.Drain{}
	for _, d := range m.drains {
		if k := m.rng.IntN(len(m.channels) + 2); k < len(m.channels) {
			t[m.channels[k]] = append(t[m.channels[k]], d)
		}
	}
	return drain.NewTable(t)
}

// expect is what every destination should get: history and tails by
// channel, drains by pointer, each in order.
type expect struct {
	history, tails map[string][]string
	drains         map[*drain.Drain][]string
}

// want records where msg, routed to tok (nil: by its app-name) with snap
// and tab, must go, from plain lookups: the snapshot's token, its channel,
// the channel's drains in tab (when it lists any), Tailed; and the
// firehose (one channel, fire, for tokens named "fh").
func (x *expect) want(snap *config.Snapshot, tab *drain.Table, msg string, tok *config.Token, fire string) {
	s, e, _ := frame.AppName([]byte(msg))
	rewrite := true
	if tok == nil {
		if tok = snap.Token(msg[s:e]); tok == nil {
			return
		}
	} else {
		rewrite = msg[s:e] == tok.ID
	}
	ch := snap.Channel(tok.ChannelID)
	if ch == nil {
		return
	}
	cooked := msg
	if rewrite {
		cooked = msg[:s] + tok.Name + msg[e:]
	}
	if !ch.NoRedis {
		x.history[ch.ID] = append(x.history[ch.ID], cooked)
	}
	if snap.Tailed(ch.ID) {
		x.tails[ch.ID] = append(x.tails[ch.ID], cooked)
	}
	if len(ch.Drains) > 0 {
		for _, d := range tab.For(ch.ID) {
			x.toDrain(d, cooked)
		}
	}
	if tok.Name != "fh" || ch.ID == fire {
		return
	}
	if fc := snap.Channel(fire); fc != nil { // raw; its tails too (the group's spans), never its history
		var ds []*drain.Drain
		if len(fc.Drains) > 0 {
			ds = tab.For(fire)
		}
		if snap.Tailed(fire) {
			x.tails[fire] = append(x.tails[fire], msg)
		}
		for _, d := range ds {
			x.toDrain(d, msg)
		}
	}
}

func (x *expect) toDrain(d *drain.Drain, cooked string) {
	if f, ok := drain.AppendForm(nil, []byte(cooked), d.Buf.Form()); ok {
		x.drains[d] = append(x.drains[d], string(f))
	}
}

// TestCachesModel: routing through the batch's caches equals routing by
// plain snapshot and drain-table lookups, across random sequences of
// snapshot swaps, drain-table swaps, tokens from older snapshots
// (AddForToken) and forced wrap-around of both generation counters. Each
// batch's history, tails and drain buffers are compared with the model's.
func TestCachesModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) { cachesModel(t, seed) })
	}
}

func cachesModel(t *testing.T, seed uint64) {
	m := newCacheModel(seed)
	snap := config.Empty()
	for range 40 {
		snap = snap.With([]config.Change{m.change()}, "1-0")
	}
	tab := m.table()
	const fire = "8"
	sp := &recordingSpool{got: map[string][]string{}}
	bus := &recordingBus{}
	r := New(func() *config.Snapshot { return snap }, sp, nil)
	r.table = func() *drain.Table { return tab }
	r.SetBus(bus)
	r.SetFirehose(NewFirehose([]string{fire}, []string{"fh"}))
	old := []*config.Snapshot{snap}
	// One batch, reused after each Flush (the test holds it; the pool is
	// never asked for another), so that forcing its counters sticks.
	b := r.Batch()
	for step := range 1500 {
		switch op := m.rng.IntN(12); {
		case op < 3:
			var cs []config.Change
			for range 1 + m.rng.IntN(3) {
				cs = append(cs, m.change())
			}
			snap = snap.With(cs, strconv.Itoa(step))
			old = append(old, snap)
		case op < 4:
			tab = m.table()
		case op < 5: // the next new gens wrap; forward only, as counting does
			b.cache.gen = max(b.cache.gen, math.MaxUint32-uint32(m.rng.IntN(3)))
		case op < 6: // the next batches wrap
			b.cache.batch = max(b.cache.batch, math.MaxUint32-uint32(m.rng.IntN(3)))
		}
		if step > 0 {
			b.start()
		}
		x := expect{history: map[string][]string{}, tails: map[string][]string{}, drains: map[*drain.Drain][]string{}}
		for i := range m.rng.IntN(60) {
			id := m.pick(m.tokens)
			if m.rng.IntN(20) == 0 {
				id = "t.unknown-" + id[2:]
			}
			msg := "<1>1 T h " + id + " p - - " + strconv.Itoa(step) + "." + strconv.Itoa(i)
			if m.rng.IntN(8) == 0 { // a token of this or an older snapshot, as token-authorised /logs
				tok := old[m.rng.IntN(len(old))].Token(id)
				if tok == nil {
					continue
				}
				x.want(snap, tab, msg, tok, fire)
				b.AddForToken([]byte(msg), tok)
				continue
			}
			x.want(snap, tab, msg, nil, fire)
			b.AddByAppName([]byte(msg))
		}
		b.Flush()
		x.check(t, step, sp, bus, m.drains)
		if t.Failed() {
			return
		}
	}
}

func (x *expect) check(t *testing.T, step int, sp *recordingSpool, bus *recordingBus, drains []*drain.Drain) {
	t.Helper()
	for ch, got := range sp.got {
		if !slices.Equal(got, x.history[ch]) {
			t.Errorf("step %d: channel %s history\n got %q\nwant %q", step, ch, got, x.history[ch])
		}
		delete(x.history, ch)
	}
	for ch, want := range x.history {
		t.Errorf("step %d: channel %s history got nothing, want %q", step, ch, want)
	}
	for ch, got := range bus.msgs {
		if !slices.Equal(got, x.tails[ch]) {
			t.Errorf("step %d: channel %s tail\n got %q\nwant %q", step, ch, got, x.tails[ch])
		}
		delete(x.tails, ch)
	}
	for ch, want := range x.tails {
		t.Errorf("step %d: channel %s tail got nothing, want %q", step, ch, want)
	}
	for i, d := range drains {
		var got []string
		d.Buf.With(func(r *ringbuf.Ring) {
			for {
				m, ok := r.Pop()
				if !ok {
					break
				}
				got = append(got, string(m))
			}
		})
		if !slices.Equal(got, x.drains[d]) {
			t.Errorf("step %d: drain %d (form %d)\n got %q\nwant %q", step, i, d.Buf.Form(), got, x.drains[d])
		}
	}
	clear(sp.got)
	clear(bus.msgs)
	bus.calls = bus.calls[:0]
}

// Ids that end alike share the token cache's set, and ids shorter than
// eight bytes are keyed whole.
func TestIDKey(t *testing.T) {
	for _, id := range []string{"t.aaaa-12345678", "t.x", "", "t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42"} {
		if idKeyString(id) != idKey([]byte(id)) {
			t.Errorf("%q: idKeyString %x, idKey %x", id, idKeyString(id), idKey([]byte(id)))
		}
	}
	if idKeyString("t.aaaa-12345678") != idKeyString("t.bbbb-12345678") {
		t.Error("ids with the same last eight bytes have different keys")
	}
	if idKeyString("t.x") == idKeyString("t.y") {
		t.Error("short ids collide")
	}
}

// BenchmarkRouteZipfTokens: the many-channels scenario's spread, routed:
// 100 000 tokens on 10 000 tailed channels, Zipf(1.1) over the tokens,
// batches of 150 (what that scenario reads per ingest batch). Far more
// tokens than the caches hold, so the misses (the snapshot's lookups) are
// what this measures beside the hits.
func BenchmarkRouteZipfTokens(b *testing.B) {
	const tokens, channels, per = 100_000, 10_000, 150
	hs := map[string]config.Hash{}
	rng := rand.New(rand.NewPCG(3, 4))
	msgs := make([][]byte, tokens)
	for i := range tokens {
		id := strconv.Itoa(1 + i%channels)
		tk := randomTokenID(rng)
		if i < channels {
			hs[config.ChannelKey(id)] = config.ChannelHash("", "")
			hs[config.TailKey(id, "s")] = config.TailHash("n")
		}
		hs[config.TokenKey(tk)] = config.TokenHash(id, "app")
		msgs[i] = []byte("<134>1 2012-12-10T03:00:48.123456Z erlang " + tk + " console.1 - - Logsplat test message 1")
	}
	snap := config.Build(hs, false, "1-0")
	z := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, tokens-1)
	order := make([]uint32, 1<<20)
	for i := range order {
		order[i] = uint32(z.Uint64())
	}
	// cold: between batches the CPU's caches are refilled with other data,
	// as a router's are by its drain senders (many-channels runs 10 000).
	evict := make([]byte, 16<<20)
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "warm", true: "cold"}[cold], func(b *testing.B) {
			k := 0
			var between func()
			if cold {
				between = func() {
					for i := 0; i < len(evict); i += 64 {
						evict[i]++
					}
				}
			}
			routeBatchesBetween(b, snap, per, func() []byte { k++; return msgs[order[k&(len(order)-1)]] }, between)
			b.ReportMetric(b.Elapsed().Seconds()*1e9/(float64(b.N)*per), "ns/msg")
		})
	}
}

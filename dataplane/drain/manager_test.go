package drain

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/internal/testenv"
)

// managerState is what Update decides: the running drains, the drains it
// could not start, the table, and the spills and left directories.
type managerState struct {
	running   map[int64]*Drain
	unstarted []int64
	table     map[string][]*Drain
	spills    []int64
	left      []int64
}

func stateOf(m *Manager) managerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := managerState{running: maps.Clone(m.running), unstarted: slices.Sorted(maps.Keys(m.unstarted)), table: map[string][]*Drain{}}
	for _, sh := range m.table.Load().shards {
		for ch, ds := range sh {
			s.table[ch] = ds
		}
	}
	if m.spill != nil {
		m.spill.mu.Lock()
		s.spills, s.left = slices.Sorted(maps.Keys(m.spill.drains)), slices.Sorted(maps.Keys(m.spill.left))
		m.spill.mu.Unlock()
	}
	return s
}

// tableIDs is a table's drain ids by channel.
func tableIDs(t map[string][]*Drain) map[string][]int64 {
	out := map[string][]int64{}
	for ch, ds := range t {
		for _, d := range ds {
			out[ch] = append(out[ch], d.Config.ID)
		}
	}
	return out
}

// checkTable: the table lists exactly the running drains, each under its
// channel, sorted by id, and For finds each list.
func checkTable(t *testing.T, m *Manager, s managerState) {
	t.Helper()
	n := 0
	for ch, ds := range s.table {
		if len(ds) == 0 || !slices.IsSortedFunc(ds, byID) {
			t.Fatalf("channel %s: %d drains, sorted %v", ch, len(ds), slices.IsSortedFunc(ds, byID))
		}
		if got := m.ForChannel(ch); !slices.Equal(got, ds) {
			t.Fatalf("For(%s) = %v, want %v", ch, got, ds)
		}
		for _, d := range ds {
			if s.running[d.Config.ID] != d || d.Config.ChannelID != ch {
				t.Fatalf("channel %s lists drain %d, not the running one of that channel", ch, d.Config.ID)
			}
		}
		n += len(ds)
	}
	if n != len(s.running) {
		t.Fatalf("the table lists %d drains, %d run", n, len(s.running))
	}
}

// managerModel makes random batches for a config of 6 channels and 12
// drains (ids base+1..base+12) of varied URLs: valid, empty, unparsable,
// of an unsupported kind; some changes leave a drain as it was.
type managerModel struct {
	rng    *rand.Rand
	base   int64
	hashes map[string]config.Hash
}

var modelURLs = []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b", "syslog://127.0.0.1:9", "", "http://[::1", "ftp://127.0.0.1/"}

func (m *managerModel) batch() []config.Change {
	var cs []config.Change
	for range 1 + m.rng.IntN(3) {
		ch := fmt.Sprint("c", m.rng.IntN(6))
		id := m.base + 1 + int64(m.rng.IntN(12))
		var c config.Change
		switch m.rng.IntN(10) {
		case 0:
			c = config.Change{Key: config.ChannelKey(ch)}
		case 1, 2:
			c = config.Change{Key: config.ChannelKey(ch), Fields: config.ChannelHash(ch, "")}
		case 3:
			c = config.Change{Key: config.TokenKey("t.1"), Fields: config.TokenHash(ch, "app")}
		case 4:
			c = config.Change{Key: config.DrainKey(id)}
		case 5: // the drain's record again, as it is
			if h := m.hashes[config.DrainKey(id)]; h != nil {
				c = config.Change{Key: config.DrainKey(id), Fields: maps.Clone(h)}
				break
			}
			fallthrough
		default:
			d := &config.Drain{ID: id, ChannelID: ch, Token: httpTestToken, URL: modelURLs[m.rng.IntN(len(modelURLs))],
				Compression: []string{"", "", "gzip"}[m.rng.IntN(3)], Buffer: []string{"", "", "memory"}[m.rng.IntN(3)]}
			if m.rng.IntN(3) == 0 { // keep its channel: a change of URL alone
				if old := m.hashes[config.DrainKey(id)]; old != nil {
					d.ChannelID = old["ch"]
				}
			}
			c = config.Change{Key: config.DrainKey(id), Fields: config.DrainHash(d)}
		}
		cs = append(cs, c)
		if c.Fields == nil {
			delete(m.hashes, c.Key)
		} else {
			m.hashes[c.Key] = c.Fields
		}
	}
	return cs
}

// TestManagerUpdateSomeEqualsAll: over random batches, a manager that
// handles only what changed (A) decides exactly what one comparing every
// drain does (B: the full walk, forced): the same drains run, with the same
// config, restarted at the same updates; the same drains could not start;
// the same table; the same spills and left directories (every drain spills,
// and directories of three drains are there from before). Some snapshots are
// skipped (A then spans several batches), some are full loads (Build: a
// full walk for A too).
func TestManagerUpdateSomeEqualsAll(t *testing.T) {
	some := 0
	for seed := range uint64(8) {
		base := httpNextID.Add(100) - 100
		opts := func() Options {
			dir := t.TempDir()
			for _, id := range []int64{base + 3, base + 7, base + 40} {
				if err := os.Mkdir(filepath.Join(dir, strconv.FormatInt(id, 10)), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			return testOptions(Options{StopGrace: 50 * time.Millisecond, Spill: SpillOptions{Dir: dir, All: true}})
		}
		a, b := NewManager(opts()), NewManager(opts())
		m := &managerModel{rng: rand.New(rand.NewPCG(seed, 3)), base: base, hashes: map[string]config.Hash{}}
		for range 8 {
			m.batch()
		}
		snap := config.Build(m.hashes, false, "0")
		a.Update(snap)
		b.Update(snap)
		for i := range 200 {
			cs := m.batch()
			if m.rng.IntN(25) == 0 {
				snap = config.Build(m.hashes, false, fmt.Sprint(i))
			} else {
				snap = snap.With(cs, fmt.Sprint(i))
			}
			if m.rng.IntN(4) == 0 {
				continue // skipped: the next update spans two batches or more
			}
			sa, sb := stateOf(a), stateOf(b)
			if _, _, ok := snap.DrainChangesSince(a.applied); ok {
				some++
			}
			a.Update(snap)
			b.applied = nil
			b.Update(snap)
			na, nb := stateOf(a), stateOf(b)
			where := fmt.Sprintf("seed %d, batch %d (%v)", seed, i, cs)
			checkTable(t, a, na)
			if !maps.EqualFunc(na.running, nb.running, func(x, y *Drain) bool { return *x.Config == *y.Config }) {
				t.Fatalf("%s: running %v, want %v", where, slices.Sorted(maps.Keys(na.running)), slices.Sorted(maps.Keys(nb.running)))
			}
			for id, d := range na.running {
				if (sa.running[id] != d) != (sb.running[id] != nb.running[id]) {
					t.Fatalf("%s: drain %d (re)started: %v, by the full walk: %v", where, id, sa.running[id] != d, sb.running[id] != nb.running[id])
				}
			}
			if !maps.EqualFunc(tableIDs(na.table), tableIDs(nb.table), slices.Equal) {
				t.Fatalf("%s: table %v, want %v", where, tableIDs(na.table), tableIDs(nb.table))
			}
			if !slices.Equal(na.unstarted, nb.unstarted) || !slices.Equal(na.spills, nb.spills) || !slices.Equal(na.left, nb.left) {
				t.Fatalf("%s: unstarted %v spills %v left %v, want %v %v %v", where, na.unstarted, na.spills, na.left, nb.unstarted, nb.spills, nb.left)
			}
		}
		a.Close(context.Background())
		b.Close(context.Background())
	}
	if some < 800 {
		t.Fatalf("only %d updates handled what changed", some)
	}
}

// stopped reports whether d was stopped.
func stopped(d *Drain) bool { return d.ctx.Err() != nil }

// TestManagerUpdateChanges walks the cases through snapshots made from the
// one applied last (each update handles what changed): a new drain starts;
// a drain whose URL changes restarts; a deleted drain stops; a deleted
// channel stops its drains and a re-created one starts them again; a drain
// that moves to another channel moves in the table; a full load of the
// same config restarts nothing.
func TestManagerUpdateChanges(t *testing.T) {
	base := httpNextID.Add(10) - 10
	m := NewManager(testOptions(Options{StopGrace: 50 * time.Millisecond}))
	defer m.Close(context.Background())
	hashes := map[string]config.Hash{config.ChannelKey("a"): config.ChannelHash("a", ""), config.ChannelKey("b"): config.ChannelHash("b", "")}
	snap := config.Build(hashes, false, "0")
	m.Update(snap)
	drainChange := func(i int64, ch, url string) config.Change {
		return config.Change{Key: config.DrainKey(base + i), Fields: config.DrainHash(&config.Drain{ID: base + i, ChannelID: ch, Token: httpTestToken, URL: url})}
	}
	update := func(cs ...config.Change) {
		t.Helper()
		next := snap.With(cs, "1")
		if _, _, ok := next.DrainChangesSince(m.applied); !ok {
			t.Fatal("the snapshot does not derive from the one applied")
		}
		snap = next
		for _, c := range cs {
			if c.Fields == nil {
				delete(hashes, c.Key)
			} else {
				hashes[c.Key] = c.Fields
			}
		}
		m.Update(snap)
		checkTable(t, m, stateOf(m))
	}
	ids := func(ch string) (out []int64) {
		for _, d := range m.ForChannel(ch) {
			out = append(out, d.Config.ID-base)
		}
		return out
	}

	update(drainChange(2, "a", "http://127.0.0.1:9/2"), drainChange(1, "a", "http://127.0.0.1:9/1"), drainChange(3, "b", "http://127.0.0.1:9/3"))
	if got := ids("a"); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("channel a runs %v, want [1 2]", got)
	}
	d1, d2, d3 := m.Drain(base+1), m.Drain(base+2), m.Drain(base+3)

	update(drainChange(1, "a", "http://127.0.0.1:9/1bis"))
	if n := m.Drain(base + 1); n == d1 || n == nil || n.Config.URL != "http://127.0.0.1:9/1bis" || !stopped(d1) {
		t.Fatal("a drain whose URL changed was not restarted")
	}
	if m.Drain(base+2) != d2 || stopped(d2) || m.Drain(base+3) != d3 {
		t.Fatal("a drain that did not change was restarted")
	}
	d1 = m.Drain(base + 1)

	update(config.Change{Key: config.DrainKey(base + 2)})
	if m.Drain(base+2) != nil || !stopped(d2) || !slices.Equal(ids("a"), []int64{1}) {
		t.Fatalf("the deleted drain runs: %v", ids("a"))
	}

	update(config.Change{Key: config.ChannelKey("a")})
	if m.Drain(base+1) != nil || !stopped(d1) || m.ForChannel("a") != nil || m.Drain(base+3) != d3 {
		t.Fatal("the drains of a deleted channel run, or another channel's stopped")
	}
	update(config.Change{Key: config.ChannelKey("a"), Fields: config.ChannelHash("a", "")})
	if d := m.Drain(base + 1); d == nil || d == d1 || !slices.Equal(ids("a"), []int64{1}) {
		t.Fatal("the drains of a re-created channel did not start")
	}

	update(drainChange(3, "a", "http://127.0.0.1:9/3"))
	if !slices.Equal(ids("a"), []int64{1, 3}) || m.ForChannel("b") != nil || !stopped(d3) {
		t.Fatalf("a drain moved to channel a: a runs %v, b %v", ids("a"), ids("b"))
	}

	update(config.Change{Key: config.TokenKey("t.1"), Fields: config.TokenHash("a", "app")}) // nothing for drains
	before := stateOf(m)
	full := config.Build(hashes, false, "2")
	if _, _, ok := full.DrainChangesSince(m.applied); ok {
		t.Fatal("a full load derives from the snapshot applied")
	}
	m.Update(full)
	if after := stateOf(m); !maps.Equal(after.running, before.running) {
		t.Fatal("a full load of the same config restarted drains")
	}
}

// TestManagerRetriesUnstarted: a drain that could not start (its TLS CA
// file is missing) is tried again at the next update, whatever it changed,
// as when every drain was compared: it starts once the file is there.
func TestManagerRetriesUnstarted(t *testing.T) {
	id := httpNextID.Add(1)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	m := NewManager(testOptions(Options{StopGrace: 50 * time.Millisecond, TLSCAFile: ca}))
	defer m.Close(context.Background())
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("tls"): config.ChannelHash("tls", ""),
		config.DrainKey(id):      config.DrainHash(&config.Drain{ID: id, ChannelID: "tls", Token: httpTestToken, URL: "syslog+tls://127.0.0.1:9"}),
	}, false, "1")
	m.Update(snap)
	if m.Drain(id) != nil {
		t.Fatal("the drain started without its CA file")
	}
	if err := os.WriteFile(ca, []byte(slPEM(slCA(t, "root", nil))), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Update(snap.With([]config.Change{{Key: config.TokenKey("t.1"), Fields: config.TokenHash("tls", "app")}}, "2"))
	if m.Drain(id) == nil {
		t.Fatal("the drain was not tried again")
	}
}

// TestManagerUpdateOneDrainAllocs: an update for a snapshot that changed
// one drain of 20 000 (a URL: a restart) allocates a bounded amount,
// whatever the number of drains (comparing every drain and building the
// table anew made ~40 000 allocations).
func TestManagerUpdateOneDrainAllocs(t *testing.T) {
	if httpRaceEnabled || testing.Short() {
		t.Skip("starts 20 000 drains; allocation counts are only meaningful without -race")
	}
	const drains, runs = 20_000, 50
	base := httpNextID.Add(drains+1) - drains - 1
	m := NewManager(testOptions(Options{StopGrace: time.Second}))
	defer m.Close(context.Background())
	snaps := []*config.Snapshot{config.Build(managerHashes(base, drains), false, "1")}
	m.Update(snaps[0])
	for i := range runs + 1 {
		snaps = append(snaps, snaps[i].With(urlChange(base, 1+i*397%drains, i), "2"))
	}
	i := 1
	allocs := testing.AllocsPerRun(runs, func() {
		m.Update(snaps[i])
		i++
	})
	t.Logf("Update of one drain of %d: %.0f allocations", drains, allocs)
	if allocs > 100 {
		t.Fatalf("Update of one drain of %d: %.0f allocations, want <= 100", drains, allocs)
	}
	if d := m.Drain(base + 1 + int64(runs*397%drains)); d == nil || d.Config.URL != fmt.Sprintf("http://127.0.0.1:9/%d/%d", 1+runs*397%drains, runs) {
		t.Fatal("the last change did not apply")
	}
}

// TestHTTPStopLogSplitsLoss: an HTTP drain that stops with messages it
// could not deliver logs what it still held as dropped and what its
// buffer dropped earlier (no L10 went for it) as unreported_earlier, as a
// syslog drain does (docs/operations.md).
func TestHTTPStopLogSplitsLoss(t *testing.T) {
	holding := newCapServer(t, nil)
	holding.setRespond(func(*capReq) (int, time.Duration) { return 200, 3 * time.Second })
	var log testenv.Buffer
	id := httpNextID.Add(1)
	hashes := map[string]config.Hash{
		config.ChannelKey("c"): config.ChannelHash("c", ""),
		config.DrainKey(id):    config.DrainHash(&config.Drain{ID: id, ChannelID: "c", Token: httpTestToken, URL: httpURL(holding, "http", "/")}),
	}
	m := NewManager(testOptions(Options{StopGrace: time.Second, HTTPBufferSize: 2,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}))
	m.Update(config.Build(hashes, false, "1"))
	d := m.Drain(id)
	push(d, testMsg(0))
	holding.waitFor(wait, "the held request", func() bool { return len(holding.reqs) == 1 })
	push(d, testMsgs(1, 5)...) // the buffer keeps 2: 3 dropped, for the next frame's L10
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if n := m.Close(ctx); n != 6 {
		t.Errorf("Close: %d undelivered, want 6 (1 held, 2 buffered, 3 dropped earlier)", n)
	}
	if got, want := log.String(), "dropped=3 unreported_earlier=3"; !strings.Contains(got, want) {
		t.Errorf("log %q: want %q (the request held and the 2 buffered; the 3 the buffer dropped)", got, want)
	}
}

// TestManagerCloseCountsUndelivered: Close returns the messages its drains
// neither delivered nor announced in an L10 notice: a frame refused (400)
// before the stop, whose notice never went; a request the receiver still
// held at the deadline; a syslog drain that could not connect.
func TestManagerCloseCountsUndelivered(t *testing.T) {
	refusing, holding := newCapServer(t, nil), newCapServer(t, nil)
	refusing.setRespond(func(*capReq) (int, time.Duration) { return 400, 0 })
	holding.setRespond(func(*capReq) (int, time.Duration) { return 200, 3 * time.Second })
	down := newSLEndpoint(t, nil)
	down.stop()
	base := httpNextID.Add(3) - 3
	urls := []string{httpURL(refusing, "http", "/"), httpURL(holding, "http", "/"), slURL("syslog", down)}
	hashes := map[string]config.Hash{config.ChannelKey("c"): config.ChannelHash("c", "")}
	for i, u := range urls {
		id := base + int64(i)
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: "c", Token: httpTestToken, URL: u})
	}
	m := NewManager(testOptions(Options{StopGrace: time.Second}))
	m.Update(config.Build(hashes, false, "1"))
	refused, held, unsent := m.Drain(base), m.Drain(base+1), m.Drain(base+2)
	push(refused, testMsgs(0, 5)...)
	waitFor(t, wait, "the refused frame dropped", func() bool { return refused.Stats.Dropped.Get() == 5 })
	push(held, testMsg(5))
	holding.waitFor(wait, "the held request", func() bool { return len(holding.reqs) == 1 })
	push(unsent, slMsg(0), slMsg(1), slMsg(2))
	waitFor(t, wait, "a failed connect", func() bool { return unsent.Stats.LastError() != "" })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if n := m.Close(ctx); n != 5+1+3 {
		t.Errorf("Close: %d undelivered, want 9 (5 refused and unannounced, 1 held, 3 unsent)", n)
	}
}

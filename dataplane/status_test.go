package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

// statusDrains runs n drains of channel "1" to url (the drain's id is
// added to its path), ids 1 to n, stopped when the test ends.
func statusDrains(t testing.TB, o drain.Options, n int, url func(id int64) string) *drain.Manager {
	t.Helper()
	hashes := map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("", "")}
	for id := int64(1); id <= int64(n); id++ {
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ChannelID: "1",
			Token: "d." + strconv.FormatInt(id, 10), URL: url(id)})
	}
	o.Logger = slog.New(slog.DiscardHandler)
	m := drain.NewManager(o)
	m.Update(config.Build(hashes, false, "1-0"))
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// exampleURL is a drain URL never dialed (its drain gets no message).
func exampleURL(id int64) string {
	return "https://drain" + strconv.FormatInt(id, 10) + ".example.com/"
}

// flakyBoard is the embedded status board, failing puts while fail is set.
type flakyBoard struct {
	store.StatusBoard
	fail atomic.Bool
}

func (b *flakyBoard) PutDrainStatus(ctx context.Context, node string, status map[int64][]byte, docTTL, alive time.Duration) error {
	if b.fail.Load() {
		return errors.New("board down")
	}
	return b.StatusBoard.PutDrainStatus(ctx, node, status, docTTL, alive)
}

// statusRig is a data plane's status reporting over m, to the embedded
// board; report makes one round at t0 + at and returns its documents.
type statusRig struct {
	d     *DataPlane
	r     *statusReporter
	board *flakyBoard
	t0    time.Time
}

func newStatusRig(t testing.TB, m *drain.Manager) *statusRig {
	t.Helper()
	emb, err := embedded.OpenConfig("")
	if err != nil {
		t.Fatal(err)
	}
	board := &flakyBoard{StatusBoard: emb}
	d := &DataPlane{opts: Options{StatusBoard: board, StatusInterval: 5 * time.Second, NodeName: "n1"}, Drains: m, log: slog.New(slog.DiscardHandler)}
	return &statusRig{d: d, r: &statusReporter{last: map[int64]reported{}}, board: board, t0: time.Now()}
}

func (s *statusRig) report(at time.Duration) map[int64][]byte {
	return s.d.putStatus(context.Background(), s.r, s.t0.Add(at))
}

// Only drains whose figures changed are reported, plus every drain once
// per statusRefresh; the node's documents stay readable in between (its
// alive mark is written on every report) and vanish once it stops.
func TestStatusReportsOnlyChanges(t *testing.T) {
	m := statusDrains(t, drain.Options{}, 3, exampleURL)
	s := newStatusRig(t, m)
	board := s.board
	if docs := s.report(0); len(docs) != 3 {
		t.Fatalf("first report: %d drains, want 3", len(docs))
	}
	if docs := s.report(5 * time.Second); len(docs) != 0 {
		t.Fatalf("nothing changed, yet %d drains reported", len(docs))
	}
	m.Drain(2).Stats.AddDropped(1)
	if docs := s.report(10 * time.Second); len(docs) != 1 || docs[2] == nil {
		t.Fatalf("drain 2 changed: reported %v", keys(docs))
	}
	if got, _ := board.DrainStatus(context.Background(), 1); got["n1"] == nil {
		t.Fatal("an unchanged drain's document is no longer readable")
	}
	if got, _ := board.DrainStatus(context.Background(), 2); string(got["n1"]) == "" || !strings.Contains(string(got["n1"]), `"dropped":1`) {
		t.Fatalf("drain 2 status = %s", got["n1"])
	}
	// Drains 1 and 3 were reported at 0, drain 2 at 10 s.
	if docs := s.report(statusRefresh + 5*time.Second); !slices.Equal(keys(docs), []int64{1, 3}) {
		t.Fatalf("after statusRefresh: %v reported, want [1 3]", keys(docs))
	}
	if docs := s.report(statusRefresh + 10*time.Second); !slices.Equal(keys(docs), []int64{2}) {
		t.Fatalf("statusRefresh after drain 2's report: %v reported, want [2]", keys(docs))
	}
	if docs := s.report(statusRefresh + 15*time.Second); len(docs) != 0 {
		t.Fatalf("refreshed, yet %v reported", keys(docs))
	}
	if docs := s.report(2*statusRefresh + 10*time.Second); !slices.Equal(keys(docs), []int64{1, 2, 3}) {
		t.Fatalf("a second statusRefresh later: %v reported, want all", keys(docs))
	}
}

// TestStatusLooksOnlyAtChanges: with 10 000 drains of which 3 change, a
// round looks at those 3 only (Status calls), and a round in which nothing
// changed allocates the same few objects as with 3 drains: its cost does
// not follow the number of drains.
func TestStatusLooksOnlyAtChanges(t *testing.T) {
	idleAllocs := func(n int) float64 {
		s := newStatusRig(t, statusDrains(t, drain.Options{}, n, exampleURL))
		s.report(0)
		at := time.Duration(0)
		return testing.AllocsPerRun(20, func() {
			at += time.Second
			if docs := s.report(at); len(docs) != 0 {
				t.Fatalf("%d drains: nothing changed, yet %v reported", n, keys(docs))
			}
		})
	}
	small, big := idleAllocs(3), idleAllocs(10000)
	t.Logf("allocations of an idle round: %.0f with 3 drains, %.0f with 10 000", small, big)
	if big > small+2 {
		t.Errorf("an idle round with 10 000 drains allocates %.0f objects, with 3 %.0f", big, small)
	}

	m := statusDrains(t, drain.Options{}, 10000, exampleURL)
	s := newStatusRig(t, m)
	s.report(0)
	if s.r.looked != 10000 {
		t.Fatalf("first round looked at %d drains, want 10 000", s.r.looked)
	}
	for _, id := range []int64{7, 4242, 9999} {
		m.Drain(id).Stats.AddDelivered(1)
	}
	s.r.looked = 0
	if docs := s.report(5 * time.Second); !slices.Equal(keys(docs), []int64{7, 4242, 9999}) || s.r.looked != 3 {
		t.Fatalf("3 drains changed: reported %v, looked at %d drains", keys(docs), s.r.looked)
	}
}

// TestStatusFollowsSenderRuns: with real HTTP drains, what a sender's run
// changes is reported (the delivery, the connection it keeps open), then
// what its connection's idle close changes while it is parked (not
// connected), and nothing between; a drain whose sender keeps running
// (waiting out a long backoff while messages arrive) is reported every
// round.
func TestStatusFollowsSenderRuns(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.Header.Get("Logplex-Msg-Count"))
		got.Add(int64(n))
	}))
	defer srv.Close()
	m := statusDrains(t, drain.Options{AllowPrivateDrains: true, HTTPIdleTimeout: time.Second, HTTPIdleFuzz: time.Millisecond,
		HTTPReconnectTime: time.Hour, StopGrace: 50 * time.Millisecond}, 100, func(id int64) string {
		if id == 100 {
			return "http://127.0.0.1:9/" // refused
		}
		return srv.URL + "/" + strconv.FormatInt(id, 10)
	})
	s := newStatusRig(t, m)
	s.report(0)
	status := func(docs map[int64][]byte, id int64) drain.DrainStatus {
		t.Helper()
		var st drain.DrainStatus
		if err := json.Unmarshal(docs[id], &st); err != nil {
			t.Fatalf("drain %d's document %q: %v", id, docs[id], err)
		}
		return st
	}
	msg := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - hello")
	d := m.Drain(42)
	d.Buf.Push(msg, time.Now().UnixNano())
	waitUntil(t, "the delivery", func() bool { st := d.Status(); return st.Delivered == 1 && st.Connected })
	docs := s.report(5 * time.Second)
	if !slices.Equal(keys(docs), []int64{42}) || status(docs, 42).Delivered != 1 || !status(docs, 42).Connected {
		t.Fatalf("after a delivery: reported %v (%s)", keys(docs), docs[42])
	}
	if docs := s.report(10 * time.Second); len(docs) != 0 {
		t.Fatalf("nothing changed since, yet %v reported", keys(docs))
	}
	waitUntil(t, "the idle close", func() bool { return !d.Status().Connected })
	time.Sleep(50 * time.Millisecond) // the run the close kicked parks
	docs = s.report(15 * time.Second)
	if !slices.Equal(keys(docs), []int64{42}) || status(docs, 42).Connected {
		t.Fatalf("after the idle close: reported %v (%s)", keys(docs), docs[42])
	}
	if docs := s.report(20 * time.Second); len(docs) != 0 {
		t.Fatalf("idle since, yet %v reported", keys(docs))
	}

	stuck := m.Drain(100)
	stuck.Buf.Push(msg, time.Now().UnixNano())
	waitUntil(t, "a refused connect", func() bool { return stuck.Status().LastError != "" })
	for round := 1; round <= 3; round++ {
		stuck.Buf.Push(msg, time.Now().UnixNano()) // into a running buffer: marks nothing
		docs := s.report(time.Duration(20+5*round) * time.Second)
		if !slices.Equal(keys(docs), []int64{100}) || status(docs, 100).Buffered != round+1 {
			t.Fatalf("round %d: reported %v (%s), want drain 100 with %d buffered", round, keys(docs), docs[100], round+1)
		}
	}
}

// TestStatusFailedPutReported: the documents of a round whose put failed
// (a change, a refresh) are reported by the next round, though nothing
// changed since.
func TestStatusFailedPutReported(t *testing.T) {
	m := statusDrains(t, drain.Options{}, 3, exampleURL)
	s := newStatusRig(t, m)
	s.report(0)
	m.Drain(2).Stats.AddRetry()
	s.board.fail.Store(true)
	if docs := s.report(5 * time.Second); !slices.Equal(keys(docs), []int64{2}) {
		t.Fatalf("drain 2 changed: %v, want [2]", keys(docs))
	}
	s.board.fail.Store(false)
	if docs := s.report(10 * time.Second); !slices.Equal(keys(docs), []int64{2}) {
		t.Fatalf("after a failed put: %v reported, want [2]", keys(docs))
	}
	if got, _ := s.board.DrainStatus(context.Background(), 2); !strings.Contains(string(got["n1"]), `"retries":1`) {
		t.Fatalf("drain 2 status = %s", got["n1"])
	}
	if docs := s.report(15 * time.Second); len(docs) != 0 {
		t.Fatalf("stored, yet %v reported again", keys(docs))
	}
	// The refresh of drains 1 and 3 (reported at 0) fails, then is made.
	s.board.fail.Store(true)
	if docs := s.report(statusRefresh); !slices.Equal(keys(docs), []int64{1, 3}) {
		t.Fatalf("refresh: %v, want [1 3]", keys(docs))
	}
	s.board.fail.Store(false)
	if docs := s.report(statusRefresh + 5*time.Second); !slices.Equal(keys(docs), []int64{1, 3}) {
		t.Fatalf("after a failed refresh: %v reported, want [1 3]", keys(docs))
	}
	if docs := s.report(statusRefresh + 10*time.Second); !slices.Equal(keys(docs), []int64{2}) {
		t.Fatalf("drain 2's refresh: %v, want [2]", keys(docs))
	}
	if docs := s.report(2*statusRefresh + 4*time.Second); len(docs) != 0 {
		t.Fatalf("before the next refresh: %v", keys(docs))
	}
	if docs := s.report(2*statusRefresh + 5*time.Second); !slices.Equal(keys(docs), []int64{1, 3}) {
		t.Fatalf("the next refresh: %v, want [1 3]", keys(docs))
	}
}

// TestStatusForgetsDeletedDrains: a deleted drain is not reported, and
// what was reported of it is forgotten when its refresh falls due.
func TestStatusForgetsDeletedDrains(t *testing.T) {
	m := statusDrains(t, drain.Options{StopGrace: 10 * time.Millisecond}, 3, exampleURL)
	s := newStatusRig(t, m)
	s.report(0)
	hashes := map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("", "")}
	for _, id := range []int64{1, 3} {
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ChannelID: "1", Token: "d." + strconv.FormatInt(id, 10), URL: exampleURL(id)})
	}
	m.Update(config.Build(hashes, false, "1-1"))
	if docs := s.report(5 * time.Second); len(docs) != 0 {
		t.Fatalf("a drain deleted: %v reported", keys(docs))
	}
	if docs := s.report(statusRefresh); !slices.Equal(keys(docs), []int64{1, 3}) {
		t.Fatalf("refresh: %v, want [1 3]", keys(docs))
	}
	if _, ok := s.r.last[2]; ok || len(s.r.last) != 2 || len(s.r.due) != 2 {
		t.Fatalf("the deleted drain is remembered: last %d, due %d", len(s.r.last), len(s.r.due))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// keys returns the map's ids, sorted.
func keys(m map[int64][]byte) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

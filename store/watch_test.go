package store

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// resyncFake is a ConfigStore whose feed never moves: Follow waits for its
// context. It counts full loads, and answers the epoch and, wrapped in
// resyncChecking, the resync check (missed) as the test sets them.
type resyncFake struct {
	mu     sync.Mutex
	loads  int
	ticks  int // FollowMissed calls (resyncChecking)
	missed string
	epoch  Epoch
}

func (f *resyncFake) Load(context.Context) (*config.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	return config.Build(map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("a", "")}, false, "1-0"), nil
}

func (f *resyncFake) Follow(ctx context.Context, _ string, _ func([]config.Change, string)) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *resyncFake) Epoch(context.Context) (Epoch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, nil
}

func (f *resyncFake) EnsureEpoch(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.epoch.ID == "" {
		f.epoch.ID = id
	}
	return f.epoch.ID, nil
}

func (f *resyncFake) Accept(context.Context) (Epoch, error) { return f.Epoch(context.Background()) }

func (f *resyncFake) Incr(context.Context, string) (int64, error) { return 0, nil }
func (f *resyncFake) Write(context.Context, ...config.Change) (string, error) {
	return "", nil
}
func (f *resyncFake) PutSession(context.Context, string, []byte, time.Duration) error { return nil }
func (f *resyncFake) Session(context.Context, string) ([]byte, error)                 { return nil, ErrNotFound }
func (f *resyncFake) Ping(context.Context) error                                      { return nil }
func (f *resyncFake) Close() error                                                    { return nil }

func (f *resyncFake) set(fn func(*resyncFake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *resyncFake) counts() (loads, ticks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads, f.ticks
}

// resyncChecking is the fake with the resync check.
type resyncChecking struct{ *resyncFake }

func (f resyncChecking) FollowMissed(context.Context) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks++
	return f.missed
}

// runFake runs a watcher (resync 1 min, full resync 10 min) over st for d
// of the bubble's time.
func runFake(t *testing.T, st ConfigStore, d time.Duration) {
	t.Helper()
	w := NewWatcher(st, time.Minute, nil)
	w.SetFullResync(10 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	time.Sleep(d)
	synctest.Wait()
	cancel()
	<-done
}

// While the store vouches that nothing was missed and the epoch holds, a
// resync tick loads nothing; the full reload comes at the full-resync
// interval. Ticks are 60-66 s apart (jitter), so in 25 minutes the 10th
// and 20th ticks (10-11 and 20-22 min) reload.
func TestResyncSkipsFullLoadWhenNothingMissed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resyncFake{}
		runFake(t, resyncChecking{f}, 25*time.Minute)
		loads, ticks := f.counts()
		if loads != 3 || ticks < 20 {
			t.Fatalf("%d full loads and %d checks in 25 min; want 3 loads (boot, 10th and 20th tick), 20+ checks", loads, ticks)
		}
	})
}

// A check that cannot rule out a missed change reloads at every tick, as
// does a store that cannot check at all.
func TestResyncReloadsWhenTheStoreCannotVouch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resyncFake{missed: "events lost"}
		runFake(t, resyncChecking{f}, 5*time.Minute+30*time.Second)
		if loads, _ := f.counts(); loads < 5 {
			t.Fatalf("%d full loads in 5.5 min of a store that cannot vouch; want one per tick (5+)", loads)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := &resyncFake{}
		runFake(t, f, 5*time.Minute+30*time.Second)
		if loads, _ := f.counts(); loads < 5 {
			t.Fatalf("%d full loads in 5.5 min of a store without a resync check; want one per tick (5+)", loads)
		}
	})
}

// A changed epoch or acceptance (FLUSHALL and a restore, another config,
// an operator's acceptance) reloads at the next tick, even though the
// store vouches for its feed; after it, ticks skip again.
func TestResyncReloadsOnEpochChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &resyncFake{epoch: Epoch{ID: "e1"}}
		st := resyncChecking{f}
		w := NewWatcher(st, time.Minute, nil)
		w.SetFullResync(time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		time.Sleep(3*time.Minute + 30*time.Second) // three ticks
		synctest.Wait()
		if loads, _ := f.counts(); loads != 1 {
			t.Fatalf("%d full loads before the epoch changed, want 1", loads)
		}
		f.set(func(f *resyncFake) { f.epoch.ID = "e2" }) // another config
		time.Sleep(70 * time.Second)
		synctest.Wait()
		if loads, _ := f.counts(); loads != 2 {
			t.Fatalf("%d full loads after the epoch changed, want 2", loads)
		}
		if w.Refused() == nil {
			t.Fatal("the config with another epoch was not refused")
		}
		f.set(func(f *resyncFake) { f.epoch.Accepted = Acceptance("e2", time.Now()) }) // logplex config accept
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if loads, _ := f.counts(); loads != 3 || w.Refused() != nil {
			t.Fatalf("%d full loads after the acceptance (want 3), refused %+v", loads, w.Refused())
		}
		time.Sleep(3 * time.Minute) // quiet again
		synctest.Wait()
		if loads, _ := f.counts(); loads != 3 {
			t.Fatalf("%d full loads after the acceptance was adopted, want 3", loads)
		}
		cancel()
		<-done
	})
}

// feedFake is a ConfigStore with a timed feed (TimedFeed): Follow delivers
// what the test queues, each batch 30 ms of the bubble's time after the
// write its version names.
type feedFake struct {
	*resyncFake
	batches chan feedBatch
}

type feedBatch struct {
	version string
	changes []config.Change
}

func (f feedFake) Follow(ctx context.Context, _ string, fn func([]config.Change, string)) error {
	for {
		select {
		case b := <-f.batches:
			time.Sleep(30 * time.Millisecond)
			fn(b.changes, b.version)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (feedFake) FeedTime(version string) (time.Time, bool) {
	ms, _ := splitVersion(version)
	return time.UnixMilli(int64(ms)), ms > 0
}

// histogram returns the count and sum of a Prometheus histogram of the
// process's default metrics set.
func histogram(t *testing.T, name string) (count int, sum float64) {
	t.Helper()
	var b bytes.Buffer
	metrics.WritePrometheus(&b, false)
	c := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `_count (\d+)$`).FindSubmatch(b.Bytes())
	s := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `_sum (\S+)$`).FindSubmatch(b.Bytes())
	if c == nil || s == nil {
		return 0, 0 // not exported before its first observation
	}
	count, _ = strconv.Atoi(string(c[1]))
	sum, _ = strconv.ParseFloat(string(s[1]), 64)
	return count, sum
}

// Each feed batch that moves the version is measured from its entry's
// write to the snapshot holding it (logplex_config_change_delay_seconds);
// a batch of another writer, which carries the version before it, is not
// (its write time is unknown).
func TestChangeDelayMeasured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := feedFake{&resyncFake{}, make(chan feedBatch, 2)}
		w := NewWatcher(f, time.Hour, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		synctest.Wait()
		n0, s0 := histogram(t, "logplex_config_change_delay_seconds")

		v := strconv.FormatInt(time.Now().UnixMilli(), 10) + "-0"
		f.batches <- feedBatch{v, []config.Change{{Key: config.ChannelKey("2"), Fields: config.ChannelHash("b", "")}}}
		f.batches <- feedBatch{v, []config.Change{{Key: config.ChannelKey("3"), Fields: config.ChannelHash("c", "")}}}
		time.Sleep(time.Second)
		synctest.Wait()
		if w.Current().Channel("3") == nil {
			t.Fatal("the second batch was not applied")
		}
		n, s := histogram(t, "logplex_config_change_delay_seconds")
		if n-n0 != 1 {
			t.Fatalf("%d delays measured for one write and one other writer's batch; want 1", n-n0)
		}
		if d := s - s0; d < 0.029 || d > 0.031 {
			t.Fatalf("delay measured %.4f s, want the 30 ms the feed took", d)
		}
		cancel()
		<-done
	})
}

// behindFake is a store whose second full load (after a gap, as the epoch
// key's first write causes on a cluster) reads it after an API delete of
// its only channel and token that the feed delivers only when followed
// again from the first load's version.
type behindFake struct {
	*resyncFake
	mu      sync.Mutex
	loads   int
	follows int
	// second is the version of the second load: the delete's ("2-0"), or
	// the first load's ("1-0")
	second string
}

func (f *behindFake) Load(context.Context) (*config.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loads++; f.loads == 1 {
		return config.Build(map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("a", ""),
			config.TokenKey("t.1"): config.TokenHash("1", "app")}, false, "1-0"), nil
	}
	return config.Build(nil, false, f.second), nil
}

func (f *behindFake) Follow(ctx context.Context, from string, fn func([]config.Change, string)) error {
	f.mu.Lock()
	f.follows++
	first := f.follows == 1
	f.mu.Unlock()
	switch {
	case from == "1-0" && first:
		return ErrGap
	case from == "1-0":
		fn([]config.Change{{Key: config.TokenKey("t.1")}, {Key: config.ChannelKey("1")}}, "2-0")
	}
	<-ctx.Done()
	return ctx.Err()
}

// A full load that lands after a delete the watcher has not followed yet
// is judged against the snapshot caught up through the feed: deleting the
// only channel of a config (2 entities to 0) is not refused as a shrink.
// The load's version need not be ahead of the watcher's ("1-0"): it is the
// feed's last id noted before the scan, and a delete written between the
// two (on a Redis Cluster its keys go before its feed entry) is in the
// load but after its version.
//
// The snapshot published then is the load brought up to what the catch-up
// published: versions never step back (a write an API request had waited
// for would otherwise vanish from the node until the feed brought it again).
func TestGuardCatchesUpBeforeJudgingAShrink(t *testing.T) {
	for _, second := range []string{"2-0", "1-0"} {
		t.Run("load at "+second, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := &behindFake{resyncFake: &resyncFake{}, second: second}
				var published []string
				w := NewWatcher(st, time.Minute, func(s *config.Snapshot) { published = append(published, s.Version) })
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { w.Run(ctx); close(done) }()
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if r := w.Refused(); r != nil {
					t.Errorf("refused: %s", r.Reason)
				}
				if cur := w.Current(); cur == nil || cur.Version != "2-0" || cur.NumChannels() != 0 || cur.NumTokens() != 0 {
					t.Errorf("current snapshot: %v; want the store's, version 2-0, empty", describe(cur))
				}
				for i := 1; i < len(published); i++ {
					if CompareVersions(published[i], published[i-1]) < 0 {
						t.Errorf("published versions %q: a step back", published)
						break
					}
				}
				cancel()
				<-done
			})
		})
	}
}

func describe(s *config.Snapshot) string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("version %s, %d channels, %d tokens", s.Version, s.NumChannels(), s.NumTokens())
}

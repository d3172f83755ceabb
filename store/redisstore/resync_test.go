package redisstore

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// resyncWatcher runs a watcher that follows other writers (as the serving
// roles do) with a resync tick every 100 ms and a full resync an hour
// away, and waits for its first snapshot with notifications active. The
// config has its epoch from the start: the event of an epoch written by
// the first write would make a full load at a moment the test cannot know.
func resyncWatcher(t *testing.T, srv *redistest.Server, g store.Guard) (*Config, *store.Watcher) {
	t.Helper()
	return resyncWatcherOn(t, srv.URL(), g)
}

func resyncWatcherOn(t *testing.T, url string, g store.Guard) (*Config, *store.Watcher) {
	t.Helper()
	cfg := openConfig(t, ConfigOptions{URL: url, Timeout: 500 * time.Millisecond, FollowBlock: 100 * time.Millisecond,
		FollowOtherWriters: true})
	if _, err := cfg.EnsureEpoch(testCtx(t), store.NewEpochID()); err != nil {
		t.Fatal(err)
	}
	w := store.NewWatcher(cfg, 100*time.Millisecond, nil)
	w.SetGuard(g)
	w.SetFullResync(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitGuard(t, "first snapshot, notifications active", func() bool { return w.Ready() && cfg.notes.active.Load() })
	return cfg, w
}

// commandCalls returns the calls of each command so far (INFO commandstats).
func commandCalls(t *testing.T, srv *redistest.Server, cmds ...string) map[string]int {
	t.Helper()
	info, _ := srv.MustDo(t, "INFO", "commandstats").(string)
	out := map[string]int{}
	for _, c := range cmds {
		if m := regexp.MustCompile(`cmdstat_` + c + `:calls=(\d+)`).FindStringSubmatch(info); m != nil {
			out[c], _ = strconv.Atoi(m[1])
		} else {
			out[c] = 0
		}
	}
	return out
}

// waitSkipped waits for n more resync ticks that skipped the full load.
func waitSkipped(t *testing.T, n int64) {
	t.Helper()
	s0 := store.ResyncsSkipped()
	waitGuard(t, strconv.FormatInt(n, 10)+" skipped resyncs", func() bool { return store.ResyncsSkipped() >= s0+n })
}

// With nothing changed, a resync tick reads no config: no SCAN, no
// HGETALL, no full load, tick after tick. Other writers' changes (plain
// HSET, DEL, as redis-cli or a Logplex node) still arrive, through
// keyspace notifications, without a full load.
func TestResyncIdleReadsNothing(t *testing.T) {
	srv := redistest.Start(t)
	for i := 1; i <= 50; i++ {
		id := strconv.Itoa(i)
		srv.MustDo(t, "HSET", config.ChannelKey(id), "name", "app"+id, "flags", "")
		srv.MustDo(t, "HSET", config.TokenKey("t."+id), "ch", id, "name", "app")
	}
	cfg, w := resyncWatcher(t, srv, store.Guard{})
	writeChannels(t, cfg, 100, 1) // a logplex write too (the feed)
	// keyspace events arrive in order: once another writer's channel
	// written after the write is applied, the write's own events (re-read,
	// HGETALL) were handled
	srv.MustDo(t, "HSET", config.ChannelKey("m"), "name", "m", "flags", "")
	waitGuard(t, "52 channels", func() bool { return w.Current().NumChannels() == 52 })
	waitSkipped(t, 1)

	loads := store.FullLoads()
	before := commandCalls(t, srv, "scan", "hgetall")
	cpu := store.ResyncCheckCPUSeconds()
	waitSkipped(t, 5)
	if store.ResyncCheckCPUSeconds() <= cpu {
		t.Fatal("5 resync checks used no CPU time: logplex_config_resync_check_cpu_seconds_total does not count them")
	}
	if after := commandCalls(t, srv, "scan", "hgetall"); after["scan"] != before["scan"] || after["hgetall"] != before["hgetall"] {
		t.Fatalf("idle resync ticks read the config: %v before, %v after", before, after)
	}
	if n := store.FullLoads(); n != loads {
		t.Fatalf("%d full loads during idle resync ticks", n-loads)
	}

	// another writer: a new channel, a changed one, a deleted token
	srv.MustDo(t, "HSET", config.ChannelKey("200"), "name", "raw", "flags", "")
	srv.MustDo(t, "HSET", config.ChannelKey("1"), "flags", "no_tail")
	srv.MustDo(t, "DEL", config.TokenKey("t.2"))
	waitGuard(t, "the other writer's changes", func() bool {
		s := w.Current()
		return s.Channel("200") != nil && s.Channel("1").NoTail && s.Token("t.2") == nil
	})
	waitSkipped(t, 2)
	if n := store.FullLoads(); n != loads {
		t.Fatalf("%d full loads to follow another writer's changes", n-loads)
	}
}

// An operator turned keyspace notifications off: the next tick sees it,
// turns them on again and reloads fully, so another writer's change made
// meanwhile (no event) is picked up.
func TestResyncNotificationsTurnedOff(t *testing.T) {
	srv := redistest.Start(t)
	cfg, w := resyncWatcher(t, srv, store.Guard{})
	writeChannels(t, cfg, 1, 3)
	waitGuard(t, "3 channels", func() bool { return w.Current().NumChannels() == 3 })
	waitSkipped(t, 1)
	loads := store.FullLoads()
	srv.MustDo(t, "CONFIG", "SET", "notify-keyspace-events", "")
	srv.MustDo(t, "HSET", config.ChannelKey("1"), "flags", "no_tail") // no event
	srv.MustDo(t, "HSET", config.ChannelKey("9"), "name", "silent", "flags", "")
	waitGuard(t, "the silent writes", func() bool {
		s := w.Current()
		return s.Channel("9") != nil && s.Channel("1").NoTail
	})
	if store.FullLoads() == loads {
		t.Fatal("picked up without a full load?")
	}
	if v := srv.MustDo(t, "CONFIG", "GET", "notify-keyspace-events"); !strings.Contains(strings.Join(anyStrings(v), " "), "K") {
		t.Fatalf("notify-keyspace-events not enabled again: %v", v)
	}
	waitSkipped(t, 2) // and quiet again
}

func anyStrings(v any) []string {
	var out []string
	if vs, ok := v.([]any); ok {
		for _, x := range vs {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

// A tail registration that expires (its control plane died) is followed
// through its "expired" event, without a full load; refreshing its TTL
// (Refresh, a bare PEXPIRE) is not even noted.
func TestResyncTailExpiryFollowed(t *testing.T) {
	srv := redistest.Start(t)
	cfg, w := resyncWatcher(t, srv, store.Guard{})
	writeChannels(t, cfg, 1, 1)
	waitSkipped(t, 1)
	loads := store.FullLoads()
	key := config.TailKey("1", "s1")
	if _, err := cfg.Write(testCtx(t), config.Change{Key: key, Fields: config.TailHash("n"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitGuard(t, "tailed", func() bool { return w.Current().Tailed("1") })
	// keyspace events arrive in order: once another writer's channel
	// written after them is applied, every event before it was handled
	marker := func(id string) {
		srv.MustDo(t, "HSET", config.ChannelKey(id), "name", id, "flags", "")
		waitGuard(t, "channel "+id, func() bool { return w.Current().Channel(id) != nil })
	}
	marker("m1")
	noted := notifiedKeys.Get()
	srv.MustDo(t, "PEXPIRE", key, "3600000") // as Refresh does
	marker("m2")
	if n := notifiedKeys.Get() - noted; n != 1 {
		t.Fatalf("%d keys noted for a TTL refresh and a channel, want 1 (the channel)", n)
	}
	srv.MustDo(t, "PEXPIRE", key, "50")
	waitGuard(t, "untailed after the expiry", func() bool { return !w.Current().Tailed("1") })
	if n := store.FullLoads(); n != loads {
		t.Fatalf("%d full loads to see the expiry", n-loads)
	}
}

// The guard with resync ticks that skip the full load: a Redis emptied by
// FLUSHALL (no restart, no key event) is refused at the next tick (its
// epoch is gone); a partial restore (FLUSHALL, then the epoch and a few
// keys written back, the feed too) is refused at once (the epoch key's
// event); a Redis restarted empty is refused (the subscription broke).
func TestResyncGuard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		empty func(t *testing.T, srv *redistest.Server, epoch string)
		why   string
	}{
		{"flushall", func(t *testing.T, srv *redistest.Server, _ string) { srv.MustDo(t, "FLUSHALL") }, "lost its epoch"},
		{"partial restore", func(t *testing.T, srv *redistest.Server, epoch string) {
			// the feed restored too: Follow finds its version in it
			feed, _ := srv.MustDo(t, "DUMP", StreamKey).(string)
			srv.MustDo(t, "FLUSHALL")
			srv.MustDo(t, "RESTORE", StreamKey, "0", feed)
			srv.MustDo(t, "SET", EpochKey, epoch)
			srv.MustDo(t, "HSET", config.ChannelKey("1"), "name", "app1", "flags", "")
		}, "shrank from 20 to"},
		{"restart", func(t *testing.T, srv *redistest.Server, _ string) { srv.Restart() }, "lost its epoch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg, w := resyncWatcher(t, srv, store.Guard{})
			writeChannels(t, cfg, 1, 10)
			waitGuard(t, "10 channels", func() bool { return w.Current().NumChannels() == 10 })
			waitSkipped(t, 2)
			epoch, _ := srv.MustDo(t, "GET", EpochKey).(string)
			tc.empty(t, srv, epoch)
			waitGuard(t, "refusal", func() bool { return w.Refused() != nil })
			if r := w.Refused(); !strings.Contains(r.Reason, tc.why) {
				t.Fatalf("refusal %+v, want %q", r, tc.why)
			}
			if n := w.Current().NumChannels(); n != 10 {
				t.Fatalf("kept snapshot has %d channels, want 10", n)
			}
		})
	}
}

// On a cluster the subscription covers every node and the check asks each:
// idle ticks skip the full load there too.
func TestResyncIdleCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cfg, w := resyncWatcherOn(t, cl.URL(), store.Guard{})
	writeChannels(t, cfg, 1, 5)
	waitGuard(t, "5 channels", func() bool { return w.Current().NumChannels() == 5 })
	waitSkipped(t, 1)
	loads := store.FullLoads()
	waitSkipped(t, 5)
	if n := store.FullLoads(); n != loads {
		t.Fatalf("%d full loads during idle resync ticks", n-loads)
	}
}

package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// guardWatcher runs a watcher over a fresh Config on srv with a short
// resync interval, and waits for its first snapshot.
func guardWatcher(t *testing.T, srv *redistest.Server, g store.Guard) (*Config, *store.Watcher) {
	t.Helper()
	cfg := openConfig(t, ConfigOptions{URL: srv.URL(), Timeout: 500 * time.Millisecond, FollowBlock: 100 * time.Millisecond})
	w := store.NewWatcher(cfg, 300*time.Millisecond, nil)
	w.SetGuard(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitGuard(t, "first snapshot", func() bool { return w.Ready() })
	return cfg, w
}

func waitGuard(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeChannels writes n channels with a token each through the API path
// (Config.Write, which gives the config its epoch).
func writeChannels(t *testing.T, cfg *Config, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		id := strconv.Itoa(i)
		var err error
		for range 20 { // the first call after a restart may meet the old connection's end
			if _, err = cfg.Write(testCtx(t), config.Change{Key: config.ChannelKey(id), Fields: config.ChannelHash("app"+id, "")},
				config.Change{Key: config.TokenKey("t." + id), Fields: config.TokenHash(id, "app")}); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A config Redis restarted empty: the watcher refuses the empty snapshot,
// keeps routing on the last one, says why, and counts it; an operator's
// acceptance (Accept, as `logplex config accept`) makes the empty config
// take effect.
func TestGuardRefusesEmptiedRedis(t *testing.T) {
	srv := redistest.Start(t)
	cfg, w := guardWatcher(t, srv, store.Guard{})
	writeChannels(t, cfg, 1, 3)
	waitGuard(t, "3 channels", func() bool { return w.Current().NumChannels() == 3 })
	ep, err := cfg.Epoch(testCtx(t))
	if err != nil || ep.ID == "" {
		t.Fatalf("no epoch after the first write: %+v %v", ep, err)
	}
	refused0 := configRefusedTotal(t)

	srv.Restart() // empty, same port
	waitGuard(t, "refusal", func() bool { return w.Refused() != nil })
	if r := w.Refused(); !strings.Contains(r.Reason, "lost its epoch") || r.Have != 6 || r.Got != 0 {
		t.Fatalf("refusal %+v", r)
	}
	if n := w.Current().NumChannels(); n != 3 {
		t.Fatalf("kept snapshot has %d channels, want 3", n)
	}
	if configRefusedTotal(t) <= refused0 {
		t.Fatal("logplex_config_refused_total did not move")
	}

	var acc store.Epoch
	for range 20 { // the first call after a restart may meet the old connection's end (EOF)
		if acc, err = cfg.Accept(testCtx(t)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || acc.ID == "" || !strings.HasPrefix(acc.Accepted, acc.ID+" ") {
		t.Fatalf("Accept: %+v %v", acc, err)
	}
	waitGuard(t, "acceptance adopted", func() bool { return w.Refused() == nil && w.Current().NumChannels() == 0 })
	// the new epoch is the one kept: new writes are adopted, a reload is fine
	writeChannels(t, cfg, 10, 1)
	waitGuard(t, "new channel", func() bool { return w.Current().NumChannels() == 1 })
}

// A control plane writing into the emptied Redis gives it a new epoch: the
// watcher still refuses (another config), and says so.
func TestGuardRefusesNewEpoch(t *testing.T) {
	srv := redistest.Start(t)
	cfg, w := guardWatcher(t, srv, store.Guard{})
	writeChannels(t, cfg, 1, 3)
	waitGuard(t, "3 channels", func() bool { return w.Current().NumChannels() == 3 })
	srv.Restart()
	writeChannels(t, cfg, 1, 1) // a new config, epoch and all
	waitGuard(t, "refusal", func() bool { r := w.Refused(); return r != nil && strings.Contains(r.Reason, "epoch changed") })
	if n := w.Current().NumChannels(); n != 3 {
		t.Fatalf("kept snapshot has %d channels, want 3", n)
	}
}

// A Logplex config Redis has no epoch: it is adopted and given one; after
// that, losing it is refused.
func TestGuardAdoptsLogplexConfig(t *testing.T) {
	srv := redistest.Start(t)
	srv.MustDo(t, "HSET", "ch:1:data", "name", "app", "flags", "")
	srv.MustDo(t, "HSET", "tok:t.1:data", "ch", "1", "name", "app")
	_, w := guardWatcher(t, srv, store.Guard{})
	if w.Current().NumChannels() != 1 || w.Refused() != nil {
		t.Fatalf("Logplex config not adopted: %d channels, refused %+v", w.Current().NumChannels(), w.Refused())
	}
	waitGuard(t, "epoch written", func() bool { v, _ := srv.Do("GET", EpochKey); s, _ := v.(string); return s != "" })
	srv.MustDo(t, "DEL", EpochKey)
	waitGuard(t, "refusal", func() bool { return w.Refused() != nil })
}

// An empty Redis at boot is adopted (a new cluster), and writes no epoch
// until the config has something in it.
func TestGuardAdoptsEmptyAtBoot(t *testing.T) {
	srv := redistest.Start(t)
	_, w := guardWatcher(t, srv, store.Guard{})
	if w.Refused() != nil || w.Current().NumChannels() != 0 {
		t.Fatal("empty config not adopted at boot")
	}
	if v, _ := srv.Do("GET", EpochKey); v != nil {
		t.Fatalf("epoch %v written for an empty config", v)
	}
}

// A partial restore (FLUSHALL, then the epoch and some of the keys written
// back, which no keyspace event reports as deleted): losing more than the
// limit at once is refused at the next full reload, less is adopted; with
// the guard off everything is adopted. (DELs by another writer reach the
// watcher as changes through keyspace notifications, like API writes, and
// are not the guard's business.)
func TestGuardShrink(t *testing.T) {
	for _, tc := range []struct {
		name   string
		guard  store.Guard
		del    int // of 10 channels (20 entities)
		refuse bool
	}{
		{"4 of 10 at 50%", store.Guard{}, 4, false},
		{"6 of 10 at 50%", store.Guard{}, 6, true},
		{"6 of 10 at 70%", store.Guard{Shrink: 0.7}, 6, false},
		{"10 of 10, shrink check off", store.Guard{Shrink: -1}, 10, false},
		{"10 of 10, guard off", store.Guard{Off: true}, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg, w := guardWatcher(t, srv, tc.guard)
			writeChannels(t, cfg, 1, 10)
			waitGuard(t, "10 channels", func() bool { return w.Current().NumChannels() == 10 })
			// A full load after the writes: the keyspace notifications of
			// those writes are then done with (a load forgets what was noted
			// before it). Handled after the FLUSHALL, they would read the
			// keys gone and delete them as ordinary changes.
			loads0 := store.FullLoads()
			waitGuard(t, "a full load after the writes", func() bool { return store.FullLoads() > loads0 })
			epoch, _ := srv.MustDo(t, "GET", EpochKey).(string)
			srv.MustDo(t, "FLUSHALL")
			srv.MustDo(t, "SET", EpochKey, epoch)
			for i := tc.del + 1; i <= 10; i++ {
				id := strconv.Itoa(i)
				srv.MustDo(t, "HSET", config.ChannelKey(id), "name", "app"+id, "flags", "")
				srv.MustDo(t, "HSET", config.TokenKey("t."+id), "ch", id, "name", "app")
			}
			want := 10 - tc.del
			if tc.refuse {
				waitGuard(t, "refusal", func() bool { return w.Refused() != nil })
				if r := w.Refused(); !strings.Contains(r.Reason, "shrank from 20 to 8") {
					t.Fatalf("refusal %+v", r)
				}
				want = 10
			} else {
				waitGuard(t, "reload", func() bool { return w.Current().NumChannels() == want })
			}
			// a reload or two later the outcome holds
			v := w.Current().Version
			loads := store.FullLoads()
			waitGuard(t, "two more full loads", func() bool { return store.FullLoads() >= loads+2 })
			if n := w.Current().NumChannels(); n != want || (w.Refused() != nil) != tc.refuse {
				t.Fatalf("after reloads: %d channels (want %d), refused %+v (version %s)", n, want, w.Refused(), v)
			}
		})
	}
}

func configRefusedTotal(t *testing.T) int64 { t.Helper(); return store.RefusedLoads() }

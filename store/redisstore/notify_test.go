package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// rawWriter is another writer of the config Redis (a Logplex node, an
// operator with redis-cli): plain commands, no change-stream entry.
type rawWriter func(t *testing.T, args ...string)

// followsOtherWriters: with the full reload an hour away, a watcher sees
// HMSET, DEL and SETBIT by another writer through keyspace notifications.
func followsOtherWriters(t *testing.T, c *Config, write rawWriter) {
	w := store.NewWatcher(c, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitUntil(t, "first load", func() bool { return w.Ready() && c.notes.active.Load() })
	start := time.Now()
	write(t, "HMSET", "ch:ow1:data", "name", "", "flags", "no_tail")
	write(t, "HMSET", "tok:t.ow1:data", "ch", "ow1", "name", "app")
	write(t, "HMSET", "cred:OW1", "pass", "secret", "name", "ops", "full_api", "1", "channel", "any")
	waitUntil(t, "the other writer's channel, token and credential", func() bool {
		s := w.Current()
		ch := s.Channel("ow1")
		return ch != nil && ch.NoTail && s.Token("t.ow1") != nil && s.Cred("OW1") != nil
	})
	t.Logf("HMSETs by another writer followed in %v", time.Since(start).Round(time.Millisecond))
	write(t, "DEL", "tok:t.ow1:data")
	waitUntil(t, "the token deleted", func() bool { return w.Current().Token("t.ow1") == nil })
	write(t, "SETBIT", config.ControlRodKey, "0", "1")
	waitUntil(t, "the control rod", func() bool { return w.Current().ReadOnly })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // the reload is an hour away
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not seen within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFollowsOtherWritersSingle(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FollowOtherWriters: true})
	followsOtherWriters(t, c, func(t *testing.T, args ...string) { srv.MustDo(t, args...) })
	if v := srv.MustDo(t, "CONFIG", "GET", "notify-keyspace-events"); !strings.Contains(fmt.Sprint(v), "K") {
		t.Errorf("notify-keyspace-events = %v", v)
	}
}

func TestFollowsOtherWritersCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	c := openConfig(t, ConfigOptions{URL: cl.URL(), FollowOtherWriters: true})
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: cl.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	followsOtherWriters(t, c, func(t *testing.T, args ...string) {
		if err := raw.Do(context.Background(), raw.B().Arbitrary(args[0]).Keys(args[1]).Args(args[2:]...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	})
}

// A server that refuses CONFIG: the store says so and still follows its
// own writes through the stream.
func TestNotificationsRefused(t *testing.T) {
	srv := redistest.Start(t, "--rename-command", "CONFIG", "")
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FollowOtherWriters: true})
	w := store.NewWatcher(c, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitUntil(t, "first load", w.Ready)
	if c.notes.active.Load() {
		t.Fatal("notifications active on a server without CONFIG")
	}
	v, err := c.Write(ctx, config.Change{Key: config.ChannelKey("own"), Fields: config.ChannelHash("", "")})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := w.WaitVersion(wctx, v); err != nil || w.Current().Channel("own") == nil {
		t.Fatalf("own write not followed: %v", err)
	}
}

// When events may have been missed, Follow asks for a full reload.
func TestLostNotificationsReload(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FollowOtherWriters: true})
	snap, err := c.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.notes.markLost()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Follow(ctx, snap.Version, func([]config.Change, string) {}); err != store.ErrGap {
		t.Fatalf("Follow after lost events = %v, want store.ErrGap", err)
	}
}

// A Redis restart breaks the subscription: the follower reloads, the store
// enables notifications again (the restarted server forgot them) and
// follows other writers as before.
func TestFollowsOtherWritersAfterRestart(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FollowOtherWriters: true})
	w := store.NewWatcher(c, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	waitUntil(t, "first load", func() bool { return w.Ready() && c.notes.active.Load() })
	srv.MustDo(t, "HMSET", "ch:r1:data", "name", "", "flags", "")
	waitUntil(t, "a channel by another writer", func() bool { return w.Current().Channel("r1") != nil })
	srv.Restart()
	waitUntil(t, "subscribed again", func() bool {
		v, _ := srv.Do("CONFIG", "GET", "notify-keyspace-events")
		return c.notes.active.Load() && strings.Contains(fmt.Sprint(v), "K")
	})
	srv.MustDo(t, "HMSET", "ch:r2:data", "name", "", "flags", "")
	waitUntil(t, "a channel written after the restart", func() bool { return w.Current().Channel("r2") != nil })
	if w.Current().Channel("r1") == nil {
		t.Fatal("the channel written before the restart is gone")
	}
}

// Without FollowOtherWriters (a one-off command) the store leaves the
// server's notification settings alone.
func TestNotificationsOnlyWhenAsked(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	if _, err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := fmt.Sprint(srv.MustDo(t, "CONFIG", "GET", "notify-keyspace-events")); strings.Contains(v, "K") {
		t.Fatalf("notify-keyspace-events = %s after a Load without FollowOtherWriters", v)
	}
}

// TestWakeAfterStopIsKept: a wake-up sent once a feed read has stopped
// watching stays for the next read. A watcher that outlived its read
// could take it (its select sees both the stop and the wake-up), and the
// key it announced would wait for the next feed entry or the read's
// timeout (FollowBlock).
func TestWakeAfterStopIsKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for i := range 64 {
			wake := make(chan struct{}, 1)
			cancelled := false
			stop := cancelOnWake(wake, func() { cancelled = true })
			stop()
			wake <- struct{}{}
			synctest.Wait()
			if len(wake) != 1 || cancelled {
				t.Fatalf("try %d: a wake-up sent after stop was taken by the stopped watcher", i)
			}
		}
	})
}

// TestWakeCancelsTheRead: a wake-up during the read cancels it.
func TestWakeCancelsTheRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(t.Context())
		stop := cancelOnWake(wake, cancel)
		wake <- struct{}{}
		synctest.Wait()
		stop()
		if ctx.Err() == nil || len(wake) != 0 {
			t.Fatalf("a wake-up during the read did not cancel it (ctx err %v, %d wake-ups left)", ctx.Err(), len(wake))
		}
	})
}

// TestNotedKeysSurviveAnInterruptedRead: keys taken for a re-read that
// does not finish (the resync tick's deadline ends Follow in the middle
// of it, or Redis fails) are noted again, not forgotten. The tick's check
// sees an unbroken subscription and skips the full reload, so a key
// forgotten there would wait for the hourly one.
func TestNotedKeysSurviveAnInterruptedRead(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FollowOtherWriters: true})
	cl, cluster, err := c.client()
	if err != nil {
		t.Fatal(err)
	}
	c.notes.note(c.notes.prefix+"ch:1:data", "hset")
	f := &following{c: c, from: "0-0", fn: func([]config.Change, string) { t.Error("changes delivered by a read that failed") },
		sent: map[string]config.Hash{}}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // as the tick's deadline, before the keys are read
	if err := f.noted(ctx, cl, cluster); err == nil {
		t.Fatal("a read with its context ended did not fail")
	}
	if keys, lost := c.notes.take(); !lost && !slices.Contains(keys, "ch:1:data") {
		t.Errorf("noted keys after the interrupted read: %q, lost %v: the key was forgotten", keys, lost)
	}
}

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// faultWriter writes 10-message batches and remembers how many it sent,
// the slowest Write and how many took longer than slowWrite.
type faultWriter struct {
	sp      *Spool
	sent    int64
	writes  int
	slow    int
	slowest time.Duration
}

// slowWrite: a Write that waited on Redis would take about the store
// timeout (500 ms here); one descheduled on a busy machine may take tens of
// milliseconds now and then, which is not what the test is about.
const slowWrite = 50 * time.Millisecond

func (w *faultWriter) write(tag string) {
	b := store.GetHistoryBatch()
	for i := range 10 {
		b.Add("c", []byte(fmt.Sprintf("%s-%d-%d", tag, w.sent, i)))
	}
	t0 := time.Now()
	w.sp.Write(b)
	took := time.Since(t0)
	w.slowest = max(w.slowest, took)
	w.writes++
	if took > slowWrite {
		w.slow++
	}
	w.sent += 10
	time.Sleep(time.Millisecond)
}

// Redis stops while history and config are in use, then comes back on the
// same port: Write never blocks and counts every message as written or
// dropped; config calls fail with ErrUnavailable, then work again; the same
// Spool and Config recover without being recreated.
func TestRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, Timeout: 500 * time.Millisecond})
	cfg := openConfig(t, ConfigOptions{URL: srv.URL(), Timeout: 500 * time.Millisecond})
	ctx := testCtx(t)
	snap, err := cfg.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	followed := make(chan error, 1)
	go func() { followed <- cfg.Follow(ctx, snap.Version, func([]config.Change, string) {}) }()

	w := &faultWriter{sp: sp}
	for sp.Written() == 0 {
		w.write("up")
	}
	srv.Stop()
	for range 200 {
		w.write("down")
	}
	waitDone(t, sp, w.sent)
	if sp.Dropped() == 0 || sp.Errors() == 0 {
		t.Fatalf("nothing dropped while Redis was down: written %d dropped %d errors %d",
			sp.Written(), sp.Dropped(), sp.Errors())
	}
	select {
	case err := <-followed:
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Follow returned %v when Redis went away", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow still blocked 5s after Redis went away")
	}
	checkConfigDown(t, cfg)
	late := openConfig(t, ConfigOptions{URL: srv.URL(), Timeout: 500 * time.Millisecond}) // opens while down
	checkConfigDown(t, late)

	srv.Restart()
	before := sp.Written()
	deadline := time.Now().Add(10 * time.Second)
	for sp.Written() == before {
		if time.Now().After(deadline) {
			t.Fatal("history writes did not resume within 10s of Redis coming back")
		}
		w.write("back")
	}
	waitDone(t, sp, w.sent)
	if got := sp.Written() + sp.Dropped(); got != w.sent {
		t.Fatalf("written %d + dropped %d = %d, sent %d", sp.Written(), sp.Dropped(), got, w.sent)
	}
	// Never blocked on Redis: no Write near the store timeout, and slow
	// ones (scheduling) rare; 200 writes happened while Redis was down.
	if w.slowest >= 400*time.Millisecond || w.slow*20 > w.writes {
		t.Fatalf("Writes blocked: slowest %v, %d of %d over %v", w.slowest, w.slow, w.writes, slowWrite)
	}
	msgs, err := sp.Range(ctx, "c", 1)
	if err != nil || len(msgs) != 1 || string(msgs[0]) != fmt.Sprintf("back-%d-9", w.sent-10) {
		t.Fatalf("newest message after recovery = %q, %v", msgs, err)
	}
	for _, c := range []*Config{cfg, late} {
		waitConfigUp(t, c)
	}
	t.Logf("sent %d, written %d, dropped %d, pipeline errors %d, slowest Write %v (%d of %d over %v)",
		w.sent, sp.Written(), sp.Dropped(), sp.Errors(), w.slowest, w.slow, w.writes, slowWrite)
}

// checkConfigDown: every call fails fast with ErrUnavailable.
func checkConfigDown(t *testing.T, c *Config) {
	t.Helper()
	ctx := testCtx(t)
	calls := map[string]func() error{
		"Incr":       func() error { _, err := c.Incr(ctx, config.ChannelIndexKey); return err },
		"Write":      func() error { _, err := c.Write(ctx, config.Change{Key: config.ChannelKey("1")}); return err },
		"Load":       func() error { _, err := c.Load(ctx); return err },
		"Session":    func() error { _, err := c.Session(ctx, "x"); return err },
		"PutSession": func() error { return c.PutSession(ctx, "x", []byte("b"), time.Minute) },
		"Ping":       func() error { return c.Ping(ctx) },
		"Follow":     func() error { return c.Follow(ctx, "0-0", func([]config.Change, string) {}) },
	}
	for name, call := range calls {
		t0 := time.Now()
		err := call()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while Redis is down: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("%s took %v while Redis is down", name, d)
		}
	}
}

// waitConfigUp: calls succeed again (the first after a restart may meet the
// dead connection).
func waitConfigUp(t *testing.T, c *Config) {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Write(ctx, config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("", "")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("config writes still failing 5s after Redis came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, err := c.Load(ctx); err != nil || s.Channel("1") == nil {
		t.Fatalf("Load after recovery: %v", err)
	}
}

// A cluster that cannot be reached at open: OpenConfig and NewSpool still
// succeed; calls fail fast with ErrUnavailable.
func TestClusterUnreachableAtOpen(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	c := openConfig(t, ConfigOptions{URL: srv.URL(), Cluster: true, Timeout: 300 * time.Millisecond})
	if err := c.Ping(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping = %v", err)
	}
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, Cluster: true, Timeout: 300 * time.Millisecond})
	writeMsgs(sp, "c", "x")
	waitDone(t, sp, 1)
	if sp.Dropped() != 1 {
		t.Fatalf("dropped %d", sp.Dropped())
	}
	if _, err := sp.Range(context.Background(), "c", 1); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Range = %v", err)
	}
}

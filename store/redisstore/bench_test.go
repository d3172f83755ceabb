package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// BenchmarkSpoolWrite measures messages per second through the writers into
// a real redis-server: 120-byte messages on 100 channels, 100 messages per
// batch, either spread over all channels ("mixed") or one channel per batch
// ("single"). The producer waits while 1000 batches are queued, so the
// figure is the writers' throughput, not how fast a full queue drops.
func BenchmarkSpoolWrite(b *testing.B) {
	srv := redistest.Start(b)
	for _, mixed := range []bool{true, false} {
		for _, writers := range []int{1, 2} {
			name := fmt.Sprintf("batch=%s/writers=%d", map[bool]string{true: "mixed", false: "single"}[mixed], writers)
			b.Run(name, func(b *testing.B) {
				srv.MustDo(b, "FLUSHALL")
				benchSpool(b, SpoolOptions{URLs: []string{srv.URL()}, Writers: writers}, mixed)
			})
		}
	}
}

// BenchmarkSpoolWriteCluster is BenchmarkSpoolWrite (mixed batches, one
// writer) against a 3-node Redis Cluster on the same machine.
func BenchmarkSpoolWriteCluster(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	benchSpool(b, SpoolOptions{URLs: []string{cl.URL()}}, true)
}

func benchSpool(b *testing.B, opts SpoolOptions, mixed bool) {
	sp, err := NewSpool(opts)
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 120)
	channels := make([]string, 100)
	for i := range channels {
		channels[i] = fmt.Sprint(1000 + i)
	}
	b.SetBytes(100 * 120)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		bt := store.GetHistoryBatch()
		for j := range 100 {
			ch := channels[i%100]
			if mixed {
				ch = channels[j]
			}
			bt.Add(ch, msg)
		}
		for sp.Queued() >= 1000 {
			time.Sleep(20 * time.Microsecond)
		}
		sp.Write(bt)
	}
	sp.Close() // the final flush is part of the measured time
	elapsed := time.Since(start)
	b.ReportMetric(float64(sp.Written())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(sp.Dropped()), "dropped")
}

// convergence measures, for 1000 sequential writes, the time from calling
// Write to a Watcher (on another client) publishing a snapshot that
// includes it.
func convergence(t *testing.T, opts ConfigOptions) {
	writer, reader := openConfig(t, opts), openConfig(t, opts)
	ctx := testCtx(t)
	w := store.NewWatcher(reader, time.Hour, nil)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(wctx)
	if err := w.WaitVersion(ctx, "0-0"); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	lat := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		v, err := writer.Write(ctx, config.Change{Key: config.ChannelKey(fmt.Sprint(i)), Fields: config.ChannelHash("c", "")},
			config.Change{Key: config.TokenKey(fmt.Sprintf("t.%d", i)), Fields: config.TokenHash(fmt.Sprint(i), "app")})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WaitVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	if got := w.Current().NumTokens(); got != n {
		t.Fatalf("watcher has %d tokens, want %d", got, n)
	}
	slices.Sort(lat)
	t.Logf("Write → Watcher snapshot, %d changes: p50 %v, p99 %v, max %v",
		n, lat[n/2], lat[n*99/100], lat[n-1])
}

func TestConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 1000 writes")
	}
	srv := redistest.Start(t)
	convergence(t, ConfigOptions{URL: srv.URL()})
}

// BenchmarkLoad is one full Load of 100 000 channels, 100 000 tokens and
// 10 000 drains (the issue 15 platform size), as a data plane boots or
// reloads fully.
func BenchmarkLoad(b *testing.B) {
	srv := redistest.Start(b)
	c := openConfig(b, ConfigOptions{URL: srv.URL(), Timeout: 30 * time.Second})
	cl, _, err := c.client()
	if err != nil {
		b.Fatal(err)
	}
	const channels, drains = 100_000, 10_000
	cmds := make(rueidis.Commands, 0, 2*channels+drains)
	for i := 1; i <= channels; i++ {
		id := strconv.Itoa(i)
		cmds = append(cmds, cl.B().Hset().Key(config.ChannelKey(id)).FieldValue().FieldValue("name", "app"+id).FieldValue("flags", "").Build(),
			cl.B().Hset().Key(config.TokenKey("t."+id)).FieldValue().FieldValue("ch", id).FieldValue("name", "app").Build())
	}
	for i := 1; i <= drains; i++ {
		id := strconv.Itoa(i)
		cmds = append(cmds, cl.B().Hset().Key("drain:"+id+":data").FieldValue().FieldValue("ch", id).FieldValue("token", "d."+id).
			FieldValue("url", "http://127.0.0.1:9/d"+id).FieldValue("state", "provisioned").Build())
	}
	for _, r := range cl.DoMulti(context.Background(), cmds...) {
		if err := r.Error(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := c.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if s.NumChannels() != channels || s.NumDrains() != drains {
			b.Fatalf("%d channels, %d drains", s.NumChannels(), s.NumDrains())
		}
	}
}

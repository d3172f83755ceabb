package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
	"github.com/logplex/logplex/store/storetest"
)

func openBus(t testing.TB, opts BusOptions) *Bus {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	b, err := NewBus(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBusSingle(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("Bus", func(t *testing.T) {
		storetest.RunBus(t, func(t *testing.T) store.Bus { return openBus(t, BusOptions{URL: srv.URL()}) })
	})
	t.Run("Tails", func(t *testing.T) {
		storetest.RunTails(t, func(t *testing.T) store.ConfigStore {
			srv.MustDo(t, "FLUSHALL")
			return openConfig(t, ConfigOptions{URL: srv.URL()})
		})
	})
}

func TestBusCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	t.Run("Bus", func(t *testing.T) {
		storetest.RunBus(t, func(t *testing.T) store.Bus { return openBus(t, BusOptions{URL: cl.URL()}) })
	})
	t.Run("Tails", func(t *testing.T) {
		storetest.RunTails(t, func(t *testing.T) store.ConfigStore {
			cl.FlushAll(t)
			return openConfig(t, ConfigOptions{URL: cl.URL()})
		})
	})
}

// A registration is stored with its TTL in the same MULTI as its hash.
func TestTailKeyTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	key := config.TailKey("5", "sess")
	if _, err := c.Write(context.Background(), config.Change{Key: key, Fields: config.TailHash("n1"), TTL: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if ms := srv.MustDo(t, "PTTL", key).(int64); ms <= 29000 || ms > 30000 {
		t.Fatalf("PTTL %s = %d, want about 30000", key, ms)
	}
	if node := srv.MustDo(t, "HGET", key, "node"); node != "n1" {
		t.Fatalf("HGET node = %v", node)
	}
	if ms := srv.MustDo(t, "PTTL", config.ChannelIndexKey).(int64); ms != -2 {
		t.Fatalf("unrelated key touched: %d", ms)
	}
}

// Two nodes: what one publishes, the other's subscribers receive.
func TestBusAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	pub, sub := openBus(t, BusOptions{URL: srv.URL()}), openBus(t, BusOptions{URL: srv.URL()})
	q := store.NewTailQueue(0)
	cancel, err := sub.Subscribe(context.Background(), "7", q)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	pub.Publish("7", [][]byte{[]byte("from another node")})
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	msgs, _, _, err := q.Next(ctx, nil)
	if err != nil || len(msgs) != 1 || string(msgs[0]) != "from another node" {
		t.Fatalf("got %q, %v", msgs, err)
	}
}

// The last subscriber leaving unsubscribes the node from Redis.
func TestBusUnsubscribes(t *testing.T) {
	srv := redistest.Start(t)
	b := openBus(t, BusOptions{URL: srv.URL()})
	numsub := func() int64 {
		r := srv.MustDo(t, "PUBSUB", "NUMSUB", TailChannelPrefix+"u").([]any)
		return r[1].(int64)
	}
	var cancels []func()
	for range 3 {
		c, err := b.Subscribe(context.Background(), "u", store.NewTailQueue(0))
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, c)
	}
	if n := numsub(); n != 1 {
		t.Fatalf("%d subscriptions for 3 local subscribers, want 1", n)
	}
	for _, c := range cancels {
		c()
	}
	deadline := time.Now().Add(5 * time.Second)
	for numsub() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed after every subscriber left")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Redis down: Subscribe fails within its context with ErrUnavailable, and
// Publish neither blocks nor fails loudly (batches are dropped and counted).
func TestBusRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	b := openBus(t, BusOptions{URL: srv.URL(), Timeout: 200 * time.Millisecond})
	srv.Stop()
	before := busDropped.Get()
	b.Publish("d", [][]byte{[]byte("lost")})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Subscribe(ctx, "d", store.NewTailQueue(0)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Subscribe with Redis down: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for busDropped.Get() == before {
		if time.Now().After(deadline) {
			t.Fatal("the dropped batch was not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A subscription survives a Redis restart: it subscribes again.
func TestBusResubscribes(t *testing.T) {
	srv := redistest.Start(t)
	b := openBus(t, BusOptions{URL: srv.URL(), Timeout: 300 * time.Millisecond})
	q := store.NewTailQueue(0)
	cancel, err := b.Subscribe(context.Background(), "r", q)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.Publish("r", [][]byte{[]byte("back")})
		ctx, done := context.WithTimeout(context.Background(), 100*time.Millisecond)
		msgs, _, _, _ := q.Next(ctx, nil)
		done()
		if len(msgs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after Redis restarted")
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	msgs := [][]byte{[]byte(""), []byte("12 3"), []byte(strings.Repeat("y", 1000)), []byte("last")}
	p, n := encodePayload(nil, msgs, 1<<20)
	if n != len(msgs) {
		t.Fatalf("took %d", n)
	}
	got, err := decodePayload(p)
	if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", msgs) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if _, n := encodePayload(nil, msgs, 50); n != 2 {
		t.Fatalf("split at 50 bytes took %d messages, want 2", n)
	}
	if _, n := encodePayload(nil, msgs[2:], 10); n != 1 {
		t.Fatal("an oversized message must go alone")
	}
	for _, bad := range []string{"5 abc", "x", "3", "3x abc", "1234567890 a", " 1", "-1 a"} {
		if _, err := decodePayload([]byte(bad)); err == nil {
			t.Errorf("decodePayload(%q) accepted", bad)
		}
	}
}

// FuzzDecodePayload: any input decodes or is refused without panicking,
// and what decodes re-encodes to something that decodes the same.
func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte("5 hello3 abc"))
	f.Add([]byte("0 "))
	f.Add([]byte("007 1234567"))
	f.Fuzz(func(t *testing.T, p []byte) {
		msgs, err := decodePayload(p)
		if err != nil {
			return
		}
		again, n := encodePayload(nil, msgs, len(p)+16)
		back, err := decodePayload(again)
		if err != nil || n != len(msgs) || fmt.Sprintf("%q", back) != fmt.Sprintf("%q", msgs) {
			t.Fatalf("%q: decoded %q, re-encoded %q, decoded again %q (%v)", p, msgs, again, back, err)
		}
	})
}

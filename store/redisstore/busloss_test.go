package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// The bus drops for a while (Redis killed and restarted): what the
// publisher could not get to the subscriber (PUBLISH failed, or answered 0
// subscribers while the subscription was being re-established) reaches the
// subscriber's queue as a counted loss, so received + lost = published,
// exactly; and the publisher's counters hold every lost message.
func TestBusLossReachesTheSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	pub, sub := openBus(t, BusOptions{URL: srv.URL()}), openBus(t, BusOptions{URL: srv.URL()})
	q := store.NewTailQueue(1 << 20)
	cancel, err := sub.Subscribe(context.Background(), "7", q)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	dropped0, unheard0 := busDropped.Get(), unheardTotal()
	var received, lost int
	var since time.Time
	next := func() {
		ctx, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer stop()
		msgs, l, s, _ := q.Next(ctx, nil)
		received += len(msgs)
		if l > 0 && (lost == 0 || s.Before(since)) {
			since = s
		}
		lost += l
	}
	sent := 0
	publish := func(n int) {
		for range n {
			pub.Publish("7", [][]byte{[]byte(fmt.Sprintf("<134>1 - h app web.1 - - seq=%d", sent))})
			sent++
		}
	}
	publish(100)
	for received < 100 {
		next()
	}
	start := time.Now()
	srv.Stop() // the bus is down: publishes fail
	publish(200)
	srv.Restart()
	// publish on until the subscription is back and carried the loss
	deadline := time.Now().Add(30 * time.Second)
	for lost == 0 || received < 400 {
		if time.Now().After(deadline) {
			t.Fatalf("no loss reported: sent %d, received %d", sent, received)
		}
		publish(10)
		next()
	}
	for received+lost < sent && time.Now().Before(deadline) {
		next()
	}
	counted := int(busDropped.Get()-dropped0) + int(unheardTotal()-unheard0)
	t.Logf("sent %d, received %d, lost %d (since %v after the stop), counted by the publisher %d",
		sent, received, lost, since.Sub(start), counted)
	if received+lost != sent || counted != lost || lost < 200 {
		t.Fatalf("sent %d != received %d + lost %d, or counted %d != lost", sent, received, lost, counted)
	}
	if since.Before(start) {
		t.Fatalf("loss since %v, before the outage began (%v)", since, start)
	}
}

func unheardTotal() uint64 { return store.UnheardTotal() }

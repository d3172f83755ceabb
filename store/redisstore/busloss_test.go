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
// subscriber's queue as a counted loss (the gap in the payloads' sequence),
// so received + lost = published, exactly, dated by the last payload
// received before it; and the publisher's counters hold every lost message.
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
	first := time.Now().Truncate(time.Millisecond) // the loss is dated by the payload before it
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
	if since.Before(first) || since.After(start) {
		t.Fatalf("loss since %v: not between the last payload before the outage (after %v) and the outage (%v)", since, first, start)
	}
}

func unheardTotal() uint64 { return store.UnheardTotal() }

// A payload that never reaches a subscriber although Redis answered the
// publisher (Redis killed between the two writes: PUBLISH counts
// subscribers, not deliveries) is found by the sequence header of the next
// one: the subscriber reports exactly the messages missing, since the
// payload before them. A publisher seen for the first time, and one that
// numbers again from 0 (it restarted), report nothing.
func TestBusSequenceGapIsReported(t *testing.T) {
	srv := redistest.Start(t)
	sub := openBus(t, BusOptions{URL: srv.URL()})
	q := store.NewTailQueue(0)
	cancel, err := sub.Subscribe(context.Background(), "g", q)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	at := time.UnixMilli(time.Now().Add(time.Second).UnixMilli()) // after the queue was made
	publish := func(pub string, seq uint64, ms int64, msgs ...string) {
		t.Helper()
		var raw [][]byte
		for _, m := range msgs {
			raw = append(raw, []byte(m))
		}
		p, _ := encodePayload(append([]byte(nil), seqBlank...), raw, 1<<20)
		putSeq(p, pub, seq, time.UnixMilli(ms))
		srv.MustDo(t, "PUBLISH", TailChannelPrefix+"g", string(p))
	}
	missing0 := busMissing.Get()
	a, b := "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	publish(a, 40, at.UnixMilli(), "a40", "a41") // first seen: sets the expectation
	publish(a, 42, at.UnixMilli()+5, "a42")
	// a43..a45 (one payload of 3) lost on the way
	publish(b, 7, at.UnixMilli()+6, "b7")        // another publisher: its own count
	publish(a, 46, at.UnixMilli()+9, "a46")      // 3 missing since a42's payload
	publish(a, 0, at.UnixMilli()+10, "a0")       // restarted its count: no gap
	publish(b, 8, at.UnixMilli()+11, "b8", "b9") // in sequence
	var got []string
	var lost int
	var since time.Time
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 8 && time.Now().Before(deadline) {
		ctx, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
		msgs, l, s, _ := q.Next(ctx, nil)
		stop()
		for _, m := range msgs {
			got = append(got, string(m))
		}
		if l > 0 {
			lost, since = lost+l, s
		}
	}
	if fmt.Sprint(got) != "[a40 a41 a42 b7 a46 a0 b8 b9]" {
		t.Fatalf("received %q", got)
	}
	if lost != 3 || !since.Equal(at.Add(5*time.Millisecond)) || busMissing.Get()-missing0 != 3 {
		t.Fatalf("lost %d since %v (want 3 since %v); counted %d", lost, since, at.Add(5*time.Millisecond), busMissing.Get()-missing0)
	}
}

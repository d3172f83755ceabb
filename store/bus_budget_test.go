package store

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestTailQueueBudget: sessions whose clients never read (four stuck
// queues, one of which took a batch and never came back for the next), sent
// 10 KB messages, would hold 1 024 of them each (10 MB); with a budget of
// 1 MiB the node's queues keep within it, what they drop is reported as
// their loss (L11) and counted as shed, a session that reads loses
// nothing, and ended queues leave the budget at zero.
func TestTailQueueBudget(t *testing.T) {
	const budget = 1 << 20
	g := NewTailBudget(budget)
	var stuck []*TailQueue
	for range 4 {
		stuck = append(stuck, NewBoundedTailQueue(1024, g))
	}
	reader := NewBoundedTailQueue(1024, g)
	big := bytes.Repeat([]byte("x"), 10_000)
	shed0 := tailShed.Get()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var handed, lostBefore int // what stuck[0]'s one Next took and reported
	const rounds = 2000
	for i := range rounds {
		batch := [][]byte{big}
		for _, q := range stuck {
			q.Push(batch)
		}
		reader.Push(batch)
		got, lost, _, err := reader.Next(ctx, nil)
		if err != nil || len(got) != 1 || lost != 0 {
			t.Fatalf("round %d: the reading session got %d messages, lost %d, err %v", i, len(got), lost, err)
		}
		if i == 50 { // stuck[0]'s session takes what it holds and never asks again
			ms, lost, _, err := stuck[0].Next(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			handed, lostBefore = len(ms), lost
		}
		// each queue may overshoot its share by the message it was just given
		if held, most := g.Held(), int64(budget+5*len(big)); held > most {
			t.Fatalf("round %d: the tail queues hold %d bytes, budget %d (at most %d expected)", i, held, budget, most)
		}
	}
	if n, _ := g.Big(); n != 4 {
		t.Fatalf("%d queues counted as big, want the 4 stuck ones", n)
	}
	shed := int(tailShed.Get() - shed0)
	lostAll := 0
	for i, q := range stuck {
		pushed := rounds
		if i == 0 {
			pushed -= handed
		}
		held := q.Len()
		q.mu.Lock()
		lost := q.lost
		q.mu.Unlock()
		if i == 0 {
			lost += lostBefore
		}
		if lost == 0 || lost+held != pushed {
			t.Fatalf("stuck queue %d: lost %d + held %d != pushed %d", i, lost, held, pushed)
		}
		lostAll += lost
	}
	if shed == 0 || shed > lostAll {
		t.Fatalf("shed %d, the stuck queues lost %d", shed, lostAll)
	}
	// the budget counts what the queues hold and what they handed out (the
	// sessions hold it until they ask again): stuck[0]'s batch and the
	// reader's last message
	want := handed + 1
	for _, q := range append(stuck, reader) {
		want += q.Len()
	}
	if g.Held() != int64(want*len(big)) {
		t.Fatalf("the budget counts %d bytes; the queues hold and stuck[0] handed out %d messages of %d", g.Held(), want, len(big))
	}
	for _, q := range append(stuck, reader) {
		q.End()
		q.End() // twice: counted once
	}
	if n, bigHeld := g.Big(); g.Held() != 0 || n != 0 || bigHeld != 0 {
		t.Fatalf("after every session ended the budget counts %d bytes, %d big queues of %d", g.Held(), n, bigHeld)
	}
}

// TestTailQueueUnbounded: without a budget a queue is bounded in messages
// only, as Logplex's (the budget test's stuck queues would hold 10 MB).
func TestTailQueueUnbounded(t *testing.T) {
	q := NewBoundedTailQueue(1024, nil)
	big := bytes.Repeat([]byte("x"), 10_000)
	for range 2000 {
		q.Push([][]byte{big})
	}
	if q.Len() != 1024 {
		t.Fatalf("holds %d messages, want 1024", q.Len())
	}
	q.End()
}

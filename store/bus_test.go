package store

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func msgs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func next(t *testing.T, q *TailQueue) ([]string, int, time.Time) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ms, lost, since, err := q.Next(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, string(m))
	}
	return out, lost, since
}

func TestTailQueueDropsOldest(t *testing.T) {
	q := NewTailQueue(3)
	before := time.Now()
	q.Push(msgs("1", "2"))
	q.Push(msgs("3", "4"))           // drops 1
	q.Push(msgs("5", "6", "7", "8")) // longer than the queue: drops 2,3,4 and 5
	got, lost, since := next(t, q)
	if len(got) != 3 || got[0] != "6" || got[2] != "8" || lost != 5 || since.Before(before) || since.After(time.Now()) {
		t.Fatalf("got %q lost %d since %v", got, lost, since)
	}
	q.Push(msgs("9"))
	if got, lost, since := next(t, q); len(got) != 1 || lost != 0 || !since.IsZero() {
		t.Fatalf("loss reported twice: %q %d %v", got, lost, since)
	}
	q.AddLoss(7)
	if got, lost, _ := next(t, q); len(got) != 0 || lost != 7 {
		t.Fatalf("AddLoss: %q %d", got, lost)
	}
}

func TestTailQueueWaitsAndEnds(t *testing.T) {
	q := NewTailQueue(0)
	c, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, _, err := q.Next(c, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("empty queue: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		_, _, _, err := q.Next(context.Background(), nil)
		got <- err
	}()
	q.End()
	if err := <-got; !errors.Is(err, io.EOF) {
		t.Fatalf("after End: %v", err)
	}
	q.Push(msgs("late"))
	if q.Len() != 0 {
		t.Fatal("Push after End kept a message")
	}
}

func TestShareBatch(t *testing.T) {
	src := msgs("ab", "", "cde")
	out := ShareBatch(src)
	src[0][0] = 'X'
	if string(out[0]) != "ab" || string(out[1]) != "" || string(out[2]) != "cde" {
		t.Fatalf("%q", out)
	}
	if cap(out[0]) != 2 {
		t.Fatal("shared slices must not be appendable into their neighbours")
	}
}

package drain

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// stopCtx behaves as a context.WithCancel context for what the senders do
// with it: Done and Err, contexts derived from it (a dial's deadline) and
// context.AfterFunc (the HTTP sender's cut of a request in flight).
func TestStopCtx(t *testing.T) {
	var c stopCtx
	if c.Err() != nil {
		t.Fatalf("Err before stop: %v", c.Err())
	}
	done := c.Done()
	if c.Done() != done {
		t.Fatal("Done returned another channel")
	}
	child, cancelChild := context.WithTimeout(&c, time.Hour)
	defer cancelChild()
	ran := make(chan struct{})
	stopAfter := context.AfterFunc(&c, func() { close(ran) })
	never := context.AfterFunc(&c, func() { t.Error("a stopped AfterFunc ran") })
	if !never() {
		t.Fatal("stopping an AfterFunc before the stop did not report it stopped")
	}
	select {
	case <-done:
		t.Fatal("Done closed before stop")
	case <-child.Done():
		t.Fatal("derived context ended before stop")
	default:
	}

	c.stop()
	<-done
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after stop: %v", c.Err())
	}
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("derived context's Err: %v", child.Err())
	}
	<-ran
	if stopAfter() {
		t.Fatal("stopping an AfterFunc that ran reported it stopped")
	}
	c.stop() // again: nothing

	late := make(chan struct{})
	context.AfterFunc(&c, func() { close(late) })
	<-late
	ctx, cancel := context.WithCancel(&c)
	defer cancel()
	if ctx.Err() == nil {
		t.Fatal("a context derived after the stop is not done")
	}
}

// A stopCtx stopped before Done was ever called has a closed Done.
func TestStopCtxDoneAfterStop(t *testing.T) {
	var c stopCtx
	c.stop()
	select {
	case <-c.Done():
	default:
		t.Fatal("Done of a stopped context is open")
	}
}

// What a drain keeps of the contexts derived from its own once they ended
// is nothing: the registrations' slice is let go (context.WithCancel's
// children map stays allocated, about 0.25 KiB per drain).
func TestStopCtxLetsRegistrationsGo(t *testing.T) {
	var c stopCtx
	for range 3 {
		ctx, cancel := context.WithTimeout(&c, time.Hour)
		stop := context.AfterFunc(&c, func() {})
		cancel()
		stop()
		if ctx.Err() == nil {
			t.Fatal("cancel did not end the derived context")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.after != nil {
		t.Fatalf("%d registrations kept (capacity %d) once every one ended", len(c.after), cap(c.after))
	}
}

// Done, Err, AfterFunc and stop from many goroutines at once (the sender,
// the flush deadline's timer, dials): every Done is closed and every
// function registered runs, whether it came before or after the stop.
func TestStopCtxConcurrent(t *testing.T) {
	for range 50 {
		var c stopCtx
		var ran sync.WaitGroup
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			ran.Add(1)
			go func() {
				defer wg.Done()
				context.AfterFunc(&c, ran.Done)
				<-c.Done()
				if c.Err() == nil {
					t.Error("Done closed, Err nil")
				}
			}()
		}
		c.stop()
		wg.Wait()
		ran.Wait()
	}
}

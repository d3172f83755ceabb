package drain

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// stopCtx is a context.Context that ends when stop is called: a drain's
// delivery and final-flush contexts, two per configured drain, so what an
// idle drain costs matters here. A context.WithCancel pair costs a
// cancelCtx and a closure each, and the first context derived from one
// (a dial's deadline, the HTTP sender's context.AfterFunc) gives it a
// children map that Go never shrinks: about 0.6 KiB per drain that had
// traffic (TestWentIdleDrainMemory). stopCtx is a value field of the
// Drain; its channel is made by the first Done, and contexts derived from
// it register through its AfterFunc method (the context package looks for
// it) in a slice that is let go once empty.
type stopCtx struct {
	mu      sync.Mutex
	done    atomic.Value // chan struct{}: made by the first Done (under mu), closed by stop
	after   []*afterStop // AfterFunc's registrations
	stopped atomic.Bool  // set by stop, under mu, just before it closes done (if made)
}

// afterStop is one AfterFunc registration.
type afterStop struct{ f func() }

// closedDone is the Done of a stopCtx stopped before anyone asked for it.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (c *stopCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *stopCtx) Value(any) any               { return nil }

// Err is non-nil once Done is closed (the context package relies on it:
// a context derived from a stopped one takes its Err): when stop has begun
// it waits for the close, which stop makes before it lets go of mu.
func (c *stopCtx) Err() error {
	if c.stopped.Load() {
		<-c.Done()
		return context.Canceled
	}
	return nil
}

// Done is a load once the channel is made (the sender's loop asks for it
// before every wait).
func (c *stopCtx) Done() <-chan struct{} {
	if d := c.done.Load(); d != nil {
		return d.(chan struct{})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.done.Load(); d != nil {
		return d.(chan struct{})
	}
	d := closedDone
	if !c.stopped.Load() {
		d = make(chan struct{})
	}
	c.done.Store(d)
	return d
}

// stop ends the context: Done is closed, then the AfterFunc functions run
// on this goroutine, in no particular order. Later calls do nothing.
func (c *stopCtx) stop() {
	c.mu.Lock()
	if c.stopped.Load() {
		c.mu.Unlock()
		return
	}
	c.stopped.Store(true)
	if d := c.done.Load(); d != nil {
		close(d.(chan struct{}))
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for _, a := range after {
		a.f()
	}
}

// AfterFunc calls f once c is stopped (at once, on a new goroutine, if it
// is already), unless the returned function, which reports whether it
// prevented the call, is called first. The context package calls it for
// contexts derived from c (f then only cancels them) and for
// context.AfterFunc(c, …) (f then starts the caller's function on its own
// goroutine), so f is short and never blocks.
func (c *stopCtx) AfterFunc(f func()) (cancel func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped.Load() {
		go f()
		return func() bool { return false }
	}
	a := &afterStop{f: f}
	c.after = append(c.after, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, b := range c.after {
			if b == a {
				last := len(c.after) - 1
				c.after[i], c.after[last] = c.after[last], nil
				c.after = c.after[:last]
				if last == 0 {
					c.after = nil
				}
				return true
			}
		}
		return false
	}
}

package drain

import (
	"testing"
	"testing/synctest"
	"time"
)

// parked reports whether d's sender is parked: no goroutine, no timer.
func parked(d *Drain) bool {
	d.Buf.mu.Lock()
	defer d.Buf.mu.Unlock()
	return d.Buf.state == senderParked
}

// letGo reports whether d has let its sender go (it is made again by the
// next run).
func letGo(d *Drain) bool {
	d.Buf.mu.Lock()
	defer d.Buf.mu.Unlock()
	return d.s == nil
}

// TestSyslogParkedWakes, on synctest's clock: a syslog drain runs no
// sender before its first message; once its idle connection is closed it
// parks again and lets its sender go (no goroutine, no timer is left: the
// bubble is idle),
// and the next message wakes it: it reconnects and writes at the very
// instant of the push, every message delivered and counted.
func TestSyslogParkedWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &pipeEndpoint{}
		r := startSLEndpoint(t, Options{TCPIdleTimeout: time.Second, TCPIdleFuzz: time.Millisecond,
			TCPReconnectMin: time.Millisecond}, e, time.Second)
		synctest.Wait()
		if !parked(r.d) {
			t.Fatal("a drain without messages runs its sender")
		}
		for round := range 3 {
			t0 := time.Now()
			r.push(slMsg(round))
			synctest.Wait()
			if e.frames() != round+1 {
				t.Fatalf("round %d: %d frames, want %d", round, e.frames(), round+1)
			}
			if at := e.lastAccept(); !at.Equal(t0) {
				t.Fatalf("round %d: connected %v after the push, want at once", round, at.Sub(t0))
			}
			if parked(r.d) {
				t.Fatalf("round %d: parked while connected", round)
			}
			time.Sleep(2 * time.Second) // past the idle timeout: the connection closes
			synctest.Wait()
			if !parked(r.d) || !letGo(r.d) {
				t.Fatalf("round %d: the sender did not park and go after the idle close", round)
			}
		}
		if d, x := r.d.Stats.Delivered.Get(), r.d.Stats.Dropped.Get(); d != 3 || x != 0 {
			t.Fatalf("delivered %d, dropped %d; want 3, 0", d, x)
		}
	})
}

// TestSyslogParkedKeepsBackoff, on synctest's clock: a drain that parked
// after a failure (nothing buffered) still waits out its backoff for the
// next message: parking drops no state.
func TestSyslogParkedKeepsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const u = 50 * time.Millisecond
		e := &pipeEndpoint{}
		r := startSLEndpoint(t, Options{TCPBackoffMax: time.Hour}, e, u)
		r.push(slMsg(0))
		synctest.Wait()
		t0 := time.Now()
		e.stop() // the endpoint closes the connection: F = 1, retry in 2 units
		synctest.Wait()
		if !parked(r.d) || letGo(r.d) {
			t.Fatal("a failed drain with nothing buffered did not park, keeping its sender (its backoff)")
		}
		e.start()
		r.push(slMsg(1))
		synctest.Wait()
		if e.frames() != 1 {
			t.Fatalf("%d frames before the backoff passed, want 1", e.frames())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if e.frames() != 2 {
			t.Fatalf("%d frames after the backoff, want 2", e.frames())
		}
		if w := e.lastAccept().Sub(t0); w != 2*u {
			t.Errorf("reconnected %v after the close, want exactly the backoff %v", w, 2*u)
		}
	})
}

// TestHTTPParkedWakes: an HTTP drain runs no sender before its first
// message. With sparse traffic it parks as soon as its buffer is empty, on
// its open keep-alive connection, and when the connection's idle close
// (httpConns.closeIdle) closes it the sender is kicked and the drain lets it go; a busy
// drain (requests under busyGap apart) keeps its goroutine until its idle
// timer closes the connection, then parks. After each park the next message
// goes out at once, with the same accounting.
func TestHTTPParkedWakes(t *testing.T) {
	ep := newFastEndpoint(t)
	d := startHTTP(t, Options{HTTPIdleTimeout: 30 * time.Millisecond, HTTPIdleFuzz: time.Millisecond}, "http://"+ep.addr+"/", "")
	if !parked(d) {
		t.Fatal("a drain without messages runs its sender")
	}
	var worst time.Duration
	sent := 0
	deliver := func() {
		start := time.Now()
		push(d, testMsg(sent))
		sent++
		waitFor(t, 5*time.Second, "delivery", func() bool { return ep.msgs.Load() == int64(sent) })
		worst = max(worst, time.Since(start))
	}
	parkedOpen := func(what string) {
		waitFor(t, 5*time.Second, "the sender parked", func() bool { return parked(d) })
		if !d.Status().Connected {
			t.Fatalf("%s: parked with its connection closed, want it open", what)
		}
	}
	parkedClosed := func(what string) {
		// (the connection counts itself closed before its close kicks the
		// sender: wait for the kicked run too)
		waitFor(t, 10*time.Second, what, func() bool { return !d.Status().Connected && parked(d) && letGo(d) })
		if st := d.Status(); st.Buffered != 0 || st.Delivered != uint64(sent) {
			t.Fatalf("%s: parked drain's status %+v", what, st)
		}
	}
	deliver() // the first request: sparse
	parkedOpen("first message")
	parkedClosed("the idle connection closed, the kicked sender parked")
	deliver() // a second apart: sparse again
	parkedOpen("sparse message")
	deliver() // right after: busy
	parkedClosed("the busy drain's idle timer closed the connection")
	deliver()
	t.Logf("slowest delivery after a wake: %v", worst)
	if worst > 2*time.Second {
		t.Errorf("a parked drain took %v to deliver", worst)
	}
	if n := ep.reqs.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// TestHTTPParkedIdleCloseFollowsLastUse: a sparse drain's connection
// closes once unused for its keep-alive, counted from its last request:
// the idle timer, armed by the first request, is not moved by the second
// (a timer reset per request costs every request); when it fires early it
// waits for the rest (httpConns.closeIdle).
func TestHTTPParkedIdleCloseFollowsLastUse(t *testing.T) {
	ep := newFastEndpoint(t)
	o := Options{HTTPIdleTimeout: 30 * time.Millisecond, HTTPIdleFuzz: time.Millisecond}
	d := startHTTP(t, o, "http://"+ep.addr+"/", "")
	keep := httpKeepAlive(d.o)
	push(d, testMsg(0))
	waitFor(t, wait, "the first delivery", func() bool { return ep.msgs.Load() == 1 })
	time.Sleep(keep / 2) // sparse: the sender parked on the open connection
	push(d, testMsg(1))
	waitFor(t, wait, "the second delivery", func() bool { return ep.msgs.Load() == 2 })
	last := time.Now()
	waitFor(t, 10*keep, "the idle connection closed", func() bool { return !d.Status().Connected && parked(d) })
	if idle := time.Since(last); idle < keep-keep/4 { // closing at the first fire would give about keep/2
		t.Errorf("connection closed %v after its last request, want the keep-alive %v", idle, keep)
	}
	if n := ep.reqs.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

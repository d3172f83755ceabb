package drain

import (
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/ringbuf"
)

// hushed reports whether b's sender holds a batch window open (Hush).
func hushed(b *Buffer) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hush > 0
}

// woken reports (and consumes) a pending wake-up of b's sender.
func woken(b *Buffer) bool {
	select {
	case <-b.Wake():
		return true
	default:
		return false
	}
}

// TestBufferHush: while hushed, pushes wake the sender only once the bytes
// asked for, or half the buffer's messages, are buffered; Hush(0) restores
// a wake-up per push.
func TestBufferHush(t *testing.T) {
	one := len(testFrame(0))
	b := NewBuffer(8, FormHTTP)
	push1 := func(i int) {
		bb := newBenchBatch(FormHTTP, [][]byte{testMsg(i)})
		b.PushBatch(bb.buf, bb.spans, time.Now().UnixNano())
	}
	push1(0)
	if !woken(b) {
		t.Fatal("an unhushed push did not wake the sender")
	}
	if b.Hush(3 * one) {
		t.Fatal("Hush reports the bytes buffered with 1 of 3 messages")
	}
	push1(1)
	if woken(b) {
		t.Fatal("a hushed push below the bytes woke the sender")
	}
	push1(2)
	if !woken(b) {
		t.Fatal("the push that reached the hush bytes did not wake the sender")
	}
	if !b.Hush(3 * one) {
		t.Fatal("Hush does not report the bytes already buffered")
	}

	// Half the capacity in messages wakes too, whatever the bytes.
	b2 := NewBuffer(8, FormHTTP)
	b2.Hush(1 << 30)
	for i := range 3 {
		bb := newBenchBatch(FormHTTP, [][]byte{testMsg(i)})
		b2.PushBatch(bb.buf, bb.spans, time.Now().UnixNano())
	}
	if woken(b2) {
		t.Fatal("3 of 8 messages woke a hushed sender")
	}
	bb := newBenchBatch(FormHTTP, [][]byte{testMsg(3)})
	b2.PushRun(bb.buf, bb.spans, time.Now().UnixNano())
	if !woken(b2) {
		t.Fatal("half the buffer did not wake a hushed sender")
	}
	b2.Hush(0)
	b2.Push(testMsg(4), time.Now().UnixNano())
	if !woken(b2) {
		t.Fatal("a push after Hush(0) did not wake the sender")
	}
}

// TestHTTPBatchWindowTrickle: the first message of a drain that has sent
// nothing goes at once (sparse traffic); after it, messages that reach the
// idle drain one by one go out together in one POST, and the sender is not
// woken per message meanwhile; the target bytes close the window early.
// (The window is an hour, so only the target can close it: no clock in
// the test.)
func TestHTTPBatchWindowTrickle(t *testing.T) {
	const n = 20
	srv := newCapServer(t, nil)
	target := n*len(testFrame(0)) + 1 // the 21st message closes the window; a frame holds 20
	d := startHTTP(t, Options{HTTPBatchWindow: time.Hour, HTTPTargetBytes: target}, httpURL(srv, "http", "/logs"), "")
	push(d, testMsg(0))
	if reqs := srv.waitReqs(1, wait); len(splitFrames(t, reqs[0].Body)) != 1 || hushed(d.Buf) {
		t.Fatal("the first message of a drain that sent nothing yet did not go at once, alone")
	}
	push(d, testMsg(1))
	waitFor(t, wait, "the next message to open the window", func() bool { return hushed(d.Buf) })
	for i := 2; i <= n; i++ { // a trickle: the sender is not woken
		push(d, testMsg(i))
	}
	if !hushed(d.Buf) || len(srv.Reqs()) != 1 {
		t.Fatalf("the window closed before the target bytes: hushed %v, %d requests", hushed(d.Buf), len(srv.Reqs()))
	}
	push(d, testMsg(n+1))
	reqs := srv.waitReqs(2, wait)
	if got := len(splitFrames(t, reqs[1].Body)); got != n {
		t.Fatalf("second POST holds %d messages, want %d", got, n)
	}
	if got := reqs[1].Header["Logplex-Msg-Count"]; got != "20" {
		t.Fatalf("Logplex-Msg-Count %q, want 20", got)
	}
	// The message left over gathered while the request was in flight: it
	// waits in a window that opened when the request started.
	waitFor(t, wait, "the leftover message's window", func() bool { return hushed(d.Buf) })
	if got := len(srv.Reqs()); got != 2 {
		t.Fatalf("%d requests, want 2", got)
	}
}

// TestHTTPBatchWindowLone: a lone message on an idle drain that sent
// something within the last sparseWindows windows waits for the window,
// then goes out by itself, with no other traffic to push it.
func TestHTTPBatchWindowLone(t *testing.T) {
	const window = time.Second
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{HTTPBatchWindow: window}, httpURL(srv, "http", "/logs"), "")
	start := time.Now()
	push(d, testMsg(0)) // the drain's first message goes at once
	srv.waitReqs(1, wait)
	// The next one waits for a window that opened when it found the drain
	// idle or, if it came before the sender looked again after the request,
	// when that request started: after start either way.
	push(d, testMsg(1))
	reqs := srv.waitReqs(2, wait)
	if took := time.Since(start); took < window {
		t.Fatalf("the message went out %v after the first one was pushed, before the window of %v closed", took, window)
	}
	if got := len(splitFrames(t, reqs[1].Body)); got != 1 {
		t.Fatalf("POST holds %d messages, want 1", got)
	}
}

// TestHTTPBatchWindowZero: window 0 is Logplex's send-when-idle: each
// message that finds the drain idle goes out at once in its own POST, and
// the buffer is never hushed.
func TestHTTPBatchWindowZero(t *testing.T) {
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{}, httpURL(srv, "http", "/logs"), "")
	for i := range 5 {
		push(d, testMsg(i))
		reqs := srv.waitReqs(i+1, wait)
		if got := len(splitFrames(t, reqs[i].Body)); got != 1 {
			t.Fatalf("POST %d holds %d messages, want 1", i, got)
		}
		if hushed(d.Buf) {
			t.Fatal("window 0 hushed the buffer")
		}
	}
}

// slTarget is the syslog target bytes of a write of n frames, and the
// number of buffered messages that reach it (the buffer holds cooked
// messages, shorter than the frames a write takes).
func slTarget(n int) (target, m int) {
	f, c := len(slFrame(0)), len(slMsg(0))
	target = n * f
	return target, (target + c - 1) / c
}

// TestSyslogBatchWindowTrickle: the same for a syslog drain: messages that
// reach an idle drain one by one wait in the window, unwritten, until the
// target bytes are buffered; then they are written (in one or two writes:
// the frames are longer than the buffered messages).
func TestSyslogBatchWindowTrickle(t *testing.T) {
	const n = 10
	e := newSLEndpoint(t, nil)
	target, m := slTarget(n)
	r := startSL(t, Options{TCPBatchWindow: time.Hour, TCPTargetBytes: target}, slURL("syslog", e), time.Second)
	r.push(slMsg(0)) // the drain's first message goes at once
	slWaitFor(t, wait, "the first write", func() bool { return len(e.Frames()) == 1 })
	r.push(slMsg(1))
	slWaitFor(t, wait, "the next message to open the window", func() bool { return hushed(r.d.Buf) })
	for i := 2; i < m; i++ {
		r.push(slMsg(i))
	}
	if !hushed(r.d.Buf) || len(e.Frames()) != 1 {
		t.Fatalf("the window closed before the target bytes: hushed %v, %d frames", hushed(r.d.Buf), len(e.Frames()))
	}
	r.push(slMsg(m))
	slWaitFor(t, wait, "the batch", func() bool { return len(e.Frames()) >= n })
	// The rest waits in a window that opened when the write started.
	slWaitFor(t, wait, "the leftover messages' window", func() bool { return hushed(r.d.Buf) })
	if got := len(e.Frames()); got > m {
		t.Fatalf("%d frames written, want the target's worth (about %d) with the rest held", got, n)
	}
}

// TestSyslogBatchWindowLone: a lone message waits for the window, then is
// written by itself.
func TestSyslogBatchWindowLone(t *testing.T) {
	const window = time.Second
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPBatchWindow: window}, slURL("syslog", e), time.Second)
	start := time.Now()
	r.push(slMsg(0)) // the drain's first message goes at once
	slWaitFor(t, wait, "the first write", func() bool { return len(e.Frames()) == 1 })
	r.push(slMsg(1)) // its window opened at the first write at the earliest
	slWaitFor(t, wait, "the message", func() bool { return len(e.Frames()) == 2 })
	if took := time.Since(start); took < window {
		t.Fatalf("written %v after the first message was pushed, before the window of %v closed", took, window)
	}
}

// TestWindowEndSparse: a sender with sparse traffic (no request yet, or
// idle since more than sparseWindows windows) gets the sparse window from
// now when one is set, else none; a sender whose request is in flight, or
// that sent within sparseWindows windows, gets the batch window as before.
func TestWindowEndSparse(t *testing.T) {
	const w, sparse = 10 * time.Millisecond, 5 * time.Millisecond // under 4 grid steps: no rounding
	now := time.Now()
	long, recent := now.Add(-sparseWindows*w-time.Millisecond), now.Add(-time.Millisecond)
	for _, c := range []struct {
		name   string
		last   time.Time
		idle   bool
		sparse time.Duration
		want   time.Time // zero: no window
	}{
		{"first message", time.Time{}, true, sparse, now.Add(sparse)},
		{"first message, no sparse window", time.Time{}, true, 0, time.Time{}},
		{"idle long", long, true, sparse, now.Add(sparse)},
		{"idle long, no sparse window", long, true, 0, time.Time{}},
		{"idle recently", recent, true, sparse, now.Add(w)},
		{"in flight", long, false, sparse, long.Add(w)},
	} {
		end, ok := windowEnd(w, c.sparse, c.last, c.idle, now)
		if ok != !c.want.IsZero() || ok && !end.Equal(c.want) {
			t.Errorf("%s: window until %v (%v), want %v", c.name, end, ok, c.want)
		}
	}
}

// TestHTTPSparseWindow: with a sparse window, the first message of a drain
// that has sent nothing does not go at once: the messages that follow
// gather with it in one POST (here the target bytes close the hour-long
// window; no clock in the test).
func TestHTTPSparseWindow(t *testing.T) {
	const n = 20
	srv := newCapServer(t, nil)
	target := n*len(testFrame(0)) + 1 // the 21st message closes the window; a frame holds 20
	d := startHTTP(t, Options{HTTPBatchWindow: 10 * time.Millisecond, HTTPSparseWindow: time.Hour, HTTPTargetBytes: target},
		httpURL(srv, "http", "/logs"), "")
	push(d, testMsg(0))
	waitFor(t, wait, "the first message to open the sparse window", func() bool { return hushed(d.Buf) })
	for i := 1; i <= n; i++ {
		push(d, testMsg(i))
	}
	reqs := srv.waitReqs(1, wait)
	if got := len(splitFrames(t, reqs[0].Body)); got != n {
		t.Fatalf("the first POST holds %d messages, want %d", got, n)
	}
}

// TestSyslogSparseWindow: the same for a syslog drain's first write.
func TestSyslogSparseWindow(t *testing.T) {
	const n = 10
	e := newSLEndpoint(t, nil)
	target, m := slTarget(n)
	r := startSL(t, Options{TCPBatchWindow: 10 * time.Millisecond, TCPSparseWindow: time.Hour, TCPTargetBytes: target},
		slURL("syslog", e), time.Second)
	r.push(slMsg(0))
	slWaitFor(t, wait, "the first message to open the sparse window", func() bool { return hushed(r.d.Buf) })
	for i := 1; i < m-1; i++ { // m-1 messages held: short of the target
		r.push(slMsg(i))
	}
	if !hushed(r.d.Buf) || len(e.Frames()) != 0 {
		t.Fatalf("the sparse window closed before the target bytes: hushed %v, %d frames", hushed(r.d.Buf), len(e.Frames()))
	}
	r.push(slMsg(m - 1)) // the m-th reaches it
	slWaitFor(t, wait, "the batch", func() bool { return len(e.Frames()) >= n })
}

// TestBatchWindowAllocs: opening, re-checking and closing a window, and
// pushing into a hushed buffer, allocate nothing.
func TestBatchWindowAllocs(t *testing.T) {
	d, s := newHTTPDrain(t, Options{HTTPBatchWindow: time.Hour}, "http://127.0.0.1:9/", "")
	batch := newBenchBatch(FormHTTP, logLines(1, 1))
	cycle := func() {
		s.idle, s.lastReq = true, time.Now()
		d.Buf.PushBatch(batch.buf, batch.spans, 1)
		if !s.waitWindow() {
			t.Fatal("no window")
		}
		d.Buf.PushBatch(batch.buf, batch.spans, 1) // hushed
		if !s.waitWindow() {
			t.Fatal("window closed early")
		}
		s.closeWindow()
		d.Buf.With(func(r *ringbuf.Ring) { r.PopWhile(func([]byte) bool { return true }) })
	}
	for range 100 {
		cycle()
	}
	if allocs := testing.AllocsPerRun(100, cycle); allocs != 0 {
		t.Errorf("%v allocations per window, want 0", allocs)
	}
}

// TestWindowGrid: a window of at least 4 grid steps closes on the next
// multiple of windowGrid, never earlier than asked and less than a step
// later, so windows opened within one step close at the same instant;
// shorter windows are left alone; the end keeps its monotonic reading (a
// clock step cannot stretch a window).
func TestWindowGrid(t *testing.T) {
	now := time.Now()
	step := now.Add(windowGrid - time.Duration(now.UnixNano()%int64(windowGrid))) // on the grid
	w := 40 * time.Millisecond
	var first time.Time
	for i := range 4 {
		opened := step.Add(time.Millisecond/2 + time.Duration(i)*900*time.Microsecond) // within one step
		end, ok := windowEnd(w, 0, opened.Add(-time.Millisecond), true, opened)
		if !ok {
			t.Fatal("no window")
		}
		if d := end.Sub(opened.Add(w)); d < 0 || d >= windowGrid {
			t.Fatalf("window %d ends %v after its length", i, d)
		}
		if !strings.Contains(end.String(), "m=") {
			t.Fatalf("window %d's end lost its monotonic reading: %v", i, end)
		}
		if i == 0 {
			first = end
		} else if !end.Equal(first) {
			t.Fatalf("windows opened within one grid step end %v apart", end.Sub(first))
		}
	}
	short := 10 * time.Millisecond
	if end, _ := windowEnd(short, 0, now.Add(-time.Millisecond), true, now); !end.Equal(now.Add(short)) {
		t.Fatalf("a %v window ends at %v, want %v", short, end, now.Add(short))
	}
}

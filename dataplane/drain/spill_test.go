package drain

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/ringbuf"
)

// spillSnap is a snapshot of channel "sp" with drain id to url.
func spillSnap(id int64, url, buffer string) *config.Snapshot {
	return config.Build(map[string]config.Hash{
		config.ChannelKey("sp"): config.ChannelHash("sp", ""),
		config.DrainKey(id): config.DrainHash(&config.Drain{ID: id, ChannelID: "sp", Token: httpTestToken,
			URL: url, Buffer: buffer}),
	}, false, "1")
}

// spillOpts: a small ring, small frames, fast reconnects, the spill in dir.
func spillOpts(dir string, drainMax int64) Options {
	return testOptions(Options{HTTPBufferSize: 50, HTTPTargetBytes: 1500, HTTPReconnectTime: time.Millisecond,
		HTTPMaxRetries: 3, StopGrace: 200 * time.Millisecond,
		Spill: SpillOptions{Dir: dir, MaxBytes: 64 << 20, DrainMaxBytes: drainMax}})
}

func startSpill(t *testing.T, o Options, id int64, url, buffer string) (*Manager, *Drain) {
	t.Helper()
	m := NewManager(o)
	m.Update(spillSnap(id, url, buffer))
	d := m.Drain(id)
	if d == nil {
		t.Fatal("drain not started")
	}
	return m, d
}

// spillHTTP is the common setup: an endpoint, a spill directory and one
// HTTP drain to it (buffer "disk" or "memory") with spillOpts, stopped at
// the end of the test.
func spillHTTP(t *testing.T, buffer string) (srv *capServer, dir string, id int64, m *Manager, d *Drain) {
	t.Helper()
	srv, dir, id = newCapServer(t, nil), t.TempDir(), httpNextID.Add(1)
	m, d = startSpill(t, spillOpts(dir, 0), id, httpURL(srv, "http", "/"), buffer)
	t.Cleanup(func() { m.Close(context.Background()) })
	return srv, dir, id, m, d
}

// pushRange pushes messages from..to-1 in batches of 10.
func pushRange(d *Drain, from, to int) {
	for i := from; i < to; i += 10 {
		push(d, testMsgs(i, min(10, to-i))...)
	}
}

// delivered returns the message ids of the successful requests in the
// order they arrived, and the sum of their L10 counts.
func delivered(t *testing.T, srv *capServer) (ids []int, l10 int) {
	for _, r := range srv.Reqs() {
		if r.Status/100 != 2 {
			continue
		}
		got, n := bodyParts(t, r.Body)
		ids = append(ids, got...)
		l10 += n
	}
	return ids, l10
}

// settled reports whether the endpoint has n messages and d has counted
// every answer (the endpoint records a request before it answers).
func settled(t *testing.T, srv *capServer, d *Drain, n int) bool {
	ids, _ := delivered(t, srv)
	return len(ids) >= n && d.Status().Buffered == 0
}

// recoverAndCount brings the endpoint back at addr, waits for d to empty
// its buffer, sends message n (it carries the L10 of any loss not reported
// yet) and waits for it; it returns what was delivered and the L10 total.
func recoverAndCount(t *testing.T, srv *capServer, addr string, d *Drain, n int) (ids []int, l10 int) {
	t.Helper()
	srv.up(addr)
	waitFor(t, 3*wait, "the buffer to empty", func() bool { return d.Status().Buffered == 0 })
	push(d, testMsg(n))
	waitFor(t, wait, "the last message", func() bool { ids, _ := delivered(t, srv); return len(ids) > 0 && ids[len(ids)-1] == n })
	return delivered(t, srv)
}

// inOrder checks that ids are exactly from..to-1, in order.
func inOrder(t *testing.T, ids []int, from, to int) {
	t.Helper()
	if len(ids) != to-from {
		t.Fatalf("delivered %d messages, want %d", len(ids), to-from)
	}
	for i, id := range ids {
		if id != from+i {
			t.Fatalf("delivery %d is message %d, want %d (out of order or lost)", i, id, from+i)
		}
	}
}

// TestSpillOutageLosesNothing: an HTTP drain with a 50-message ring whose
// endpoint is down while 3 000 messages arrive delivers all of them, in
// order, without an L10, once it is back; the overflow went to disk and
// the spill is empty (its files gone) after the catch-up.
func TestSpillOutageLosesNothing(t *testing.T) {
	srv, dir, id, _, d := spillHTTP(t, "disk")
	addr := srv.addr
	srv.down()
	spilled0 := spillSpilled.Get()
	const n = 3000
	pushRange(d, 0, n)
	// once the ring overflows, it and everything after it goes to disk
	waitFor(t, wait, "the overflow to be written", func() bool { return spillSpilled.Get()-spilled0 == n })
	if st := d.Status(); st.SpillLagSeconds <= 0 || st.Buffered < n-10 {
		t.Fatalf("status during the outage %+v: want the spill, its lag and every message buffered", st)
	}
	srv.up(addr)
	waitFor(t, 3*wait, "every message delivered", func() bool { return settled(t, srv, d, n) })
	ids, l10 := delivered(t, srv)
	inOrder(t, ids, 0, n)
	if st := d.Status(); l10 != 0 || st.Dropped != 0 || st.Delivered != n {
		t.Fatalf("L10 %d, status %+v: want nothing lost", l10, st)
	}
	waitFor(t, wait, "the spill files and its writer goroutine to go", func() bool {
		segs, _ := filepath.Glob(filepath.Join(dir, strconv.FormatInt(id, 10), "*.seg"))
		d.Buf.sp.mu.Lock()
		writer := d.Buf.sp.started
		d.Buf.sp.mu.Unlock()
		return len(segs) == 0 && d.Status().Spilled == 0 && !writer
	})
}

// TestSpillOffDropsAsBefore: the same outage without the spill (buffer
// "memory") loses what the ring cannot hold, reported exactly by L10.
func TestSpillOffDropsAsBefore(t *testing.T) {
	srv, dir, _, _, d := spillHTTP(t, "memory")
	addr := srv.addr
	srv.down()
	const n = 3000
	pushRange(d, 0, n)
	ids, l10 := recoverAndCount(t, srv, addr, d, n)
	if len(ids)+l10 != n+1 || l10 < n/2 {
		t.Fatalf("delivered %d + L10 %d, want %d with most lost", len(ids), l10, n+1)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a memory drain wrote to the spill directory: %v", ents)
	}
}

// TestSpillSurvivesRestart: the node stops (Close, as on SIGTERM) during
// the outage with a frame in hand, a spill and a full ring; a new one on
// the same directory delivers every message once, in order.
func TestSpillSurvivesRestart(t *testing.T) {
	srv := newCapServer(t, nil)
	dir := t.TempDir()
	id := httpNextID.Add(1)
	url := httpURL(srv, "http", "/")
	m, d := startSpill(t, spillOpts(dir, 0), id, url, "disk")
	addr := srv.addr
	srv.down()
	const n = 2000
	pushRange(d, 0, n)
	waitFor(t, wait, "a frame in hand", func() bool { return d.Status().LastError != "" })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	m.Close(ctx)
	cancel()
	if st := d.Status(); st.Dropped != 0 {
		t.Fatalf("stopping lost %d messages; the spill should keep them", st.Dropped)
	}
	srv.up(addr)
	m, d = startSpill(t, spillOpts(dir, 0), id, url, "disk")
	defer m.Close(context.Background())
	waitFor(t, 3*wait, "every message delivered", func() bool { ids, _ := delivered(t, srv); return len(ids) >= n })
	pushRange(d, n, n+10) // newer messages come after
	waitFor(t, wait, "the new messages", func() bool { ids, _ := delivered(t, srv); return len(ids) >= n+10 })
	ids, l10 := delivered(t, srv)
	inOrder(t, ids, 0, n+10)
	if l10 != 0 {
		t.Fatalf("L10 reported %d lost", l10)
	}
}

// TestSpillBudget: a drain whose share is small spills up to it and no
// further (the files never exceed it); the rest is dropped by the ring and
// reported by L10 exactly: delivered + reported = sent.
func TestSpillBudget(t *testing.T) {
	srv := newCapServer(t, nil)
	dir := t.TempDir()
	id := httpNextID.Add(1)
	const share = 32 << 10
	m, d := startSpill(t, spillOpts(dir, share), id, httpURL(srv, "http", "/"), "disk")
	defer m.Close(context.Background())
	addr := srv.addr
	srv.down()
	full0 := spillFull.Get()
	const n = 3000
	for i := 0; i < n; i += 10 {
		pushRange(d, i, i+10)
		if used := m.spill.budget.Used(); used > share {
			t.Fatalf("the spill holds %d bytes, its share is %d", used, share)
		}
	}
	if spillFull.Get() == full0 {
		t.Fatal("the budget was never exhausted: the test does not test it")
	}
	ids, l10 := recoverAndCount(t, srv, addr, d, n)
	if len(ids)+l10 != n+1 || l10 == 0 {
		t.Fatalf("delivered %d + L10 %d, want %d with some lost", len(ids), l10, n+1)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("message %d delivered after %d", ids[i], ids[i-1])
		}
	}
	if st := d.Status(); st.Dropped != uint64(l10) {
		t.Fatalf("status dropped %d, L10 reported %d", st.Dropped, l10)
	}
}

// TestSpillLossRidesOnSpilledFrames: a loss the ring holds (it dropped
// messages while the spill was full) is reported (L10) by the next frame,
// also when that frame comes from the spill. The e2e test
// TestSpillBudgetAndDiskFailure reached the state this test sets up: the
// spill had room again while it still held messages, a push moved the
// ring's messages into it (Offload), and the ring was left empty with its
// loss, which then waited for a message to come to the ring (none came;
// the stop counted it undelivered).
func TestSpillLossRidesOnSpilledFrames(t *testing.T) {
	srv, _, _, _, d := spillHTTP(t, "disk")
	addr := srv.addr
	srv.down()
	const n, lost = 200, 7
	pushRange(d, 0, n) // 50 in the ring, then the ring's and the rest to the spill
	d.Buf.mu.Lock()
	ring := d.Buf.ring.Len()
	d.Buf.ring.AddLoss(lost, time.Now().UnixNano()) // what the full spill's ring dropped
	d.Buf.mu.Unlock()
	if st := d.Status(); ring != 0 || st.Spilled == 0 {
		t.Fatalf("ring %d, spill %d: the messages are not in the spill; the test does not test it", ring, st.Spilled)
	}
	srv.up(addr)
	waitFor(t, 3*wait, "every message delivered or reported", func() bool {
		ids, l10 := delivered(t, srv)
		return len(ids)+l10 == n+lost
	})
	ids, _ := delivered(t, srv)
	inOrder(t, ids, 0, n)
}

// TestSpillUnwritable: a drain whose spill directory cannot be made (a file
// is in the way) counts the error and drops as without a spill: nothing
// crashes, delivered + reported = sent.
func TestSpillUnwritable(t *testing.T) {
	srv := newCapServer(t, nil)
	dir := t.TempDir()
	id := httpNextID.Add(1)
	if err := os.WriteFile(filepath.Join(dir, strconv.FormatInt(id, 10)), []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	errs0 := spillErrors.Get()
	m, d := startSpill(t, spillOpts(dir, 0), id, httpURL(srv, "http", "/"), "disk")
	defer m.Close(context.Background())
	addr := srv.addr
	srv.down()
	const n = 1000
	pushRange(d, 0, n)
	if spillErrors.Get() == errs0 {
		t.Fatal("the spill error was not counted")
	}
	ids, l10 := recoverAndCount(t, srv, addr, d, n)
	if len(ids)+l10 != n+1 || l10 == 0 {
		t.Fatalf("delivered %d + L10 %d, want %d", len(ids), l10, n+1)
	}
}

// TestSpillDeletedDrain: deleting a drain that has a spill removes it and
// gives its bytes back to the node's budget, whether the update compares
// every drain (a full load) or handles what changed (a snapshot made from
// the last one); so does deleting its channel (the drain no longer runs).
func TestSpillDeletedDrain(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(m *Manager, id int64) *config.Snapshot
	}{
		{"full load", func(*Manager, int64) *config.Snapshot {
			return config.Build(map[string]config.Hash{config.ChannelKey("sp"): config.ChannelHash("sp", "")}, false, "2")
		}},
		{"drain deleted", func(m *Manager, id int64) *config.Snapshot {
			return m.applied.With([]config.Change{{Key: config.DrainKey(id)}}, "2")
		}},
		{"channel deleted", func(m *Manager, _ int64) *config.Snapshot {
			return m.applied.With([]config.Change{{Key: config.ChannelKey("sp")}}, "2")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, dir, id, m, d := spillHTTP(t, "disk")
			srv.down()
			pushRange(d, 0, 1000)
			waitFor(t, wait, "spill files", func() bool { return m.spill.budget.Used() > 0 })
			next := tc.next(m, id)
			if _, _, some := next.DrainChangesSince(m.applied); some == (tc.name == "full load") {
				t.Fatalf("the update handles what changed: %v", some)
			}
			m.Update(next)
			if m.Drain(id) != nil {
				t.Fatal("the drain still runs")
			}
			if _, err := os.Stat(filepath.Join(dir, strconv.FormatInt(id, 10))); !os.IsNotExist(err) {
				t.Fatalf("the deleted drain's spill is still there (%v)", err)
			}
			if u := m.spill.budget.Used(); u != 0 {
				t.Fatalf("budget still holds %d bytes", u)
			}
		})
	}
}

// TestSpillUntouchedWhileKeepingUp: a spilling drain whose endpoint keeps
// up never touches the disk (no directory, no writer).
func TestSpillUntouchedWhileKeepingUp(t *testing.T) {
	_, dir, _, _, d := spillHTTP(t, "disk")
	for i := 0; i < 200; i += 10 {
		pushRange(d, i, i+10)
		waitFor(t, wait, "delivery", func() bool { return d.Status().Delivered == uint64(i+10) })
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the spill directory has %v while the endpoint kept up", ents)
	}
}

// TestSpillEndpointFails: an endpoint that is up but answers 503 and 500
// for a while (frames fail and are retried) loses nothing either: a
// spilling drain keeps its frame until it is delivered.
func TestSpillEndpointFails(t *testing.T) {
	srv, _, _, _, d := spillHTTP(t, "disk")
	failing := 40
	srv.setRespond(func(*capReq) (int, time.Duration) {
		if failing > 0 {
			failing--
			return 503 - 3*(failing%2), 0
		}
		return 200, 0
	})
	const n = 2000
	pushRange(d, 0, n)
	waitFor(t, 3*wait, "every message delivered", func() bool { return settled(t, srv, d, n) })
	ids, l10 := delivered(t, srv)
	inOrder(t, ids, 0, n)
	if st := d.Status(); l10 != 0 || st.Dropped != 0 || st.Retries == 0 {
		t.Fatalf("L10 %d, status %+v: want retries and nothing lost", l10, st)
	}
}

// TestSpillSyslogOutage: a syslog drain with a 50-message ring delivers
// every message of an outage, in order and without an L10, once its
// endpoint is back.
func TestSpillSyslogOutage(t *testing.T) {
	e := newSLEndpoint(t, nil)
	dir := t.TempDir()
	id := httpNextID.Add(1)
	o := testOptions(Options{TCPBufferSize: 50, TCPBackoffBase: 5 * time.Millisecond, TCPBackoffMax: 50 * time.Millisecond,
		StopGrace: 200 * time.Millisecond, Spill: SpillOptions{Dir: dir}})
	m, d := startSpill(t, o, id, slURL("syslog", e), "disk")
	defer m.Close(context.Background())
	d.Buf.Push(slMsg(0), time.Now().UnixNano())
	slWaitFor(t, wait, "the first frame", func() bool { return len(e.Frames()) == 1 })
	e.stop()
	slWaitFor(t, wait, "the drain to see the close", func() bool { return d.Status().LastError != "" })
	const n = 2000
	for i := 1; i < n; i++ {
		d.Buf.Push(slMsg(i), time.Now().UnixNano())
	}
	if d.Status().Spilled == 0 {
		t.Fatal("nothing spilled")
	}
	e.start()
	slWaitFor(t, 3*wait, "every message", func() bool { return len(e.Frames()) >= n })
	frames := e.Frames()
	msgs, l10 := slCount(frames)
	if msgs != n || l10 != 0 {
		t.Fatalf("%d messages and L10 %d, want %d and none", msgs, l10, n)
	}
	for i, f := range frames {
		if f != slFrame(i) {
			t.Fatalf("frame %d is %q, want %q", i, f, slFrame(i))
		}
	}
}

// TestSpillSurvivesDrainChange: a spilling drain restarted by a change of
// its URL during the outage keeps its spill and its ring: the new run
// delivers every message, once, in order.
func TestSpillSurvivesDrainChange(t *testing.T) {
	srv := newCapServer(t, nil)
	dir := t.TempDir()
	id := httpNextID.Add(1)
	m, d := startSpill(t, spillOpts(dir, 0), id, httpURL(srv, "http", "/a"), "disk")
	defer m.Close(context.Background())
	addr := srv.addr
	srv.down()
	const n = 2000
	pushRange(d, 0, n)
	waitFor(t, wait, "a spill", func() bool { return d.Status().Spilled > 0 })
	m.Update(spillSnap(id, httpURL(srv, "http", "/b"), "disk"))
	d2 := m.Drain(id)
	if d2 == d {
		t.Fatal("the drain was not restarted")
	}
	srv.up(addr)
	waitFor(t, 3*wait, "every message delivered", func() bool { ids, _ := delivered(t, srv); return len(ids) >= n })
	ids, l10 := delivered(t, srv)
	inOrder(t, ids, 0, n)
	if l10 != 0 || d.Status().Dropped != 0 || d2.Status().Dropped != 0 {
		t.Fatalf("L10 %d, dropped %d + %d", l10, d.Status().Dropped, d2.Status().Dropped)
	}
}

// BenchmarkSpillCatchUp is the catch-up rate of one HTTP drain: 50 000
// messages spilled while its endpoint is down (a ring of 1 024), then a
// fast endpoint comes up on the same address; the clock runs from then
// until the last message is accepted (the reconnect backoff is 1 ms).
func BenchmarkSpillCatchUp(b *testing.B) {
	const n = 50000
	msgs := logLines(1000, 7)
	for i := 0; i < b.N; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		o := testOptions(Options{HTTPReconnectTime: time.Millisecond, HTTPMaxRetries: 1, StopGrace: time.Second, HTTPBatchWindow: 20 * time.Millisecond,
			Spill: SpillOptions{Dir: b.TempDir()}})
		id := httpNextID.Add(1)
		m := NewManager(o)
		m.Update(spillSnap(id, "http://"+addr+"/", "disk"))
		d := m.Drain(id)
		deadline := time.Now().Add(10 * time.Second)
		for j := 0; j < n; j += 100 {
			push(d, msgs[j%1000:j%1000+100]...)
			// at the pace of the writer: a loop pushing faster than the
			// disk takes would overflow the staging (dropped, L10)
			for d.Status().Buffered < j+100 || d.Buf.sp.staged() > 0 {
				if time.Now().After(deadline) {
					b.Fatalf("status %+v: not all %d buffered", d.Status(), j+100)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		var got atomic.Int64
		done := make(chan struct{})
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
			c, _ := strconv.Atoi(string(ctx.Request.Header.Peek("Logplex-Msg-Count")))
			if got.Add(int64(c)) == n {
				close(done)
			}
		}}
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		go srv.Serve(ln)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d delivered; status %+v", got.Load(), n, d.Status())
		}
		el := time.Since(start)
		b.ReportMetric(n/el.Seconds(), "msgs/s")
		srv.Shutdown()
		m.Close(context.Background())
	}
}

// TestSpillWriteFails: writes that fail after the spill was opened (its
// directory removed under it: the next segment cannot be created) lose
// their batch, counted and reported by L10 like an overflow without a
// spill; the drain goes on: delivered + reported = sent.
func TestSpillWriteFails(t *testing.T) {
	srv, dir, id, m, d := spillHTTP(t, "disk")
	addr := srv.addr
	srv.down()
	pushRange(d, 0, 500) // opens the spill
	srv.up(addr)
	waitFor(t, 3*wait, "the first 500", func() bool { ids, _ := delivered(t, srv); return len(ids) >= 500 })
	waitFor(t, wait, "the spill to empty", func() bool { return m.spill.budget.Used() == 0 })
	if err := os.RemoveAll(filepath.Join(dir, strconv.FormatInt(id, 10))); err != nil {
		t.Fatal(err)
	}
	lost0, errs0 := spillLost.Get(), spillErrors.Get()
	srv.down()
	const n = 2000
	pushRange(d, 500, n)
	waitFor(t, wait, "the failed write to be counted", func() bool { return spillErrors.Get() > errs0 && spillLost.Get() > lost0 })
	ids, l10 := recoverAndCount(t, srv, addr, d, n)
	if len(ids)+l10 != n+1 || l10 == 0 {
		t.Fatalf("delivered %d + L10 %d, want %d with some lost", len(ids), l10, n+1)
	}
	if st := d.Status(); st.Dropped != uint64(l10) {
		t.Fatalf("status dropped %d, L10 %d", st.Dropped, l10)
	}
}

// TestSpillRingKeepsLogplexSize: a drain that spills keeps at most
// spillRingCap messages in memory whatever the node's buffer size (what a
// killed process would lose before they reach the disk), also once a
// failure shrank its ring and a delivery restored it; a drain without a
// spill keeps the node's size.
func TestSpillRingKeepsLogplexSize(t *testing.T) {
	srv, dir := newCapServer(t, nil), t.TempDir()
	o := spillOpts(dir, 0)
	o.HTTPBufferSize = 8 * spillRingCap
	id := httpNextID.Add(2) - 2
	m, d := startSpill(t, o, id, httpURL(srv, "http", "/"), "disk")
	defer m.Close(context.Background())
	om := spillOpts(t.TempDir(), 0)
	om.HTTPBufferSize = o.HTTPBufferSize
	mm, mem := startSpill(t, om, id+1, httpURL(srv, "http", "/m"), "memory")
	defer mm.Close(context.Background())
	mem.Buf.With(func(r *ringbuf.Ring) {
		if r.Cap() != 8*spillRingCap {
			t.Errorf("a drain without a spill: ring of %d, want the node's %d", r.Cap(), 8*spillRingCap)
		}
	})
	addr := srv.addr
	srv.down()
	const n = 3 * spillRingCap
	pushRange(d, 0, n)
	waitFor(t, wait, "the ring's overflow spilled", func() bool { return d.Status().Spilled > 0 })
	d.Buf.With(func(r *ringbuf.Ring) {
		if r.Len() > spillRingCap {
			t.Errorf("%d messages in memory, want at most %d", r.Len(), spillRingCap)
		}
	})
	d.Buf.restore(0) // as a delivery after a shrink does
	d.Buf.With(func(r *ringbuf.Ring) {
		if r.Cap() != spillRingCap {
			t.Errorf("restored ring of %d, want %d", r.Cap(), spillRingCap)
		}
	})
	srv.up(addr)
	waitFor(t, 3*wait, "every message delivered", func() bool {
		ids, _ := delivered(t, srv)
		return len(ids) >= n
	})
	ids, l10 := delivered(t, srv)
	if l10 != 0 {
		t.Errorf("L10 for %d messages; want none", l10)
	}
	inOrder(t, ids, 0, n)
}

package drain

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

// changesManager runs n HTTP drains of channel "c" to url, ids base+1 to
// base+n, stopped when the test ends.
func changesManager(t *testing.T, o Options, n int, url string) (m *Manager, base int64) {
	t.Helper()
	base = httpNextID.Add(int64(n)) - int64(n)
	hashes := map[string]config.Hash{config.ChannelKey("c"): config.ChannelHash("c", "")}
	for i := int64(1); i <= int64(n); i++ {
		hashes[config.DrainKey(base+i)] = config.DrainHash(&config.Drain{ID: base + i, ChannelID: "c", Token: httpTestToken, URL: url})
	}
	m = NewManager(testOptions(o))
	m.Update(config.Build(hashes, false, "1"))
	t.Cleanup(func() { m.Close(context.Background()) })
	return m, base
}

// visited returns the ids EachChanged calls fn with, sorted, and their
// status as fn saw it.
func visited(m *Manager) ([]int64, map[int64]DrainStatus) {
	var ids []int64
	st := map[int64]DrainStatus{}
	m.EachChanged(func(d *Drain) {
		ids = append(ids, d.Config.ID)
		st[d.Config.ID] = d.Status()
	})
	slices.Sort(ids)
	return ids, st
}

// TestEachChangedOnlyChanged: of 2 000 drains, EachChanged looks at every
// one the first time, then only at those whose senders ran (and were not
// looked at since their run ended): after a push, and again after the
// idle close of their connection kicked them (Connected turned false while
// parked); drains left alone are never looked at again, nor are drains
// that are parked with nothing new.
func TestEachChangedOnlyChanged(t *testing.T) {
	ep := newFastEndpoint(t)
	const n = 2000
	m, base := changesManager(t, Options{HTTPIdleTimeout: time.Second, HTTPIdleFuzz: time.Millisecond}, n, "http://"+ep.addr+"/")
	if ids, _ := visited(m); len(ids) != n {
		t.Fatalf("first call: %d drains, want all %d", len(ids), n)
	}
	if ids, _ := visited(m); len(ids) != 0 {
		t.Fatalf("nothing happened, yet %d drains looked at", len(ids))
	}
	active := []int64{base + 7, base + 500, base + 1999}
	for i, id := range active {
		push(m.Drain(id), testMsg(i))
	}
	waitFor(t, 5*time.Second, "delivery", func() bool { return ep.msgs.Load() == int64(len(active)) })
	waitFor(t, 5*time.Second, "the senders parked on their open connections", func() bool {
		for _, id := range active {
			if d := m.Drain(id); !parked(d) || !d.Status().Connected {
				return false
			}
		}
		return true
	})
	ids, st := visited(m)
	if !slices.Equal(ids, active) {
		t.Fatalf("after a push to %v: looked at %v", active, ids)
	}
	for _, id := range active {
		if s := st[id]; s.Delivered != 1 || !s.Connected {
			t.Fatalf("drain %d looked at with status %+v, want delivered 1, connected", id, s)
		}
	}
	if ids, _ := visited(m); len(ids) != 0 {
		t.Fatalf("parked since, yet looked at %v", ids)
	}
	// The idle close: the drains' Connected turns false without a push.
	waitFor(t, 10*time.Second, "the idle close", func() bool {
		for _, id := range active {
			if d := m.Drain(id); d.Status().Connected || !parked(d) || !letGo(d) {
				return false
			}
		}
		return true
	})
	ids, st = visited(m)
	if !slices.Equal(ids, active) {
		t.Fatalf("after the idle close of %v: looked at %v", active, ids)
	}
	for _, id := range active {
		if st[id].Connected {
			t.Fatalf("drain %d looked at as still connected", id)
		}
	}
	if ids, _ := visited(m); len(ids) != 0 {
		t.Fatalf("idle since, yet looked at %v", ids)
	}
}

// TestEachChangedKeepsRunning: a drain whose sender keeps running (its
// endpoint refuses connections: it waits out a long backoff with messages
// buffered) is looked at every time, and sees the messages pushed since
// (a push into a running buffer marks nothing); a drain whose counters
// change without a run is looked at once; a stopped drain is not looked
// at.
func TestEachChangedKeepsRunning(t *testing.T) {
	m, base := changesManager(t, Options{HTTPReconnectTime: time.Hour, StopGrace: 50 * time.Millisecond}, 50, "http://127.0.0.1:9/")
	visited(m)
	d := m.Drain(base + 1)
	push(d, testMsg(0))
	waitFor(t, wait, "a failed connect", func() bool { return d.Status().LastError != "" })
	for round := 1; round <= 5; round++ {
		push(d, testMsg(round))
		ids, st := visited(m)
		if !slices.Equal(ids, []int64{base + 1}) {
			t.Fatalf("round %d: looked at %v, want only the backing-off %d", round, ids, base+1)
		}
		if st[base+1].Buffered != round+1 {
			t.Fatalf("round %d: status %+v, want %d buffered", round, st[base+1], round+1)
		}
	}
	m.Drain(base + 2).Stats.AddDropped(1) // no run: the count marks it
	if ids, _ := visited(m); !slices.Equal(ids, []int64{base + 1, base + 2}) {
		t.Fatalf("looked at %v, want %d (running) and %d (counted)", ids, base+1, base+2)
	}
	if ids, _ := visited(m); !slices.Equal(ids, []int64{base + 1}) {
		t.Fatalf("looked at %v, want %d (running) only", ids, base+1)
	}
	// Delete drain 1 (its channel keeps the others): it is not looked at
	// again.
	hashes := map[string]config.Hash{config.ChannelKey("c"): config.ChannelHash("c", "")}
	for i := int64(2); i <= 50; i++ {
		hashes[config.DrainKey(base+i)] = config.DrainHash(&config.Drain{ID: base + i, ChannelID: "c", Token: httpTestToken, URL: "http://127.0.0.1:9/"})
	}
	m.Update(config.Build(hashes, false, "2"))
	if ids, _ := visited(m); len(ids) != 0 {
		t.Fatalf("the deleted drain was looked at: %v", ids)
	}
}

// TestEachChangedNewDrain: a drain started after the first call is looked
// at once, and a restarted one (a new Drain for the same id) too.
func TestEachChangedNewDrain(t *testing.T) {
	m, base := changesManager(t, Options{StopGrace: 50 * time.Millisecond}, 3, "http://127.0.0.1:9/")
	visited(m)
	hashes := map[string]config.Hash{config.ChannelKey("c"): config.ChannelHash("c", "")}
	for i := int64(1); i <= 4; i++ {
		u := "http://127.0.0.1:9/"
		if i == 2 {
			u += "changed"
		}
		hashes[config.DrainKey(base+i)] = config.DrainHash(&config.Drain{ID: base + i, ChannelID: "c", Token: httpTestToken, URL: u})
	}
	old := m.Drain(base + 2)
	m.Update(config.Build(hashes, false, "2"))
	if m.Drain(base+2) == old {
		t.Fatal("drain 2 was not restarted")
	}
	if ids, _ := visited(m); !slices.Equal(ids, []int64{base + 2, base + 4}) {
		t.Fatalf("looked at %v, want the restarted %d and the new %d", ids, base+2, base+4)
	}
	if ids, _ := visited(m); len(ids) != 0 {
		t.Fatalf("looked at %v, want none", ids)
	}
}

// TestSpillSuccessorKicked: a spilling drain restarted while its endpoint
// is down, with its messages in its ring and in hand (its spill empty):
// the stopped drain's final flush stows them in the spill after the new
// drain started parked; the new drain is kicked, delivers them once the
// endpoint is back and is looked at by EachChanged, without another push.
func TestSpillSuccessorKicked(t *testing.T) {
	srv := newCapServer(t, nil)
	id := httpNextID.Add(1)
	m, d := startSpill(t, spillOpts(t.TempDir(), 0), id, httpURL(srv, "http", "/a"), "disk")
	defer m.Close(context.Background())
	addr := srv.addr
	srv.down()
	const n = 20 // within the ring: nothing spills before the restart
	pushRange(d, 0, n)
	waitFor(t, wait, "a failed try", func() bool { return d.Status().LastError != "" })
	if s := d.Status(); s.Spilled != 0 || s.Buffered != n {
		t.Fatalf("before the restart: %+v, want %d buffered, none spilled", s, n)
	}
	visited(m)
	m.Update(spillSnap(id, httpURL(srv, "http", "/b"), "disk"))
	d2 := m.Drain(id)
	if d2 == d {
		t.Fatal("the drain was not restarted")
	}
	visited(m) // the new drain, started
	srv.up(addr)
	waitFor(t, 3*wait, "every message delivered", func() bool { ids, _ := delivered(t, srv); return len(ids) >= n })
	ids, _ := delivered(t, srv)
	inOrder(t, ids, 0, n)
	waitFor(t, wait, "the new drain parked", func() bool { return parked(d2) })
	got, st := visited(m)
	if !slices.Equal(got, []int64{id}) || st[id].Delivered != n {
		t.Fatalf("looked at %v, status %+v; want %d with %d delivered", got, st[id], id, n)
	}
}

// TestEachChangedSenderParksDuringFn: a busy HTTP drain's sender keeps
// running on its open connection between requests; when its idle timer
// closes the connection while fn looks at the drain, and the sender parks
// (its connection's close changes Connected and no counter), the next call
// looks at it again: whether to keep a drain listed is decided before fn
// reads its status.
func TestEachChangedSenderParksDuringFn(t *testing.T) {
	ep := newFastEndpoint(t)
	m, base := changesManager(t, Options{HTTPIdleTimeout: time.Second, HTTPIdleFuzz: time.Millisecond}, 10, "http://"+ep.addr+"/")
	visited(m)
	d := m.Drain(base + 3)
	for i := range 2 { // two requests under busyGap apart: busy
		push(d, testMsg(i))
		waitFor(t, wait, "delivery", func() bool { return ep.msgs.Load() == int64(i+1) })
	}
	var seen []DrainStatus
	m.EachChanged(func(x *Drain) {
		if x != d {
			return
		}
		if parked(d) || !d.Status().Connected {
			t.Skip("the sender parked before the call: not the case under test")
		}
		seen = append(seen, d.Status())
		waitFor(t, 10*time.Second, "the idle close and the park", func() bool { return parked(d) && !d.Status().Connected })
	})
	if len(seen) != 1 || !seen[0].Connected {
		t.Fatalf("first look: %+v", seen)
	}
	ids, st := visited(m)
	if !slices.Equal(ids, []int64{base + 3}) || st[base+3].Connected {
		t.Fatalf("after the park: looked at %v (%+v), want %d, not connected", ids, st[base+3], base+3)
	}
}

package drain

import (
	"sync"
	"sync/atomic"
)

// Which drains the status reporter looks at (dataplane/status.go): those
// whose Status may have changed since it last looked, not every drain, so
// that an idle drain costs no CPU between two reports. A drain is marked
// (Drain.touch: a flag, and the manager's list when the flag was clear)
//
//   - when the manager starts it (its first report);
//   - when its sender starts a run (Drain.loop): a push into a parked
//     buffer, a kick by the idle close of its HTTP connection (which is
//     how Connected turns false while parked), a kick by its disk spill;
//   - when its counters change (Stats: delivered, dropped, retries,
//     bytes, last error), whoever changes them.
//
// EachChanged clears the flag before it looks, so a mark made while it
// looks is for the next call, and it keeps a drain whose sender is not
// parked on the list: a running sender changes the buffer, the frame in
// hand, the connection, the degraded flag and the spill (and the spill
// lag grows with time) without marking anything; a buffer does not park
// while its spill holds messages, so a drain catching up, or backing off
// with a spill, is looked at every time. What Status reports of a parked
// drain does not change without a mark: its buffer and spill are empty
// (Buffer.park), a push starts a run, its HTTP connection's close kicks it
// (Connected), and its sender (whose fillStatus adds Connected, Degraded
// and the frame in hand) does nothing until it runs. The one exception is
// a spill shared with the drain it replaced (a restart by a config
// change), which the stopped drain's final flush fills: Manager.Update
// kicks the new drain then (kickSuccessors).

// changeList is a Manager's list of drains that may have changed since the
// last EachChanged. It is off until the first EachChanged: a manager that
// nobody asks (no status board) keeps no list.
type changeList struct {
	on    atomic.Bool
	mu    sync.Mutex
	ds    []*Drain
	spare []*Drain // the slice the last EachChanged went through, for the next
}

// touch marks d as maybe changed for the next EachChanged; safe from any
// goroutine, and an atomic load when d is marked already (a running
// sender's counters).
func (d *Drain) touch() {
	c := d.changes
	if c == nil || d.touched.Load() || !c.on.Load() || !d.touched.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	c.ds = append(c.ds, d)
	c.mu.Unlock()
}

// EachChanged calls fn with each running drain whose Status may have
// changed since the last call (see above): the drains started since, those
// whose sender ran or whose counters changed since, and those whose sender
// was not parked at the last call. The first call visits every running
// drain (and starts the tracking). Drains stopped since are skipped. A
// change made while fn runs is seen by the next call. Calls must not
// overlap.
func (m *Manager) EachChanged(fn func(*Drain)) {
	c := &m.changes
	if !c.on.Load() {
		c.on.Store(true)
		m.Each(func(d *Drain) { d.touch() })
	}
	c.mu.Lock()
	ds := c.ds
	c.ds, c.spare = c.spare[:0], nil
	c.mu.Unlock()
	for _, d := range ds {
		if d.stopped.Load() {
			continue // its flag stays set: it is not listed again
		}
		// Clear, then look: a run or a count after this marks it again.
		// A sender that is not parked now may change what fn is about to
		// read after it has read it: listed again, fn looks next time
		// too. One parked now changed nothing after it parked.
		d.touched.Store(false)
		if d.Buf.running() {
			d.touch()
		}
		fn(d)
	}
	clear(ds) // no stopped drain is kept alive by the spare
	c.mu.Lock()
	c.spare = ds[:0]
	c.mu.Unlock()
}

// running reports whether the buffer's sender goroutine runs (neither
// parked nor stopped).
func (b *Buffer) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == senderRunning
}

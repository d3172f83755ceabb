package drain

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
)

// Manager keeps the running drains in line with the config snapshots it is
// given, and publishes the channel → drains Table for the router.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // serialises Update and Close
	running map[int64]*Drain
	// unstarted are the drains Update wanted but could not start (a URL
	// that does not parse, a TLS trust that does not load): each Update
	// tries them again, as a comparison of every drain would.
	unstarted map[int64]bool
	// applied is the snapshot of the last Update: the next one handles only
	// what changed since (config.Snapshot.DrainChangesSince) when it can.
	applied *config.Snapshot
	closed  bool
	table   atomic.Pointer[Table]
	spill   *nodeSpill // nil: no disk spill
	changes changeList // the drains that may have changed (EachChanged)
}

// NewManager returns a manager with no drains. A disk spill whose
// directory cannot be made is logged, counted and left off.
func NewManager(opts Options) *Manager {
	opts.setDefaults()
	setMaxSeriesDrains(opts.MaxDrainSeries)
	m := &Manager{opts: opts, log: opts.Logger.With("component", "drains"), running: map[int64]*Drain{}, unstarted: map[int64]bool{}}
	m.table.Store(&Table{})
	m.spill = newNodeSpill(opts.Spill, opts.Logger)
	return m
}

// ForChannel returns the channel's running drains; lock-free. The slice must
// not be modified.
func (m *Manager) ForChannel(id string) []*Drain { return m.table.Load().For(id) }

// Table returns the current channel → drains table; lock-free. A new table
// is published whenever the running drains change.
func (m *Manager) Table() *Table { return m.table.Load() }

// Drain returns the running drain with this id, or nil.
func (m *Manager) Drain(id int64) *Drain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[id]
}

// Each calls fn with every running drain.
func (m *Manager) Each(fn func(*Drain)) {
	m.mu.Lock()
	ds := make([]*Drain, 0, len(m.running))
	for _, d := range m.running {
		ds = append(ds, d)
	}
	m.mu.Unlock()
	for _, d := range ds {
		fn(d)
	}
}

// Update starts drains new in snap, restarts drains whose URL, compression or headers
// changed, and stops (flushing, bounded by the stop grace) drains that are
// gone. Drains whose URL does not parse or whose kind is not built are
// skipped and logged.
//
// A drain runs while it has a URL and its channel exists. When snap
// derives from the snapshot of the previous Update (DrainChangesSince),
// only the drains it changed, the drains of the channels it created or
// deleted, and the drains not started yet are looked at, and the table
// copies only what they touch; otherwise every drain is compared.
func (m *Manager) Update(snap *config.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || snap == nil {
		return
	}
	if ids, channels, ok := snap.DrainChangesSince(m.applied); ok {
		m.updateSome(snap, ids, channels)
	} else {
		m.updateAll(snap)
	}
	m.applied = snap
}

// want returns d's config when it should run in snap (it has a URL and
// its channel exists), or nil.
func want(snap *config.Snapshot, d *config.Drain) *config.Drain {
	if d == nil || d.URL == "" || snap.Channel(d.ChannelID) == nil {
		return nil
	}
	return d
}

// changed reports whether a drain running r must restart to run w.
func changed(r *Drain, w *config.Drain) bool {
	return w.URL != r.Config.URL || w.Compression != r.Config.Compression || w.Headers != r.Config.Headers ||
		w.ChannelID != r.Config.ChannelID || w.Buffer != r.Config.Buffer
}

// updateAll compares every drain of snap with the running ones and
// publishes a table built anew.
func (m *Manager) updateAll(snap *config.Snapshot) {
	wants := map[int64]*config.Drain{}
	snap.EachDrain(func(d *config.Drain) bool {
		if want(snap, d) != nil {
			wants[d.ID] = d
		}
		return true
	})
	var stopping []*Drain
	for id, r := range m.running {
		if w := wants[id]; w == nil || changed(r, w) {
			stopping = append(stopping, r)
			delete(m.running, id)
		}
	}
	clear(m.unstarted)
	for id, d := range wants {
		if m.running[id] == nil {
			if r := m.start(d); r != nil {
				m.running[id] = r
			} else {
				m.unstarted[id] = true
			}
		}
	}
	byChannel := map[string][]*Drain{}
	for _, d := range m.running {
		byChannel[d.Config.ChannelID] = append(byChannel[d.Config.ChannelID], d)
	}
	for _, ds := range byChannel {
		slices.SortFunc(ds, byID)
	}
	m.table.Store(NewTable(byChannel))
	m.stopAll(stopping, m.opts.StopGrace)
	m.spill.detach(stopping)
	m.kickSuccessors(stopping)
	m.spill.forget(func(id int64) bool { return wants[id] != nil }) // deleted drains lose their spill
}

// updateSome is updateAll for the drains that may have changed since the
// last Update: ids, the drains that name channels created or deleted (in
// snap: one that named such a channel before and no longer does is in ids)
// and the drains not started yet. Every other drain runs as it did, or
// stays unwanted, so the outcome is updateAll's
// (TestManagerUpdateSomeEqualsAll).
func (m *Manager) updateSome(snap *config.Snapshot, ids []int64, channels []string) {
	if len(ids) == 0 && len(channels) == 0 && len(m.unstarted) == 0 {
		return
	}
	look := slices.Clone(ids)
	for _, ch := range channels {
		for _, d := range snap.ChannelDrains(ch) {
			look = append(look, d.ID)
		}
	}
	for id := range m.unstarted {
		look = append(look, id)
	}
	slices.Sort(look)
	look = slices.Compact(look)
	edit := tableEdit{from: m.table.Load()}
	var stopping []*Drain
	var gone []int64
	for _, id := range look {
		w := want(snap, snap.Drain(id))
		if r := m.running[id]; r != nil && (w == nil || changed(r, w)) {
			stopping = append(stopping, r)
			delete(m.running, id)
			edit.remove(r)
		}
		delete(m.unstarted, id)
		switch {
		case w == nil:
			gone = append(gone, id)
		case m.running[id] == nil:
			if r := m.start(w); r != nil {
				m.running[id] = r
				edit.add(r)
			} else {
				m.unstarted[id] = true
			}
		}
	}
	m.table.Store(edit.table())
	m.stopAll(stopping, m.opts.StopGrace)
	m.spill.detach(stopping)
	m.kickSuccessors(stopping)
	// Only a drain looked at can have become unwanted: the spill of every
	// other one is as the last Update left it.
	m.spill.drop(gone)
}

// kickSuccessors starts the sender of each running drain that replaced
// one of the stopped drains (a restart) when their shared disk spill holds
// messages: the stopped drain's final flush stows its ring and its frame
// in hand there after its successor started, parked, so they are the
// successor's to deliver without waiting for a push (and its status
// changed: the run marks it for the status reporter).
func (m *Manager) kickSuccessors(stopped []*Drain) {
	if m.spill == nil {
		return
	}
	for _, r := range stopped {
		if d := m.running[r.Config.ID]; d != nil {
			m.spill.kick(d)
		}
	}
}

// stopAll stops drains in parallel, each flushing for at most grace.
func (m *Manager) stopAll(ds []*Drain, grace time.Duration) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); d.stop(grace) }()
	}
	wg.Wait()
}

// newSender makes d's sender (its first run does, on its goroutine); d.Buf
// and d.Stats are set already.
func newSender(o *Options, d *Drain) (sender, error) {
	switch d.URL.Kind {
	case config.DrainHTTP, config.DrainOTLP:
		return newHTTPSender(o, d)
	case config.DrainSyslogTCP, config.DrainSyslogTLS:
		return newSyslogSender(o, d)
	}
	return nil, fmt.Errorf("drain kind %q is not supported", d.URL.Scheme)
}

// checkSender reports, without making it, what would keep a sender of u
// from being made: an unsupported kind, a request URI that does not parse,
// a TLS trust that does not load (loaded once and cached).
func checkSender(o *Options, u *config.DrainURL) error {
	switch u.Kind {
	case config.DrainHTTP, config.DrainOTLP:
		if err := checkHTTPDrain(o, u); err != nil {
			return fmt.Errorf("http drain: %w", err)
		}
		return nil
	case config.DrainSyslogTCP:
		return nil
	case config.DrainSyslogTLS:
		_, _, err := newSyslogTLSConfig(o, u)
		return err
	}
	return fmt.Errorf("drain kind %q is not supported", u.Scheme)
}

// start sets a drain up parked: its buffer and counters only; the first
// message starts its sender.
func (m *Manager) start(cfg *config.Drain) *Drain {
	u, err := config.ParseDrainURL(cfg.URL)
	if err != nil {
		m.log.Warn("drain not started: invalid URL", "drain_id", cfg.ID, "err", err)
		return nil
	}
	if err := checkSender(&m.opts, u); err != nil {
		m.log.Warn("drain not started", "drain_id", cfg.ID, "err", err)
		return nil
	}
	d := &Drain{Config: cfg, URL: u, o: &m.opts, changes: &m.changes}
	size, form := m.opts.TCPBufferSize, FormCooked
	switch u.Kind {
	case config.DrainHTTP:
		size, form = m.opts.HTTPBufferSize, FormHTTP
	case config.DrainOTLP:
		size = m.opts.HTTPBufferSize
	}
	d.Buf = NewBuffer(size, form)
	d.Buf.bud = m.opts.bud
	d.Stats = newStats(cfg.ID, TypeName(u.Kind), d.Buf)
	d.Stats.owner = d
	m.spill.attach(d)
	d.begin(nil)
	m.spill.kick(d) // messages on disk from before start the sender
	d.touch()       // a new drain is reported once
	return d
}

// Close stops every drain, each flushing what it holds until ctx's deadline
// (the shutdown timeout; without a deadline, the stop grace), and returns
// when all have stopped. Whatever is still buffered then is counted as
// dropped by its sender. It returns the messages the drains neither
// delivered nor announced in an L10 notice (each such drain logs its own).
func (m *Manager) Close(ctx context.Context) (undelivered int64) {
	m.mu.Lock()
	m.closed = true
	ds := make([]*Drain, 0, len(m.running))
	for _, d := range m.running {
		ds = append(ds, d)
	}
	m.running = map[int64]*Drain{}
	m.applied = nil
	m.table.Store(&Table{})
	m.mu.Unlock()
	grace := m.opts.StopGrace
	if dl, ok := ctx.Deadline(); ok {
		grace = time.Until(dl)
	}
	m.stopAll(ds, max(grace, 0))
	m.spill.detach(ds)
	m.spill.close()
	for _, d := range ds {
		undelivered += d.unreported.Load()
	}
	return undelivered
}

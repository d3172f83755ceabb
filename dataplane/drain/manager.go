package drain

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
)

// Table maps a channel id to its running drains; it is immutable once
// published.
type Table map[string][]*Drain

// Manager keeps the running drains in line with the config snapshots it is
// given, and publishes the channel → drains Table for the router.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // serialises Update and Close
	running map[int64]*Drain
	closed  bool
	table   atomic.Pointer[Table]
	spill   *nodeSpill // nil: no disk spill
}

// NewManager returns a manager with no drains. A disk spill whose
// directory cannot be made is logged, counted and left off.
func NewManager(opts Options) *Manager {
	opts.setDefaults()
	setMaxSeriesDrains(opts.MaxDrainSeries)
	m := &Manager{opts: opts, log: opts.Logger.With("component", "drains"), running: map[int64]*Drain{}}
	m.table.Store(&Table{})
	m.spill = newNodeSpill(opts.Spill, opts.Logger)
	return m
}

// ForChannel returns the channel's running drains; lock-free. The slice must
// not be modified.
func (m *Manager) ForChannel(id string) []*Drain { return m.table.Load().For(id) }

// For returns the channel's drains in t (nil t: none). The slice must not be
// modified.
func (t *Table) For(id string) []*Drain {
	if t == nil {
		return nil
	}
	return (*t)[id]
}

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
func (m *Manager) Update(snap *config.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || snap == nil {
		return
	}
	want := map[int64]*config.Drain{}
	snap.EachDrain(func(d *config.Drain) bool {
		if d.URL != "" && snap.Channel(d.ChannelID) != nil {
			want[d.ID] = d
		}
		return true
	})
	var stopping []*Drain
	for id, r := range m.running {
		w := want[id]
		if w == nil || w.URL != r.Config.URL || w.Compression != r.Config.Compression || w.Headers != r.Config.Headers || w.ChannelID != r.Config.ChannelID ||
			w.Buffer != r.Config.Buffer {
			stopping = append(stopping, r)
			delete(m.running, id)
		}
	}
	for id, d := range want {
		if m.running[id] == nil {
			if r := m.start(d); r != nil {
				m.running[id] = r
			}
		}
	}
	m.publish()
	m.stopAll(stopping, m.opts.StopGrace)
	m.spill.detach(stopping)
	m.spill.forget(func(id int64) bool { return want[id] != nil }) // deleted drains lose their spill
}

func (m *Manager) publish() {
	t := Table{}
	for _, d := range m.running {
		t[d.Config.ChannelID] = append(t[d.Config.ChannelID], d)
	}
	for _, ds := range t {
		sort.Slice(ds, func(i, j int) bool { return ds[i].Config.ID < ds[j].Config.ID })
	}
	m.table.Store(&t)
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
	d := &Drain{Config: cfg, URL: u, o: &m.opts}
	size, form := m.opts.TCPBufferSize, FormCooked
	switch u.Kind {
	case config.DrainHTTP:
		size, form = m.opts.HTTPBufferSize, FormHTTP
	case config.DrainOTLP:
		size = m.opts.HTTPBufferSize
	}
	d.Buf = NewBuffer(size, form)
	d.Stats = newStats(cfg.ID, TypeName(u.Kind), d.Buf)
	m.spill.attach(d)
	d.begin(nil)
	m.spill.kick(d) // messages on disk from before start the sender
	return d
}

// Close stops every drain, each flushing what it holds until ctx's deadline
// (the shutdown timeout; without a deadline, the stop grace), and returns
// when all have stopped. Whatever is still buffered then is counted as
// dropped by its sender.
func (m *Manager) Close(ctx context.Context) {
	m.mu.Lock()
	m.closed = true
	ds := make([]*Drain, 0, len(m.running))
	for _, d := range m.running {
		ds = append(ds, d)
	}
	m.running = map[int64]*Drain{}
	m.table.Store(&Table{})
	m.mu.Unlock()
	grace := m.opts.StopGrace
	if dl, ok := ctx.Deadline(); ok {
		grace = time.Until(dl)
	}
	m.stopAll(ds, max(grace, 0))
	m.spill.detach(ds)
	m.spill.close()
}

package store

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// Watcher keeps an up-to-date immutable config snapshot: it loads the whole
// config, follows the change feed, reloads fully on a gap, on a feed error
// (after a backoff) and every resync interval. Readers call Current, which
// never locks.
type Watcher struct {
	st     ConfigStore
	resync time.Duration
	onSwap func(*config.Snapshot)

	cur     atomic.Pointer[config.Snapshot]
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every swap
	log     *slog.Logger
}

// NewWatcher returns a watcher over st. resync is the full-reload interval
// (0: 60 s). onSwap, if not nil, is called on the watcher's goroutine after
// every new snapshot is published.
func NewWatcher(st ConfigStore, resync time.Duration, onSwap func(*config.Snapshot)) *Watcher {
	if resync <= 0 {
		resync = 60 * time.Second
	}
	return &Watcher{st: st, resync: resync, onSwap: onSwap, changed: make(chan struct{}),
		log: slog.Default().With("component", "config-watch")}
}

// Current returns the newest snapshot, or nil before the first load.
func (w *Watcher) Current() *config.Snapshot { return w.cur.Load() }

// Ready reports whether the first snapshot has loaded.
func (w *Watcher) Ready() bool { return w.cur.Load() != nil }

func (w *Watcher) publish(s *config.Snapshot) {
	configSwaps.Inc()
	ms, _ := splitVersion(s.Version)
	configVersion.Store(ms)
	configPublished.Store(time.Now().UnixNano())
	w.cur.Store(s)
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	if w.onSwap != nil {
		w.onSwap(s)
	}
}

// Publish installs s as the current snapshot (used by a writer that knows its
// own change is applied, and by tests).
func (w *Watcher) Publish(s *config.Snapshot) { w.publish(s) }

// Changed returns a channel that is closed when the next snapshot is
// published; call Current after it fires.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// WaitVersion blocks until the current snapshot includes version v, or ctx ends.
func (w *Watcher) WaitVersion(ctx context.Context, v string) error {
	for {
		w.mu.Lock()
		ch := w.changed
		w.mu.Unlock()
		if s := w.cur.Load(); s != nil && CompareVersions(s.Version, v) >= 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run loads and follows until ctx ends. It never returns early on store
// errors: it keeps the last good snapshot and retries with backoff.
func (w *Watcher) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		snap, err := w.st.Load(ctx)
		if err != nil {
			loadErrors.Inc()
			if w.Current() == nil {
				w.log.Warn("config store unreachable and no config loaded yet: retrying; APIs answer 503 SYSTEM BOOTING until it loads", "err", err, "retry_in", backoff)
			} else {
				w.log.Warn("config load failed; keeping the last snapshot", "err", err, "retry_in", backoff)
			}
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		configFullLoads.Inc()
		w.publish(snap)
		err = w.follow(ctx, snap)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if !errors.Is(err, ErrGap) {
				loadErrors.Inc()
				w.log.Warn("config feed failed; reloading", "err", err)
				sleepCtx(ctx, backoff)
			}
		}
	}
}

// follow applies feed batches until the resync deadline, a gap or an error.
func (w *Watcher) follow(ctx context.Context, snap *config.Snapshot) error {
	jitter := time.Duration(rand.Int64N(int64(w.resync/10) + 1))
	fctx, cancel := context.WithTimeout(ctx, w.resync+jitter)
	defer cancel()
	cur := snap
	return w.st.Follow(fctx, snap.Version, func(changes []config.Change, version string) {
		cur = cur.With(changes, version)
		w.publish(cur)
	})
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Config sync metrics: failed loads and feed errors, full loads, and
// snapshots published (one per full load or feed batch).
var (
	loadErrors      = metrics.NewCounter(`logplex_config_load_errors_total`)
	configSwaps     = metrics.NewCounter(`logplex_config_snapshots_total`)
	configFullLoads = metrics.NewCounter(`logplex_config_full_loads_total`)
	// the change-feed position of the newest snapshot ("<ms>-<seq>": its ms
	// part, a Redis stream time; the embedded store counts), and when it
	// was published
	configVersion   atomic.Uint64
	configPublished atomic.Int64
	_               = metrics.NewGauge(`logplex_config_version`, func() float64 { return float64(configVersion.Load()) })
	_               = metrics.NewGauge(`logplex_config_last_snapshot_timestamp_seconds`, func() float64 {
		return float64(configPublished.Load()) / 1e9
	})
)

// LoadErrors returns the number of failed config loads and feed errors so far.
func LoadErrors() int64 { return int64(loadErrors.Get()) }

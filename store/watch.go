package store

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// Watcher keeps an up-to-date immutable config snapshot: it loads the whole
// config, follows the change feed, and reloads fully on a gap and on a feed
// error (after a backoff). Readers call Current, which never locks.
//
// Every resync interval it checks that it missed nothing: the store's epoch
// and acceptance are those of the adopted config (one GET each), and the
// store vouches that Follow delivered every writer's change since the last
// full load (ResyncChecker). Only when either fails, or when the store
// cannot vouch at all, or once the full-resync interval has passed since
// the last full load (SetFullResync), does it reload fully: an idle resync
// costs a few commands, not a read of the whole config.
//
// Every full load after the first passes the guard (Guard) before it is
// adopted: a config that lost its epoch, changed epoch, or shrank by more
// than Guard.Shrink at once is refused, the last good snapshot stays, and
// Refused says why until the store holds a config the guard accepts or an
// operator accepts the new one (EpochStore.Accept).
type Watcher struct {
	st         ConfigStore
	resync     time.Duration
	fullResync time.Duration
	onSwap     func(*config.Snapshot)
	guard      Guard

	cur     atomic.Pointer[config.Snapshot]
	refused atomic.Pointer[Refusal]
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every swap
	log     *slog.Logger

	// the guard's memory, on Run's goroutine only: the epoch of the
	// adopted config and the acceptance seen when it was adopted
	epoch, acceptSeen string
}

// NewWatcher returns a watcher over st. resync is the resync interval (0:
// 60 s): how often it checks that it missed nothing, and, until
// SetFullResync says otherwise, reloads fully. onSwap, if not nil, is
// called on the watcher's goroutine after every new snapshot is published.
func NewWatcher(st ConfigStore, resync time.Duration, onSwap func(*config.Snapshot)) *Watcher {
	if resync <= 0 {
		resync = 60 * time.Second
	}
	return &Watcher{st: st, resync: resync, fullResync: resync, onSwap: onSwap, changed: make(chan struct{}),
		log: slog.Default().With("component", "config-watch")}
}

// SetFullResync sets the longest time between full reloads while the store
// vouches at every resync tick that nothing was missed (ResyncChecker); a
// value up to the resync interval reloads fully at every tick (the
// default). Call it before Run.
func (w *Watcher) SetFullResync(d time.Duration) { w.fullResync = max(d, w.resync) }

// SetGuard sets the guard's settings; call it before Run.
func (w *Watcher) SetGuard(g Guard) { w.guard = g }

// Refused returns why the newest full load was refused, or nil when the
// current snapshot is the store's.
func (w *Watcher) Refused() *Refusal { return w.refused.Load() }

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
	defer func() {
		if w.refused.Swap(nil) != nil {
			refusingNow.Add(-1)
		}
	}()
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
		ep, err := w.loadEpoch(ctx)
		if err != nil {
			loadErrors.Inc()
			w.log.Warn("config epoch not read; keeping the last snapshot", "err", err, "retry_in", backoff)
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		configFullLoads.Inc()
		r := w.check(snap, ep)
		if r != nil && r.shrink {
			// the load may hold deletes the feed has not brought yet:
			// judge the shrink against the snapshot caught up through them
			r = w.catchUp(ctx, snap, ep)
		}
		if r != nil {
			w.refuse(r)
			w.waitRefused(ctx, ep)
			continue
		}
		snap = w.forward(ctx, snap)
		w.adopt(ctx, snap, ep)
		w.followChecked(ctx, snap, backoff)
	}
}

// forward brings a full load up through the feed to the published
// snapshot's version when the load's is behind it, without publishing
// (at most catchUpWithin). A load's version is the feed's last id noted
// before its scan, and the watcher may have followed later entries (or a
// catch-up applied them) since: published as it is, the load would step
// back, and a write an API request had waited for would vanish from this
// node until the feed brought it again. On a gap or a timeout the load
// goes as it is; the feed follows from its version either way.
func (w *Watcher) forward(ctx context.Context, snap *config.Snapshot) *config.Snapshot {
	cur := w.cur.Load()
	if cur == nil || snap.Version == "" || CompareVersions(snap.Version, cur.Version) >= 0 {
		return snap
	}
	target := cur.Version
	fctx, cancel := context.WithTimeout(ctx, catchUpWithin)
	defer cancel()
	_ = w.st.Follow(fctx, snap.Version, func(changes []config.Change, version string) {
		snap = snap.With(changes, version)
		if CompareVersions(version, target) >= 0 {
			cancel()
		}
	})
	return snap
}

// followChecked follows the feed from snap, resync tick after resync tick,
// and returns when a full load is due: on a gap, on a feed error (after
// backoff), once the full-resync interval has passed, or at a tick where
// the watcher cannot tell that it missed nothing (missed).
func (w *Watcher) followChecked(ctx context.Context, snap *config.Snapshot, backoff time.Duration) {
	loaded := time.Now()
	cur := snap
	for {
		var tick bool
		var err error
		cur, tick, err = w.follow(ctx, cur)
		if !tick {
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !errors.Is(err, ErrGap) {
				loadErrors.Inc()
				w.log.Warn("config feed failed; reloading", "err", err)
				sleepCtx(ctx, backoff)
			}
			return
		}
		if time.Since(loaded) >= w.fullResync {
			return
		}
		cpu := processCPUSeconds()
		why := w.missed(ctx)
		resyncCheckCPU.Add(processCPUSeconds() - cpu)
		if why != "" {
			w.log.Debug("full config reload", "why", why)
			return
		}
		resyncSkipped.Inc()
		configPublished.Store(time.Now().UnixNano()) // confirmed current
	}
}

// follow applies feed batches to cur until the resync tick, a gap or an
// error, and returns the newest snapshot and whether the tick ended it.
func (w *Watcher) follow(ctx context.Context, cur *config.Snapshot) (*config.Snapshot, bool, error) {
	jitter := time.Duration(rand.Int64N(int64(w.resync/10) + 1))
	fctx, cancel := context.WithTimeout(ctx, w.resync+jitter)
	defer cancel()
	err := w.st.Follow(fctx, cur.Version, w.applier(ctx, &cur))
	return cur, ctx.Err() == nil && fctx.Err() != nil, err
}

// applier returns the feed callback that applies each batch to *cur and
// publishes the result (follow's and catchUp's).
func (w *Watcher) applier(ctx context.Context, cur **config.Snapshot) func([]config.Change, string) {
	timed, _ := w.st.(TimedFeed)
	return func(changes []config.Change, version string) {
		fresh := version != (*cur).Version // another writer's batch carries the version before it
		*cur = (*cur).With(changes, version)
		w.learnEpoch(ctx)
		w.publish(*cur)
		if timed != nil && fresh {
			if at, ok := timed.FeedTime(version); ok {
				changeDelay.Update(max(time.Since(at), 0).Seconds())
			}
		}
	}
}

// catchUp applies feed batches to the current snapshot until the guard
// no longer refuses snap (a full load's, refused for a shrink) or
// catchUpWithin has passed, and returns the guard's verdict then. A full
// load that read the store after an API delete the feed has not brought
// yet would otherwise look to the guard as if it lost what the delete
// removed: on a config of a few entities, more than the shrink it allows.
// The load's version does not tell whether it holds such a delete: it is
// the feed's last id noted before the scan, and a write that lands
// between the two (on a Redis Cluster its feed entry even follows its key
// writes) is in the scan but after that version.
func (w *Watcher) catchUp(ctx context.Context, snap *config.Snapshot, ep Epoch) *Refusal {
	cur := w.cur.Load()
	fctx, cancel := context.WithTimeout(ctx, catchUpWithin)
	defer cancel()
	apply := w.applier(ctx, &cur)
	r := w.check(snap, ep)
	_ = w.st.Follow(fctx, cur.Version, func(changes []config.Change, version string) {
		apply(changes, version)
		if r = w.check(snap, ep); r == nil {
			cancel()
		}
	})
	return r
}

// catchUpWithin bounds catchUp: the feed normally brings a write within
// milliseconds.
const catchUpWithin = 2 * time.Second

// ResyncChecker is a ConfigStore that can tell, at a resync tick, whether
// Follow may have missed a change since the newest Load (a writer that
// leaves no feed entry and was not otherwise reported, events lost). While
// it vouches for Follow, the watcher skips the periodic full reload up to
// the full-resync interval.
type ResyncChecker interface {
	// FollowMissed returns why Follow may have missed a change made by
	// any writer since the newest Load, or "" when it cannot have: every
	// such change was delivered, or will be by a Follow continued from
	// the version it delivered last.
	FollowMissed(ctx context.Context) (reason string)
}

// missed returns why the watcher must reload fully at a resync tick, or
// "": the store's epoch and acceptance are still the adopted config's (a
// Redis emptied without a restart has none: FLUSHALL reports no key), and
// the store vouches for Follow.
func (w *Watcher) missed(ctx context.Context) string {
	rc, ok := w.st.(ResyncChecker)
	if !ok {
		return "the store cannot tell whether changes were missed"
	}
	if _, ok := w.st.(EpochStore); ok {
		ep, err := w.loadEpoch(ctx)
		switch {
		case err != nil:
			return "config epoch not read: " + err.Error()
		case ep != Epoch{ID: w.epoch, Accepted: w.acceptSeen}:
			return fmt.Sprintf("config epoch %q (acceptance %q) is not the adopted %q (%q)", ep.ID, ep.Accepted, w.epoch, w.acceptSeen)
		case !w.guard.Off && ep.ID == "" && Entities(w.Current()) > 0:
			return "the config has no epoch yet" // the full load's adopt writes it
		}
	}
	return rc.FollowMissed(ctx)
}

// processCPUSeconds is the CPU time (user and system) this process has
// used so far; 0 if the kernel does not say.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
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
	loadErrors  = metrics.NewCounter(`logplex_config_load_errors_total`)
	configSwaps = metrics.NewCounter(`logplex_config_snapshots_total`)
	// from a feed entry's write (its version's time, TimedFeed) to the
	// snapshot holding it published: how long a change takes to reach
	// routing on this node
	changeDelay = metrics.NewPrometheusHistogramExt(`logplex_config_change_delay_seconds`,
		[]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
	configFullLoads = metrics.NewCounter(`logplex_config_full_loads_total`)
	// resync ticks at which nothing could have been missed: no full load
	resyncSkipped = metrics.NewCounter(`logplex_config_resyncs_skipped_total`)
	// the process's CPU time while resync checks ran (missed): what a
	// resync costs when nothing changed, with whatever else ran meanwhile
	resyncCheckCPU = metrics.NewFloatCounter(`logplex_config_resync_check_cpu_seconds_total`)
	// the change-feed position of the newest snapshot ("<ms>-<seq>": its ms
	// part, a Redis stream time; the embedded store counts), and when it
	// was published or a resync check confirmed it current
	configVersion   atomic.Uint64
	configPublished atomic.Int64
	_               = metrics.NewGauge(`logplex_config_version`, func() float64 { return float64(configVersion.Load()) })
	_               = metrics.NewGauge(`logplex_config_last_snapshot_timestamp_seconds`, func() float64 {
		return float64(configPublished.Load()) / 1e9
	})
	// the guard: full loads refused, and 1 while this process keeps a
	// snapshot the store no longer holds (any watcher of the process)
	configRefused = metrics.NewCounter(`logplex_config_refused_total`)
	refusingNow   atomic.Int64
	_             = metrics.NewGauge(`logplex_config_refused`, func() float64 { return float64(min(refusingNow.Load(), 1)) })
)

// FullLoads returns the number of full config loads so far (adopted or refused).
func FullLoads() int64 { return int64(configFullLoads.Get()) }

// ResyncsSkipped returns the number of resync ticks so far that found
// nothing missed and skipped the full load.
func ResyncsSkipped() int64 { return int64(resyncSkipped.Get()) }

// ResyncCheckCPUSeconds returns the process CPU time used while resync
// checks ran, so far.
func ResyncCheckCPUSeconds() float64 { return resyncCheckCPU.Get() }

// RefusedLoads returns the number of full loads the guard refused so far.
func RefusedLoads() int64 { return int64(configRefused.Get()) }

// LoadErrors returns the number of failed config loads and feed errors so far.
func LoadErrors() int64 { return int64(loadErrors.Get()) }

// The guard against adopting a config that lost everything.
//
// A config store that implements EpochStore holds an epoch: a random id
// written with the config's first write (or, for a config written by
// Logplex, which has none, by the first watcher that loads it non-empty).
// A Redis restarted empty, or pointed at the wrong volume, has no epoch or
// another one, and its snapshot is refused. A snapshot that shrank by more
// than Guard.Shrink at once is refused too (a partial restore, FLUSHALL and
// a partial reload: writes no change reported). Changes that arrive on the
// feed (API writes, and other writers' HMSET/DEL the store reports, e.g.
// by keyspace notifications) are never refused; only full loads are
// checked, and never the first one (a booting process has nothing to
// compare with).

// EpochStore is a ConfigStore that keeps an epoch and operators'
// acceptances (redisstore).
type EpochStore interface {
	// Epoch returns the store's epoch and its latest acceptance; an
	// absent key reads as "".
	Epoch(ctx context.Context) (Epoch, error)
	// EnsureEpoch writes id as the epoch unless the store has one, and
	// returns the epoch in force.
	EnsureEpoch(ctx context.Context, id string) (string, error)
	// Accept records an operator's acceptance of the store's config as it
	// is now (creating an epoch if it has none) and returns it.
	Accept(ctx context.Context) (Epoch, error)
}

// Epoch is a config store's identity and latest acceptance.
type Epoch struct {
	// ID is the epoch, "" when the store has none.
	ID string
	// Accepted is the latest acceptance, "<epoch> <time>", or "".
	Accepted string
}

// NewEpochID returns a fresh random epoch id (32 hex digits).
func NewEpochID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// Acceptance is the value Accept stores for epoch id at time t.
func Acceptance(id string, t time.Time) string { return id + " " + t.UTC().Format(time.RFC3339Nano) }

// Guard configures the watcher's refusal of configs that lost everything.
// The zero value is the default: on, 50 %.
type Guard struct {
	// Off adopts every snapshot (no epoch or shrink check).
	Off bool
	// Shrink is the fraction (0..1) of entities (channels, tokens, drains,
	// credentials) a full load may lose at once; more is refused. 0 means
	// the default 0.5; negative or 1 and more turn the shrink check off.
	Shrink float64
}

func (g Guard) shrink() float64 {
	if g.Shrink == 0 {
		return 0.5
	}
	return g.Shrink
}

// Refusal says why a loaded config was refused.
type Refusal struct {
	Reason string
	Since  time.Time
	// Have and Got count entities in the kept snapshot and the refused one.
	Have, Got int
	shrink    bool // refused for the shrink alone (the epoch holds)
}

// refusedHint is what the operator can do about a refusal.
const refusedHint = "run `logplex config accept` to adopt it, or restore the config store"

// loadEpoch reads the store's epoch; stores without one have none. It is
// read with the guard off too: a resync tick compares it (missed).
func (w *Watcher) loadEpoch(ctx context.Context) (Epoch, error) {
	es, ok := w.st.(EpochStore)
	if !ok {
		return Epoch{}, nil
	}
	return es.Epoch(ctx)
}

// check returns why snap (with the epoch ep read after it) must be refused,
// or nil to adopt it.
func (w *Watcher) check(snap *config.Snapshot, ep Epoch) *Refusal {
	cur := w.cur.Load()
	if cur == nil || w.guard.Off {
		return nil
	}
	if ep.Accepted != "" && ep.Accepted != w.acceptSeen {
		if id, _, _ := strings.Cut(ep.Accepted, " "); id == ep.ID {
			w.log.Warn("config accepted by an operator", "epoch", ep.ID, "acceptance", ep.Accepted)
			return nil
		}
	}
	have, got := Entities(cur), Entities(snap)
	r := &Refusal{Since: time.Now(), Have: have, Got: got}
	switch {
	case w.epoch != "" && ep.ID == "":
		r.Reason = fmt.Sprintf("the config store lost its epoch %s (emptied or replaced?): %d entities, we have %d", w.epoch, got, have)
	case w.epoch != "" && ep.ID != w.epoch:
		r.Reason = fmt.Sprintf("the config store's epoch changed from %s to %s (recreated or another cluster's?): %d entities, we have %d", w.epoch, ep.ID, got, have)
	case shrank(have, got, w.guard.shrink()):
		r.Reason = fmt.Sprintf("the config shrank from %d to %d entities at once (more than %.0f%%)", have, got, 100*w.guard.shrink())
		r.shrink = true
	default:
		return nil
	}
	return r
}

func shrank(have, got int, limit float64) bool {
	return limit > 0 && limit < 1 && have > got && float64(have-got) > limit*float64(have)
}

// Entities counts a snapshot's channels, tokens, drains and credentials.
func Entities(s *config.Snapshot) int {
	n := s.NumChannels() + s.NumTokens() + s.NumDrains()
	s.EachCred(func(*config.Cred) bool { n++; return true })
	return n
}

// refuse records a refusal (logging it once per reason).
func (w *Watcher) refuse(r *Refusal) {
	configRefused.Inc()
	prev := w.refused.Load()
	if prev == nil {
		refusingNow.Add(1)
	}
	if prev != nil && prev.Reason == r.Reason {
		r.Since = prev.Since
	} else {
		w.log.Error("config refused; keeping the last good snapshot: "+refusedHint,
			"reason", r.Reason, "have", r.Have, "got", r.Got)
	}
	w.refused.Store(r)
}

// waitRefused returns when the store's epoch or acceptance differs from ep
// (checked every second), after the resync interval, or when ctx ends.
func (w *Watcher) waitRefused(ctx context.Context, ep Epoch) {
	deadline := time.Now().Add(w.resync)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		sleepCtx(ctx, refusedPoll)
		now, err := w.loadEpoch(ctx)
		if err == nil && now != ep {
			return
		}
	}
}

// learnEpoch reads the epoch the first config write gave an empty store
// the watcher adopted without one (one GET per feed batch until it has it).
func (w *Watcher) learnEpoch(ctx context.Context) {
	if w.epoch != "" || w.guard.Off {
		return
	}
	if ep, err := w.loadEpoch(ctx); err == nil {
		w.epoch = ep.ID
	}
}

// refusedPoll is how often a refusing watcher looks for an acceptance.
const refusedPoll = time.Second

// adopt publishes snap and remembers its epoch, creating one for a
// non-empty config that has none (a config written by Logplex).
func (w *Watcher) adopt(ctx context.Context, snap *config.Snapshot, ep Epoch) {
	if es, ok := w.st.(EpochStore); ok && !w.guard.Off && ep.ID == "" && Entities(snap) > 0 {
		id, err := es.EnsureEpoch(ctx, NewEpochID())
		if err != nil {
			w.log.Warn("config epoch not written; will retry on the next load", "err", err)
		}
		ep.ID = id
	}
	w.epoch, w.acceptSeen = ep.ID, ep.Accepted
	if w.refused.Swap(nil) != nil {
		refusingNow.Add(-1)
		w.log.Warn("config adopted; the refusal is over", "epoch", ep.ID, "entities", Entities(snap))
	}
	w.publish(snap)
}

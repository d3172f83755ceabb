// Package embedded implements the store interfaces in one process, for
// `logplex all` on a laptop: config hashes in memory, persisted under the
// data directory as a snapshot and an append-only log of the writes since
// (persist.go: one fsynced record per write, compacted as it grows), a
// change log in memory for Follow, sessions with TTLs, per-channel history as a
// bounded in-memory ring, and the tail bus in process (bus.go; tail
// registrations stay in memory, tails.go). Not clustered.
//
// embedded imports config, store, ringbuf and the standard library only.
package embedded

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// maxLog is how many changes the in-memory feed keeps for followers; a
// follower further behind gets store.ErrGap and reloads.
const maxLog = 10000

type logEntry struct {
	seq     uint64
	changes []config.Change
}

// Config is the embedded ConfigStore. Several processes may share one data
// directory (a running `logplex all` and `logplex cred`): every write first
// applies the other processes' records under an exclusive flock, and a
// running store notices their writes within pollEvery and hands them to its
// followers as ordinary changes.
type Config struct {
	path     string // config.json; "" = not persisted
	lockPath string
	pos      logPos // how far config.log is applied
	snapSize int64  // bytes of config.json at the last compaction
	// compactAfter is the log size a compaction waits for after one failed
	compactAfter int64

	mu       sync.Mutex
	hashes   map[string]config.Hash
	counters map[string]int64
	rodBit   bool
	seq      uint64
	log      []logEntry // oldest first, at most maxLog entries
	wake     chan struct{}
	sessions map[string]session
	tails    map[string]tailReg               // tail registrations: memory only (tails.go)
	status   map[int64]map[string]statusEntry // drain id → node → status (StatusBoard)
	alive    map[string]time.Time             // node → alive until (StatusBoard)

	frameMu sync.Mutex
	frames  frameIDs // FrameDeduper
}

type session struct {
	body    []byte
	expires time.Time
}

// persisted is the file format of config.json.
type persisted struct {
	Hashes   map[string]config.Hash `json:"hashes"`
	Counters map[string]int64       `json:"counters"`
	ReadOnly bool                   `json:"read_only,omitempty"`
}

// OpenConfig opens (or creates) the config store in dir. dir "" keeps config
// in memory only.
func OpenConfig(dir string) (*Config, error) {
	c := &Config{hashes: map[string]config.Hash{}, counters: map[string]int64{},
		wake: make(chan struct{}), sessions: map[string]session{}, tails: map[string]tailReg{}}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data dir: %w", err)
	}
	c.path = filepath.Join(dir, "config.json")
	c.lockPath = filepath.Join(dir, "config.lock")
	err := c.withFlock(syscall.LOCK_EX, func() error {
		p, pos, err := c.loadAll(true)
		if err != nil {
			return err
		}
		c.install(p, pos)
		_, c.snapSize, err = fileIno(c.path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// pollEvery is how often a following store looks for changes other
// processes made to the file.
const pollEvery = 500 * time.Millisecond

// install replaces the in-memory config with p (loadAll's, so its maps are
// not nil), keeping the counters that are not persisted; the caller holds mu
// (or is the constructor).
func (c *Config) install(p persisted, pos logPos) {
	for k, v := range c.counters {
		if !persistCounter(k) {
			p.Counters[k] = v
		}
	}
	c.hashes, c.counters, c.rodBit, c.pos = p.Hashes, p.Counters, p.ReadOnly, pos
}

// persistCounter reports whether counter key is persisted: every counter
// but the legacy health check's, which a load balancer increments every few
// seconds and nothing reads back (a read must not cost a disk write).
func persistCounter(key string) bool { return key != "healthcheck" }

// refresh takes in what other processes wrote since this one last looked,
// appending it to the change log for followers; the caller holds mu, and
// the exclusive lock when locked is true.
func (c *Config) refresh(locked bool) error {
	if c.path == "" {
		return nil
	}
	ino, size, err := fileIno(c.logPath())
	if err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	switch {
	case ino == c.pos.ino && size == c.pos.off:
		return nil
	case ino == c.pos.ino && size > c.pos.off: // appended
		var changes []config.Change
		pos, bad, err := c.readLog(c.pos, func(rec record) { changes = append(changes, c.applyRecord(rec)...) })
		c.pos = pos
		if len(changes) > 0 {
			c.appendLog(changes)
		}
		if err == nil && bad >= 0 && locked { // torn by a process that died in its append
			err = c.cutTornTail(bad)
		}
		return err
	}
	// Compacted by another process: load both files again (under the lock,
	// so that no compaction runs between reading one and the other) and hand
	// followers the difference.
	reload := func() error {
		p, pos, err := c.loadAll(locked)
		if err != nil {
			return err
		}
		changes := diff(c.hashes, p.Hashes)
		if p.ReadOnly != c.rodBit {
			changes = append(changes, config.Change{Key: config.ControlRodKey, Fields: rodHash(p.ReadOnly)})
		}
		c.install(p, pos)
		if len(changes) > 0 {
			c.appendLog(changes)
		}
		return nil
	}
	if locked {
		return reload()
	}
	return c.withFlock(syscall.LOCK_SH, reload)
}

// applyRecord applies another process's record to memory and returns it as
// changes for followers; the caller holds mu.
func (c *Config) applyRecord(rec record) []config.Change {
	p := persisted{Hashes: c.hashes, Counters: c.counters, ReadOnly: c.rodBit}
	applyRecord(&p, rec)
	changes := make([]config.Change, 0, len(rec.Changes)+1)
	for _, ch := range rec.Changes {
		changes = append(changes, config.Change{Key: ch.Key, Fields: p.Hashes[ch.Key]}) // whole, after a merge too
	}
	if rec.ReadOnly != nil && *rec.ReadOnly != c.rodBit {
		changes = append(changes, config.Change{Key: config.ControlRodKey, Fields: rodHash(*rec.ReadOnly)})
	}
	c.rodBit = p.ReadOnly
	return changes
}

// recordOf is the log record of changes (tail registrations are not
// persisted: tails.go).
func recordOf(changes []config.Change) record {
	var rec record
	for _, ch := range changes {
		switch {
		case isTailKey(ch.Key):
		case ch.Key == config.ControlRodKey:
			on := ch.Fields["0"] == "1"
			rec.ReadOnly = &on
		case ch.Fields == nil:
			rec.Changes = append(rec.Changes, logChange{Key: ch.Key, Del: true})
		default:
			rec.Changes = append(rec.Changes, logChange{Key: ch.Key, Fields: ch.Fields, Merge: ch.Merge})
		}
	}
	return rec
}

func (c *Config) persistedCounters() map[string]int64 {
	out := make(map[string]int64, len(c.counters))
	for k, v := range c.counters {
		if persistCounter(k) {
			out[k] = v
		}
	}
	return out
}

func rodHash(on bool) config.Hash {
	if on {
		return config.Hash{"0": "1"}
	}
	return config.Hash{"0": "0"}
}

// diff returns the changes that turn old into new.
func diff(old, new map[string]config.Hash) []config.Change {
	var out []config.Change
	for k, h := range new {
		if o, ok := old[k]; !ok || !maps.Equal(o, h) {
			out = append(out, config.Change{Key: k, Fields: h})
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out = append(out, config.Change{Key: k})
		}
	}
	return out
}

// locked runs fn holding mu and, when persisted, an exclusive flock on the
// data directory's lock file, after taking in other processes' changes.
func (c *Config) locked(fn func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" {
		return fn()
	}
	return c.withFlock(syscall.LOCK_EX, func() error {
		if err := c.refresh(true); err != nil {
			return err
		}
		return fn()
	})
}

// withFlock runs fn holding a flock (LOCK_EX or LOCK_SH) on the data
// directory's lock file.
func (c *Config) withFlock(how int, fn func() error) error {
	f, err := os.OpenFile(c.lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		return fmt.Errorf("embedded store: lock %s: %w", c.lockPath, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

func version(seq uint64) string { return strconv.FormatUint(seq, 10) + "-0" }

// Incr implements store.ConfigStore.
func (c *Config) Incr(_ context.Context, key string) (int64, error) {
	var n int64
	err := c.locked(func() error {
		n = c.counters[key] + 1
		if c.path != "" && persistCounter(key) {
			if err := c.appendRecord(record{Counters: map[string]int64{key: n}}); err != nil {
				return err
			}
		}
		c.counters[key] = n
		c.maybeCompact()
		return nil
	})
	return n, err
}

// Write implements store.ConfigStore.
func (c *Config) Write(_ context.Context, changes ...config.Change) (string, error) {
	var v string
	err := c.locked(func() error {
		if c.path != "" && !onlyTails(changes) {
			if err := c.appendRecord(recordOf(changes)); err != nil {
				return err // not applied: memory stays what the disk holds
			}
		}
		c.apply(changes)
		v = version(c.seq)
		c.maybeCompact()
		return nil
	})
	return v, err
}

// apply stores changes and appends them to the log, a merge as the whole
// hash it makes; the caller holds mu.
func (c *Config) apply(changes []config.Change) {
	now := time.Now()
	logged, copied := changes, false
	for i, ch := range changes {
		switch {
		case isTailKey(ch.Key):
			c.applyTail(ch, now)
		case ch.Key == config.ControlRodKey:
			c.rodBit = ch.Fields["0"] == "1"
		case ch.Merge:
			if !copied { // the caller's slice stays as it was
				logged, copied = slices.Clone(changes), true
			}
			c.hashes[ch.Key] = merged(c.hashes[ch.Key], ch.Fields)
			logged[i] = config.Change{Key: ch.Key, Fields: c.hashes[ch.Key]}
		case ch.Fields == nil:
			delete(c.hashes, ch.Key)
		default:
			c.hashes[ch.Key] = ch.Fields
		}
	}
	c.appendLog(logged)
}

// appendLog records changes for followers and wakes them; the caller holds mu.
func (c *Config) appendLog(changes []config.Change) {
	c.seq++
	c.log = append(c.log, logEntry{seq: c.seq, changes: changes})
	if len(c.log) > maxLog {
		c.log = append(c.log[:0:0], c.log[len(c.log)-maxLog:]...)
	}
	close(c.wake)
	c.wake = make(chan struct{})
}

// Load implements store.ConfigStore.
func (c *Config) Load(_ context.Context) (*config.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(false); err != nil {
		return nil, err
	}
	c.expireTails(time.Now())
	return config.Build(c.withTails(), c.rodBit, version(c.seq)), nil
}

// Follow implements store.ConfigStore.
func (c *Config) Follow(ctx context.Context, from string, fn func([]config.Change, string)) error {
	next, _ := strconv.ParseUint(from[:max(len(from)-2, 0)], 10, 64)
	next++
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for {
		c.mu.Lock()
		if err := c.refresh(false); err != nil {
			c.mu.Unlock()
			return err
		}
		c.expireTails(time.Now())
		wake := c.wake
		var batch []logEntry
		if len(c.log) > 0 && c.log[0].seq > next {
			c.mu.Unlock()
			return store.ErrGap
		}
		for _, e := range c.log {
			if e.seq >= next {
				batch = append(batch, e)
			}
		}
		c.mu.Unlock()
		for _, e := range batch {
			fn(e.changes, version(e.seq))
			next = e.seq + 1
		}
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// PutSession implements store.ConfigStore.
func (c *Config) PutSession(_ context.Context, id string, body []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, s := range c.sessions { // expire lazily, bounded by the number of live sessions
		if now.After(s.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[id] = session{body: append([]byte(nil), body...), expires: now.Add(ttl)}
	return nil
}

// Session implements store.ConfigStore.
func (c *Config) Session(_ context.Context, id string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	if !ok || time.Now().After(s.expires) {
		return nil, store.ErrNotFound
	}
	return s.body, nil
}

// Ping implements store.ConfigStore.
func (c *Config) Ping(context.Context) error { return nil }

// Close implements store.ConfigStore.
func (c *Config) Close() error { return nil }

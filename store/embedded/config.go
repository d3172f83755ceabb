// Package embedded implements the store interfaces in one process, for
// `logplex all` on a laptop: config hashes in memory, persisted to a JSON
// file under the data directory after every write (atomic rename), a change
// log in memory for Follow, sessions with TTLs, per-channel history as a
// bounded in-memory ring, and the tail bus in process (bus.go; tail
// registrations stay in memory, tails.go). Not clustered.
//
// embedded imports config, store, ringbuf and the standard library only.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
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
// directory (a running `logplex all` and `logplex cred`): every write
// re-reads the file under an exclusive flock before applying, and a running
// store notices a file changed by another process within pollEvery and
// hands the difference to its followers as ordinary changes.
type Config struct {
	path     string // "" = not persisted
	lockPath string
	seen     fileStamp // the file as this process last read or wrote it

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
	p, stamp, err := c.readFile()
	if err != nil {
		return nil, err
	}
	c.install(p, stamp)
	return c, nil
}

// pollEvery is how often a following store looks for changes other
// processes made to the file.
const pollEvery = 500 * time.Millisecond

// fileStamp identifies one version of the file: every save is a rename, so
// the inode changes with each write even within one mtime tick.
type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

func (c *Config) stamp() fileStamp {
	fi, err := os.Stat(c.path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// readFile reads the persisted config (empty when there is no file yet).
func (c *Config) readFile() (persisted, fileStamp, error) {
	var p persisted
	stamp := c.stamp()
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return p, stamp, nil
	}
	if err != nil {
		return p, stamp, fmt.Errorf("embedded store: %w", err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, stamp, fmt.Errorf("embedded store: %s is not valid: %w", c.path, err)
	}
	return p, stamp, nil
}

// install replaces the in-memory config with p; the caller holds mu (or is
// the constructor).
func (c *Config) install(p persisted, stamp fileStamp) {
	c.hashes, c.counters = p.Hashes, p.Counters
	if c.hashes == nil {
		c.hashes = map[string]config.Hash{}
	}
	if c.counters == nil {
		c.counters = map[string]int64{}
	}
	c.rodBit, c.seen = p.ReadOnly, stamp
}

// refresh re-reads the file if another process changed it and appends the
// difference to the change log; the caller holds mu.
func (c *Config) refresh() error {
	if c.path == "" || c.stamp() == c.seen {
		return nil
	}
	p, stamp, err := c.readFile()
	if err != nil {
		return err
	}
	changes := diff(c.hashes, p.Hashes)
	if p.ReadOnly != c.rodBit {
		changes = append(changes, config.Change{Key: config.ControlRodKey, Fields: rodHash(p.ReadOnly)})
	}
	c.install(p, stamp)
	if len(changes) > 0 {
		c.appendLog(changes)
	}
	return nil
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
	if c.path != "" {
		f, err := os.OpenFile(c.lockPath, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("embedded store: %w", err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("embedded store: lock %s: %w", c.lockPath, err)
		}
		defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		if err := c.refresh(); err != nil {
			return err
		}
	}
	return fn()
}

// save writes the config file atomically; the caller holds mu.
func (c *Config) save() error {
	if c.path == "" {
		return nil
	}
	data, err := json.Marshal(persisted{Hashes: c.hashes, Counters: c.counters, ReadOnly: c.rodBit})
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("embedded store: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return err
	}
	c.seen = c.stamp()
	return nil
}

func version(seq uint64) string { return strconv.FormatUint(seq, 10) + "-0" }

// Incr implements store.ConfigStore.
func (c *Config) Incr(_ context.Context, key string) (int64, error) {
	var n int64
	err := c.locked(func() error {
		c.counters[key]++
		n = c.counters[key]
		return c.save()
	})
	return n, err
}

// Write implements store.ConfigStore.
func (c *Config) Write(_ context.Context, changes ...config.Change) (string, error) {
	var v string
	err := c.locked(func() error {
		c.apply(changes)
		v = version(c.seq)
		if onlyTails(changes) {
			return nil // nothing persisted changed
		}
		return c.save()
	})
	return v, err
}

// apply stores changes and appends them to the log; the caller holds mu.
func (c *Config) apply(changes []config.Change) {
	now := time.Now()
	for _, ch := range changes {
		switch {
		case isTailKey(ch.Key):
			c.applyTail(ch, now)
		case ch.Key == config.ControlRodKey:
			c.rodBit = ch.Fields["0"] == "1"
		case ch.Fields == nil:
			delete(c.hashes, ch.Key)
		default:
			c.hashes[ch.Key] = ch.Fields
		}
	}
	c.appendLog(changes)
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
	if err := c.refresh(); err != nil {
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
		if err := c.refresh(); err != nil {
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

// Package embedded implements the store interfaces in one process, for
// `logplex all` on a laptop: config hashes in memory, persisted to a JSON
// file under the data directory after every write (atomic rename), a change
// log in memory for Follow, sessions with TTLs, and per-channel history as a
// bounded in-memory ring. Not clustered.
//
// embedded imports config, store, ringbuf and the standard library only.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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

// Config is the embedded ConfigStore.
type Config struct {
	path string // "" = not persisted

	mu       sync.Mutex
	hashes   map[string]config.Hash
	counters map[string]int64
	rodBit   bool
	seq      uint64
	log      []logEntry // oldest first, at most maxLog entries
	wake     chan struct{}
	sessions map[string]session
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
		wake: make(chan struct{}), sessions: map[string]session{}}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data dir: %w", err)
	}
	c.path = filepath.Join(dir, "config.json")
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("embedded store: %s is not valid: %w", c.path, err)
	}
	if p.Hashes != nil {
		c.hashes = p.Hashes
	}
	if p.Counters != nil {
		c.counters = p.Counters
	}
	c.rodBit = p.ReadOnly
	return c, nil
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
	return os.Rename(tmp, c.path)
}

func version(seq uint64) string { return strconv.FormatUint(seq, 10) + "-0" }

// Incr implements store.ConfigStore.
func (c *Config) Incr(_ context.Context, key string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counters[key]++
	return c.counters[key], c.save()
}

// Write implements store.ConfigStore.
func (c *Config) Write(_ context.Context, changes ...config.Change) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		switch {
		case ch.Key == config.ControlRodKey:
			c.rodBit = ch.Fields["0"] == "1"
		case ch.Fields == nil:
			delete(c.hashes, ch.Key)
		default:
			c.hashes[ch.Key] = ch.Fields
		}
	}
	c.seq++
	c.log = append(c.log, logEntry{seq: c.seq, changes: changes})
	if len(c.log) > maxLog {
		c.log = append(c.log[:0:0], c.log[len(c.log)-maxLog:]...)
	}
	close(c.wake)
	c.wake = make(chan struct{})
	return version(c.seq), c.save()
}

// Load implements store.ConfigStore.
func (c *Config) Load(_ context.Context) (*config.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return config.Build(c.hashes, c.rodBit, version(c.seq)), nil
}

// Follow implements store.ConfigStore.
func (c *Config) Follow(ctx context.Context, from string, fn func([]config.Change, string)) error {
	next, _ := strconv.ParseUint(from[:max(len(from)-2, 0)], 10, 64)
	next++
	for {
		c.mu.Lock()
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

package embedded

import (
	"context"
	"maps"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// Tail registrations (config.TailKey) live in this process's memory only:
// they are not written to config.json, because they describe sessions of
// the process that wrote them and must not outlive it. A registration with
// a TTL expires unless refreshed; its expiry goes on the change feed (a
// delete), noticed at the latest when a follower polls (pollEvery).

type tailReg struct {
	fields  config.Hash
	expires time.Time // zero: never
}

var _ store.TTLRefresher = (*Config)(nil)

func isTailKey(key string) bool {
	kind, _, ok := config.ParseKey(key)
	return ok && kind == "tail"
}

// applyTail stores or deletes one registration; the caller holds mu.
func (c *Config) applyTail(ch config.Change, now time.Time) {
	if ch.Fields == nil {
		delete(c.tails, ch.Key)
		return
	}
	r := tailReg{fields: ch.Fields}
	if ch.TTL > 0 {
		r.expires = now.Add(ch.TTL)
	}
	c.tails[ch.Key] = r
}

// expireTails deletes the registrations whose TTL ran out and puts the
// deletes on the change feed; the caller holds mu.
func (c *Config) expireTails(now time.Time) {
	var gone []config.Change
	for k, r := range c.tails {
		if !r.expires.IsZero() && now.After(r.expires) {
			delete(c.tails, k)
			gone = append(gone, config.Change{Key: k})
		}
	}
	if len(gone) > 0 {
		c.appendLog(gone)
	}
}

// withTails is the stored hashes plus the live registrations; the caller
// holds mu.
func (c *Config) withTails() map[string]config.Hash {
	if len(c.tails) == 0 {
		return c.hashes
	}
	all := maps.Clone(c.hashes)
	for k, r := range c.tails {
		all[k] = r.fields
	}
	return all
}

// Refresh implements store.TTLRefresher.
func (c *Config) Refresh(_ context.Context, key string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.expireTails(now)
	r, ok := c.tails[key]
	if !ok {
		return false, nil
	}
	if ttl > 0 {
		r.expires = now.Add(ttl)
	}
	c.tails[key] = r
	return true, nil
}

func onlyTails(changes []config.Change) bool {
	for _, ch := range changes {
		if !isTailKey(ch.Key) {
			return false
		}
	}
	return true
}

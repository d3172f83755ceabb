package embedded

import (
	"context"
	"time"

	"github.com/logplex/logplex/store"
)

// maxFrameIDs bounds the remembered frame ids of all senders; beyond it the
// oldest are forgotten first (a retry that late is routed again, never lost).
const maxFrameIDs = 1 << 20

type frameEntry struct {
	key string
	exp time.Time
}

type frameIDs struct {
	seen   map[string]time.Time // scope ":" id → expiry
	queue  []frameEntry         // in insertion order (= expiry order for one ttl)
	scopes map[string]*scopeWindow
}

// scopeWindow counts one sender's ids recorded since start.
type scopeWindow struct {
	n   int
	end time.Time
}

// FirstSeen implements store.FrameDeduper in memory.
func (c *Config) FirstSeen(_ context.Context, scope, id string, ttl time.Duration, limit int) (bool, error) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	f := &c.frames
	if f.seen == nil {
		f.seen, f.scopes = map[string]time.Time{}, map[string]*scopeWindow{}
	}
	now := time.Now()
	f.forget(now)
	key := scope + ":" + id
	if exp, ok := f.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	if limit > 0 {
		w := f.scopes[scope]
		if w == nil || !now.Before(w.end) {
			w = &scopeWindow{end: now.Add(ttl)}
			f.scopes[scope] = w
		}
		if w.n >= limit {
			return false, store.ErrFrameIDLimit
		}
		w.n++
	}
	f.seen[key] = now.Add(ttl)
	f.queue = append(f.queue, frameEntry{key, now.Add(ttl)})
	return true, nil
}

// forget drops expired entries, and the oldest while over the bound; a queue
// entry whose key was re-added later no longer matches and is just skipped.
// Windows of senders are dropped once over and no id of theirs is left
// (when the queue empties).
func (f *frameIDs) forget(now time.Time) {
	for len(f.queue) > 0 {
		e := f.queue[0]
		if now.Before(e.exp) && len(f.seen) < maxFrameIDs {
			return
		}
		if f.seen[e.key] == e.exp {
			delete(f.seen, e.key)
		}
		f.queue = f.queue[1:]
	}
	for s, w := range f.scopes {
		if !now.Before(w.end) {
			delete(f.scopes, s)
		}
	}
}

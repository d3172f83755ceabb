package embedded

import (
	"context"
	"time"
)

// maxFrameIDs bounds the remembered frame ids; beyond it the oldest are
// forgotten first (a retry that late is routed again, never lost).
const maxFrameIDs = 1 << 20

type frameEntry struct {
	key string
	exp time.Time
}

type frameIDs struct {
	seen  map[string]time.Time // key → expiry
	queue []frameEntry         // in insertion order (= expiry order for one ttl)
}

// FirstSeen implements store.FrameDeduper in memory.
func (c *Config) FirstSeen(_ context.Context, key string, ttl time.Duration) (bool, error) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	f := &c.frames
	if f.seen == nil {
		f.seen = map[string]time.Time{}
	}
	now := time.Now()
	f.forget(now)
	if exp, ok := f.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	f.seen[key] = now.Add(ttl)
	f.queue = append(f.queue, frameEntry{key, now.Add(ttl)})
	return true, nil
}

// forget drops expired entries, and the oldest while over the bound; a queue
// entry whose key was re-added later no longer matches and is just skipped.
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
}

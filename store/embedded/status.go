package embedded

import (
	"context"
	"time"
)

type statusEntry struct {
	doc     []byte
	expires time.Time
}

// PutDrainStatus implements store.StatusBoard in memory.
func (c *Config) PutDrainStatus(_ context.Context, node string, status map[int64][]byte, docTTL, alive time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = map[int64]map[string]statusEntry{}
		c.alive = map[string]time.Time{}
	}
	now := time.Now()
	c.alive[node] = now.Add(alive)
	exp := now.Add(docTTL)
	for id, doc := range status {
		if c.status[id] == nil {
			c.status[id] = map[string]statusEntry{}
		}
		c.status[id][node] = statusEntry{doc: append([]byte(nil), doc...), expires: exp}
	}
	return nil
}

// DrainStatus implements store.StatusBoard.
func (c *Config) DrainStatus(_ context.Context, drainID int64) (map[string][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	now := time.Now()
	for node, e := range c.status[drainID] {
		if now.After(e.expires) {
			delete(c.status[drainID], node)
			continue
		}
		if now.Before(c.alive[node]) {
			out[node] = e.doc
		}
	}
	return out, nil
}

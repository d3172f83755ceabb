package redisstore

import (
	"context"
	"time"

	"github.com/logplex/logplex/store"
)

var _ store.TTLRefresher = (*Config)(nil)

// Refresh implements store.TTLRefresher with PEXPIRE: the key's TTL is
// extended without a feed entry, so data planes do no work for it. It
// reports false when the key is gone (expired, or Redis lost it).
func (c *Config) Refresh(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	cl, _, err := c.client()
	if err != nil {
		return false, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	n, err := cl.Do(cctx, cl.B().Pexpire().Key(key).Milliseconds(max(ttl.Milliseconds(), 1)).Build()).AsInt64()
	if err != nil {
		return false, failure(ctx, "PEXPIRE "+key, err)
	}
	return n == 1, nil
}

package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// FirstSeen implements store.FrameDeduper with SET logplex:frame:<key> 1 NX
// EX <ttl>: one round trip, atomic across every node of the cluster.
func (c *Config) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	cl, _, err := c.client()
	if err != nil {
		return false, err
	}
	secs := max(int64((ttl+time.Second-1)/time.Second), 1)
	cctx, cancel := c.call(ctx)
	defer cancel()
	err = cl.Do(cctx, cl.B().Set().Key("logplex:frame:"+key).Value("1").Nx().ExSeconds(secs).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil // NX did not set: seen
	}
	if err != nil {
		return false, failure(ctx, "SET NX frame", err)
	}
	return true, nil
}

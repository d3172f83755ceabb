package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// statusKey is the hash of one drain's per-node status documents.
func statusKey(drainID int64) string { return "logplex:drainstatus:" + strconv.FormatInt(drainID, 10) }

// PutDrainStatus implements store.StatusBoard: per drain one HSET of this
// node's field and an EXPIRE, all in one pipeline (each key is one slot, so
// it works on a cluster too). Redis 7.0 has no per-field TTL, so each field
// is "<expiry unix ms>|<document>" and readers skip expired fields; the
// whole hash expires when no node refreshes it.
func (c *Config) PutDrainStatus(ctx context.Context, node string, status map[int64][]byte, ttl time.Duration) error {
	if len(status) == 0 {
		return nil
	}
	cl, _, err := c.client()
	if err != nil {
		return err
	}
	secs := max(int64((ttl+time.Second-1)/time.Second), 1)
	exp := strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10) + "|"
	cmds := make(rueidis.Commands, 0, 2*len(status))
	for id, doc := range status {
		cmds = append(cmds,
			cl.B().Hset().Key(statusKey(id)).FieldValue().FieldValue(node, exp+string(doc)).Build(),
			cl.B().Expire().Key(statusKey(id)).Seconds(secs).Build())
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	for _, r := range cl.DoMulti(cctx, cmds...) {
		if err := r.Error(); err != nil {
			return failure(ctx, "HSET drainstatus", err)
		}
	}
	return nil
}

// DrainStatus implements store.StatusBoard with HGETALL.
func (c *Config) DrainStatus(ctx context.Context, drainID int64) (map[string][]byte, error) {
	cl, _, err := c.client()
	if err != nil {
		return nil, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	m, err := cl.Do(cctx, cl.B().Hgetall().Key(statusKey(drainID)).Build()).AsStrMap()
	if err != nil {
		return nil, failure(ctx, "HGETALL drainstatus", err)
	}
	out := make(map[string][]byte, len(m))
	now := time.Now().UnixMilli()
	for node, v := range m {
		exp, doc, ok := strings.Cut(v, "|")
		if ms, err := strconv.ParseInt(exp, 10, 64); ok && err == nil && ms >= now {
			out[node] = []byte(doc)
		}
	}
	return out, nil
}

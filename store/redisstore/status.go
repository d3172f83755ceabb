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

// aliveKey is the key that says node is alive (a string with a TTL).
func aliveKey(node string) string { return "logplex:drainstatus:node:" + node }

// statusBatch is how many drains one pipeline carries.
const statusBatch = 512

// PutDrainStatus implements store.StatusBoard: SET of node's alive key with
// its TTL, then per drain one HSET of this node's field and an EXPIRE,
// pipelined in batches of statusBatch drains (each key is one slot, so it
// works on a cluster too). Redis 7.0 has no per-field TTL, so each field is
// "<expiry unix ms>|<document>" and readers skip expired fields; the whole
// hash expires when no node puts it again.
func (c *Config) PutDrainStatus(ctx context.Context, node string, status map[int64][]byte, docTTL, alive time.Duration) error {
	cl, _, err := c.client()
	if err != nil {
		return err
	}
	secs := max(int64((docTTL+time.Second-1)/time.Second), 1)
	exp := strconv.FormatInt(time.Now().Add(docTTL).UnixMilli(), 10) + "|"
	cmds := make(rueidis.Commands, 0, 2*min(len(status), statusBatch)+1)
	cmds = append(cmds, cl.B().Set().Key(aliveKey(node)).Value("1").Px(max(alive, time.Millisecond)).Build())
	flush := func() error {
		cctx, cancel := c.call(ctx)
		defer cancel()
		for _, r := range cl.DoMulti(cctx, cmds...) {
			if err := r.Error(); err != nil {
				return failure(ctx, "HSET drainstatus", err)
			}
		}
		cmds = cmds[:0]
		return nil
	}
	for id, doc := range status {
		cmds = append(cmds,
			cl.B().Hset().Key(statusKey(id)).FieldValue().FieldValue(node, exp+string(doc)).Build(),
			cl.B().Expire().Key(statusKey(id)).Seconds(secs).Build())
		if len(cmds) >= 2*statusBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	return flush()
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
	var nodes []string
	for node, v := range m {
		exp, doc, ok := strings.Cut(v, "|")
		if ms, err := strconv.ParseInt(exp, 10, 64); ok && err == nil && ms >= now {
			out[node] = []byte(doc)
			nodes = append(nodes, node)
		}
	}
	if len(nodes) == 0 {
		return out, nil
	}
	// Only the nodes still alive: one EXISTS per node (their keys may live
	// in other slots of a cluster).
	cmds := make(rueidis.Commands, len(nodes))
	for i, node := range nodes {
		cmds[i] = cl.B().Exists().Key(aliveKey(node)).Build()
	}
	for i, r := range cl.DoMulti(cctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, failure(ctx, "EXISTS drainstatus node", err)
		}
		if n == 0 {
			delete(out, nodes[i])
		}
	}
	return out, nil
}

package redisstore

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// Load implements store.ConfigStore: the feed's last id first, then every
// config hash (SCAN on every master, HGETALL in pipelined batches), then
// bit 0 of control_rod. See the package doc for why the id comes first.
func (c *Config) Load(ctx context.Context) (*config.Snapshot, error) {
	cl, cluster, err := c.client()
	if err != nil {
		return nil, err
	}
	if c.opts.FollowOtherWriters {
		c.startNotifier() // before the scan: what is written meanwhile is noted,
		c.notes.reset()   // and what was noted before is in the scan
	}
	version, err := c.lastID(ctx, cl)
	if err != nil {
		return nil, err
	}
	nodes := []rueidis.Client{cl}
	if cluster {
		if nodes, err = c.masters(ctx, cl); err != nil {
			return nil, err
		}
	}
	hashes := map[string]config.Hash{}
	for _, n := range nodes {
		if err := c.scanNode(ctx, cl, n, hashes); err != nil {
			return nil, err
		}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	bit, err := cl.Do(cctx, cl.B().Getbit().Key(config.ControlRodKey).Offset(0).Build()).AsInt64()
	if err != nil {
		return nil, failure(ctx, "GETBIT control_rod", err)
	}
	return config.Build(hashes, bit == 1, version), nil
}

// masters returns a client per cluster master (replicas are skipped: they
// hold the same keys, maybe older).
func (c *Config) masters(ctx context.Context, cl rueidis.Client) ([]rueidis.Client, error) {
	var out []rueidis.Client
	for _, n := range cl.Nodes() {
		cctx, cancel := c.call(ctx)
		role, err := n.Do(cctx, n.B().Role().Build()).ToArray()
		cancel()
		if err != nil {
			return nil, failure(ctx, "ROLE", err)
		}
		if len(role) > 0 {
			if r, _ := role[0].ToString(); r == "master" {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// scanNode adds every config hash held by node to hashes: SCAN pages of
// node, HGETALL of the config keys through cl (which routes by slot).
func (c *Config) scanNode(ctx context.Context, cl, node rueidis.Client, hashes map[string]config.Hash) error {
	cursor := uint64(0)
	for {
		cctx, cancel := c.call(ctx)
		page, err := node.Do(cctx, node.B().Scan().Cursor(cursor).Count(int64(c.opts.ScanCount)).Build()).AsScanEntry()
		cancel()
		if err != nil {
			return failure(ctx, "SCAN", err)
		}
		if err := c.fetchHashes(ctx, cl, page.Elements, hashes); err != nil {
			return err
		}
		if cursor = page.Cursor; cursor == 0 {
			return nil
		}
	}
}

// fetchHashes HGETALLs the config keys among keys in one pipeline. A key
// that vanished since the SCAN (empty reply) or holds another type is
// skipped.
func (c *Config) fetchHashes(ctx context.Context, cl rueidis.Client, keys []string, hashes map[string]config.Hash) error {
	wanted := keys[:0:0]
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		if config.IsConfigKey(k) {
			wanted = append(wanted, k)
			cmds = append(cmds, cl.B().Hgetall().Key(k).Build())
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	for i, r := range cl.DoMulti(cctx, cmds...) {
		h, err := r.AsStrMap()
		if err != nil {
			if ferr := failure(ctx, "HGETALL "+wanted[i], err); isUnavailable(ferr) || ctx.Err() != nil {
				return ferr
			}
			c.log.Warn("config key skipped", "key", wanted[i], "err", err)
			continue
		}
		if len(h) > 0 {
			hashes[wanted[i]] = h
		}
	}
	return nil
}

// readKeys returns the current value of each key, as Write stores it: a
// hash, nil for a missing key, {"0": bit} for the control rod.
func (c *Config) readKeys(ctx context.Context, cl rueidis.Client, keys []string) (map[string]config.Hash, error) {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		if k == config.ControlRodKey {
			cmds[i] = cl.B().Getbit().Key(k).Offset(0).Build()
		} else {
			cmds[i] = cl.B().Hgetall().Key(k).Build()
		}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	out := make(map[string]config.Hash, len(keys))
	for i, r := range cl.DoMulti(cctx, cmds...) {
		if keys[i] == config.ControlRodKey {
			bit, err := r.AsInt64()
			if err != nil {
				return nil, failure(ctx, "GETBIT control_rod", err)
			}
			out[keys[i]] = config.Hash{"0": strconv.FormatInt(bit, 10)}
			continue
		}
		h, err := r.AsStrMap()
		if err != nil {
			if ferr := failure(ctx, "HGETALL "+keys[i], err); isUnavailable(ferr) || ctx.Err() != nil {
				return nil, ferr
			}
			h = nil // another type: not a config entity
		}
		if len(h) == 0 {
			h = nil
		}
		out[keys[i]] = h
	}
	return out, nil
}

func isUnavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }

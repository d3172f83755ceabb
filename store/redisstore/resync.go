package redisstore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store"
)

var _ store.ResyncChecker = (*Config)(nil)

// FollowMissed implements store.ResyncChecker (notify.go): Follow cannot
// have missed another writer's change since the newest Load when the
// keyspace subscription confirmed before that Load is still up and lost
// nothing, it covers the cluster's nodes of now, and every node still
// emits the events (CONFIG GET, one per node). logplex's own writes are
// on the stream, which Follow reads from its version on, gaps detected.
// A node that stopped emitting them (an operator's CONFIG SET) gets them
// back here, and the reason returned makes the watcher reload fully.
func (c *Config) FollowMissed(ctx context.Context) string {
	if !c.opts.FollowOtherWriters {
		return "other writers are not followed (no keyspace notifications asked for)"
	}
	if why := c.notes.resyncMissed(); why != "" {
		return why
	}
	cl, cluster, err := c.client()
	if err != nil {
		return err.Error()
	}
	nodes := map[string]rueidis.Client{"": cl}
	if cluster {
		nodes = cl.Nodes()
		subscribed, renew := c.notes.subscribedNodes()
		if now := slices.Sorted(maps.Keys(nodes)); !slices.Equal(now, subscribed) {
			if renew != nil {
				renew()
			}
			return fmt.Sprintf("the cluster's nodes are %v, the keyspace subscription covers %v", now, subscribed)
		}
	}
	for addr, node := range nodes {
		cctx, cancel := c.call(ctx)
		cur, err := node.Do(cctx, node.B().ConfigGet().Parameter("notify-keyspace-events").Build()).AsStrMap()
		if err != nil {
			cancel()
			return failure(ctx, "CONFIG GET notify-keyspace-events", err).Error()
		}
		was, want := cur["notify-keyspace-events"], notifyFlags(cur["notify-keyspace-events"])
		if want != was {
			err = node.Do(cctx, node.B().ConfigSet().ParameterValue().ParameterValue("notify-keyspace-events", want).Build()).Error()
			c.log.Warn("keyspace notifications of config keys were turned off on the server: enabled again; reloading the config fully",
				"node", addr, "notify_keyspace_events_was", was, "now", want, "err", err)
		}
		cancel()
		if want != was {
			return fmt.Sprintf("notify-keyspace-events was %q on %q: other writers' changes may have been missed", was, addr)
		}
	}
	return ""
}

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store/redisstore"
)

// openRedisStores opens the config store on --config-redis-url, the
// history spool on --shard-urls (default: the config Redis), as Logplex,
// and the tail bus on the config Redis's pub/sub.
func openRedisStores(ctx context.Context, s *settings) (*stores, error) {
	cfg, err := redisstore.OpenConfig(ctx, redisstore.ConfigOptions{URL: s.configRedisURL, Cluster: s.redisCluster,
		FollowOtherWriters: true})
	if err != nil {
		return nil, fmt.Errorf("config redis: %w", err)
	}
	shards := config.SplitList(s.shardURLs)
	if len(shards) == 0 {
		shards = []string{s.configRedisURL}
	}
	sp, err := redisstore.NewSpool(redisstore.SpoolOptions{URLs: shards, Cluster: s.redisCluster,
		History: s.logHistory, Expiry: time.Duration(s.redisBufferExpiry) * time.Second,
		QueueLen: s.redisBufferLength, QueueBytes: s.historyQueueBytes, Writers: s.historyWriters,
		FlushBytes: s.historyBatchBytes, FlushMsgs: s.historyBatchMessages, FlushAge: s.historyBatchAge})
	if err != nil {
		cfg.Close()
		return nil, fmt.Errorf("history redis: %w", err)
	}
	bus, err := redisstore.NewBus(redisstore.BusOptions{URL: s.configRedisURL, Cluster: s.redisCluster})
	if err != nil {
		cfg.Close()
		sp.Close()
		return nil, fmt.Errorf("tail bus redis: %w", err)
	}
	desc := fmt.Sprintf("Redis store (config %s, %d history shard(s))", config.RedactURL(s.configRedisURL), len(shards))
	return &stores{config: cfg, spool: sp, bus: bus, desc: desc}, nil
}

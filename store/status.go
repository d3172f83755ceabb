package store

import (
	"context"
	"time"
)

// StatusBoard collects what each data plane reports about its drains, for
// the drain status endpoint (an extension): every node puts its own entry
// per drain with a TTL and refreshes it; readers get every live node's entry.
// Both config stores implement it (Redis: hash logplex:drainstatus:<id>,
// field = node; embedded: in memory).
type StatusBoard interface {
	// PutDrainStatus stores node's status document of each drain, each
	// living ttl unless refreshed.
	PutDrainStatus(ctx context.Context, node string, status map[int64][]byte, ttl time.Duration) error
	// DrainStatus returns the live nodes' documents for one drain: node → document.
	DrainStatus(ctx context.Context, drainID int64) (map[string][]byte, error)
}

package store

import (
	"context"
	"time"
)

// StatusBoard collects what each data plane reports about its drains, for
// the drain status endpoint (an extension). A node puts the documents of
// the drains whose figures changed, and says it is alive on every report; a
// reader gets the documents of the nodes still alive. A node's document of
// an unchanged drain is not written again until it nears its TTL, so the
// cost follows what changes, not how many drains exist. Both config stores
// implement it (Redis: hash logplex:drainstatus:<id>, field = node, and
// key logplex:drainstatus:node:<node>; embedded: in memory).
type StatusBoard interface {
	// PutDrainStatus marks node alive for alive and stores its status
	// document of each drain in status (none: only the mark), each living
	// docTTL unless put again.
	PutDrainStatus(ctx context.Context, node string, status map[int64][]byte, docTTL, alive time.Duration) error
	// DrainStatus returns the documents of one drain put by nodes that are
	// alive: node → document.
	DrainStatus(ctx context.Context, drainID int64) (map[string][]byte, error)
}

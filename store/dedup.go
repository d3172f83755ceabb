package store

import (
	"context"
	"time"
)

// FrameDeduper remembers `Logplex-Frame-Id`s of accepted /logs requests so a
// retried request is acknowledged without being routed twice. Both config
// stores implement it (Redis: SET logplex:frame:<key> 1 NX EX; embedded: in
// memory, bounded).
type FrameDeduper interface {
	// FirstSeen records key for ttl and reports whether it is new (false:
	// seen within ttl, a duplicate).
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

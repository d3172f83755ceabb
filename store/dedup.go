package store

import (
	"context"
	"errors"
	"time"
)

// FrameDeduper remembers `Logplex-Frame-Id`s of accepted /logs requests so a
// retried request is acknowledged without being routed twice. Both config
// stores implement it (Redis: SET logplex:frame:{<scope>}:<id> 1 EX, with a
// per-scope count; embedded: in memory, bounded).
type FrameDeduper interface {
	// FirstSeen records id in scope (the authenticated sender) for ttl and
	// reports whether it is new (false: seen within ttl, a duplicate).
	// limit > 0 bounds the ids one scope may record per ttl window (counted
	// from the first): beyond it a new id is not recorded and the error is
	// ErrFrameIDLimit.
	FirstSeen(ctx context.Context, scope, id string, ttl time.Duration, limit int) (bool, error)
}

// ErrFrameIDLimit: the sender recorded its limit of frame ids in this window.
var ErrFrameIDLimit = errors.New("frame ids of this sender over the limit")

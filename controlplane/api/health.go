package api

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Health probe: whether the config store can serve writes now. /v3/healthcheck
// and the admin /readyz ask it, so a load balancer takes a control plane
// whose store is down out of rotation instead of sending it requests that
// answer 503. One probe is an INCR of Logplex's "healthcheck" counter (what
// Logplex's legacy /healthcheck writes), so a read-only replica or a Redis
// refusing writes fails it too. A result is reused for probeTTL, so a flood
// of unauthenticated health checks costs the store at most one write per
// probeTTL.

const (
	probeTTL     = 500 * time.Millisecond
	probeTimeout = time.Second
)

type storeProbe struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// StoreWritable returns nil when the config store answered a write within
// the last probeTTL (probing it again when the last answer is older), or
// why it did not.
func (s *Server) StoreWritable(ctx context.Context) error {
	p := &s.probe
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < probeTTL {
		return p.err
	}
	timeout := probeTimeout
	if s.cfg.StoreTimeout > 0 {
		timeout = min(timeout, s.cfg.StoreTimeout)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := s.cfg.Store.Incr(cctx, "healthcheck")
	if err != nil {
		err = fmt.Errorf("config store cannot serve writes: %w", err)
	}
	p.at, p.err = time.Now(), err
	return err
}

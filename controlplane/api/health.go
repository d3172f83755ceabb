package api

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Health probe: whether the config store can serve writes now. /v3/healthcheck
// and the admin /readyz ask it, so a load balancer takes a control plane
// whose store is down out of rotation instead of sending it requests that
// answer 503. One probe is an INCR of Logplex's "healthcheck" counter (what
// Logplex's legacy /healthcheck writes), so a read-only replica or a Redis
// refusing writes fails it too. A result is reused for probeTTL, and while a
// probe is under way other callers get the previous result at once, so a
// flood of unauthenticated health checks costs the store at most one write
// per probeTTL and never queues behind a slow store.

const (
	probeTTL     = 500 * time.Millisecond
	probeTimeout = time.Second
)

type probeResult struct {
	at  time.Time
	err error
}

type storeProbe struct {
	running sync.Mutex // held by the one probe under way
	last    atomic.Pointer[probeResult]
}

// StoreWritable returns nil when the config store answered a write within
// the last probeTTL (probing it again when the last answer is older), or
// why it did not.
func (s *Server) StoreWritable(ctx context.Context) error {
	p := &s.probe
	last := p.last.Load()
	if last != nil && time.Since(last.at) < probeTTL {
		return last.err
	}
	switch {
	case last == nil: // no answer yet: wait for the probe under way, if any
		p.running.Lock()
		if last = p.last.Load(); last != nil {
			p.running.Unlock()
			return last.err
		}
	case !p.running.TryLock():
		return last.err // a probe is under way: its predecessor's answer
	}
	defer p.running.Unlock()
	timeout := probeTimeout
	if s.cfg.StoreTimeout > 0 {
		timeout = min(timeout, s.cfg.StoreTimeout)
	}
	// a caller that goes away must not leave a failure for the others
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	_, err := s.cfg.Store.Incr(cctx, "healthcheck")
	if err != nil {
		err = fmt.Errorf("config store cannot serve writes: %w", err)
	}
	p.last.Store(&probeResult{at: time.Now(), err: err})
	return err
}

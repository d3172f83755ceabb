package ingest

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// admission keeps POST /logs from taking the process past its memory bound.
// When a request's headers arrive (before its body is read) it reserves the
// body's Content-Length from a budget; a request that does not fit, or that
// arrives while the live Go heap is above 80% of the memory limit
// (GOMEMLIMIT), is refused with 503 and Retry-After and its body is never
// read. A reservation is released when the handler or the error handler
// finishes; one left behind by a connection that died mid-body is replaced
// by the next request on the same (reused) request context, or swept after
// reservationLife — so the budget cannot leak, and a leak (a connection that
// died mid-body calls no handler) locks nothing out for longer than that.
type admission struct {
	budget  int64
	maxHold time.Duration // a reservation older than this is stale

	mu       sync.Mutex
	held     map[*fasthttp.RequestHeader]reservation
	inflight int64

	pressure atomic.Bool
}

type reservation struct {
	n  int64
	at time.Time
}

var (
	logsOverloaded = metrics.NewCounter(`logplex_logs_overload_rejected_total`)
	inflightBytes  atomic.Int64 // mirror of admission.inflight for the gauge
	_              = metrics.NewGauge(`logplex_logs_inflight_bytes`, func() float64 { return float64(inflightBytes.Load()) })
)

// overloadMarker is set on a refused request's header so the error handler
// answers 503 rather than 413; a client-sent one is removed first.
const overloadMarker = "X-Logplex-Internal-Overload"

// chunkedEstimate is reserved for a body without Content-Length.
const chunkedEstimate = 1 << 20

// reservationLife bounds how long a reservation counts: a body still being
// read after it stops counting (the budget may be briefly over-admitted for
// very slow senders, never locked).
const reservationLife = 5 * time.Second

func newAdmission(budget int64, maxHold time.Duration) *admission {
	return &admission{budget: budget, maxHold: maxHold, held: map[*fasthttp.RequestHeader]reservation{}}
}

// run samples memory pressure and sweeps stale reservations until ctx ends.
func (a *admission) run(ctx context.Context) {
	limit := debug.SetMemoryLimit(-1)
	hasLimit := limit > 0 && limit != math.MaxInt64
	samples := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var lastGC, lastSweep time.Time
	for {
		now := time.Now()
		if hasLimit {
			rtmetrics.Read(samples)
			high := samples[0].Value.Kind() == rtmetrics.KindUint64 && int64(samples[0].Value.Uint64()) > limit/10*8
			if high && now.Sub(lastGC) > time.Second {
				// nothing allocates while everything is refused, so no GC would
				// ever lower the live figure: measure again
				runtime.GC()
				lastGC = now
				rtmetrics.Read(samples)
				high = int64(samples[0].Value.Uint64()) > limit/10*8
			}
			a.pressure.Store(high)
		}
		if now.Sub(lastSweep) > time.Second {
			a.sweep(now)
			lastSweep = now
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// headerReceived reserves the body's size or refuses the request before
// its body is read.
func (a *admission) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(overloadMarker)
	a.release(h) // a reservation this context kept from a request that never finished
	if !h.IsPost() {
		return fasthttp.RequestConfig{}
	}
	n := int64(h.ContentLength())
	if n < 0 {
		n = chunkedEstimate
	}
	if a.reserve(h, n) {
		return fasthttp.RequestConfig{}
	}
	logsOverloaded.Inc()
	h.Set(overloadMarker, "1")
	return fasthttp.RequestConfig{MaxRequestBodySize: 1} // reading the body fails at once
}

func (a *admission) reserve(h *fasthttp.RequestHeader, n int64) bool {
	if a.pressure.Load() {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight+n > a.budget && a.inflight > 0 { // one request alone always fits
		return false
	}
	a.held[h] = reservation{n: n, at: time.Now()}
	a.inflight += n
	inflightBytes.Store(a.inflight)
	return true
}

// release frees the reservation of the request whose header is h, if any.
func (a *admission) release(h *fasthttp.RequestHeader) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.held[h]; ok {
		delete(a.held, h)
		a.inflight -= r.n
		inflightBytes.Store(a.inflight)
	}
}

func (a *admission) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, r := range a.held {
		if now.Sub(r.at) > a.maxHold {
			delete(a.held, h)
			a.inflight -= r.n
		}
	}
	inflightBytes.Store(a.inflight)
}

// refuse answers 503 with Retry-After and closes the connection (the body
// may be unread).
func refuse(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Retry-After", "1")
	respond(ctx, 503, "Overloaded, retry later")
	ctx.SetConnectionClose()
}

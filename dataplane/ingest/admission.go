package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
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
// Bodies are streamed (fasthttp's StreamRequestBody): the handler
// authenticates from the headers first, then reads the body into a buffer
// that grows (doubling from 64 KiB) only as bytes arrive, and reserves each
// growth from a budget before allocating it. A declared Content-Length is
// never allocated nor reserved ahead: a client that declares 8 MB and sends
// one byte holds 64 KiB at most, and an unauthenticated one holds nothing.
// A growth that does not fit the budget, or any request while the live Go
// heap is above 80% of the memory limit (GOMEMLIMIT), is refused with 503
// and Retry-After. The handler gives everything back when it returns, so
// the budget cannot leak.
type admission struct {
	budget   int64
	inflight atomic.Int64
	pressure atomic.Bool
}

var (
	logsOverloaded = metrics.NewCounter(`logplex_logs_overload_rejected_total`)
	inflightBytes  atomic.Int64 // sum over admissions, for the gauge
	_              = metrics.NewGauge(`logplex_logs_inflight_bytes`, func() float64 { return float64(inflightBytes.Load()) })
)

func newAdmission(budget int64) *admission { return &admission{budget: budget} }

// run samples memory pressure until ctx ends.
func (a *admission) run(ctx context.Context) {
	limit := debug.SetMemoryLimit(-1)
	if limit <= 0 || limit == math.MaxInt64 {
		return
	}
	samples := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var lastGC time.Time
	for {
		now := time.Now()
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
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// take reserves n more bytes for a request that holds held already. It
// fails under memory pressure, or when the budget would be exceeded and
// other requests hold bytes too (a request alone always fits).
func (a *admission) take(n, held int64) bool {
	if a.pressure.Load() {
		return false
	}
	for {
		cur := a.inflight.Load()
		if cur+n > a.budget && cur > held {
			return false
		}
		if a.inflight.CompareAndSwap(cur, cur+n) {
			inflightBytes.Add(n)
			return true
		}
	}
}

// give returns n reserved bytes.
func (a *admission) give(n int64) {
	a.inflight.Add(-n)
	inflightBytes.Add(-n)
}

// errOverloaded: a body buffer could not grow within the budget.
var errOverloaded = errors.New("in-flight /logs bytes over budget")

// errTooLarge: a body is longer than its limit.
var errTooLarge = errors.New("body too large")

const (
	bodyMinCap  = 64 << 10 // first allocation of a body buffer
	bodyPoolCap = 1 << 20  // larger buffers are not pooled
)

// bodyBuf is a /logs body (raw or decoded) and the bytes it reserved.
type bodyBuf struct {
	b    []byte
	held int64
}

var bodyPool sync.Pool

// getBody returns a pooled buffer whose capacity is already reserved, or
// an empty one; nil when the reservation is refused.
func getBody(a *admission) (*bodyBuf, bool) {
	b, _ := bodyPool.Get().(*bodyBuf)
	if b == nil {
		return &bodyBuf{}, true
	}
	if !a.take(int64(cap(b.b)), 0) {
		bodyPool.Put(b)
		return nil, false
	}
	b.held = int64(cap(b.b))
	return b, true
}

// putBody gives b's reservation back and pools it unless it is large.
func putBody(a *admission, b *bodyBuf) {
	a.give(b.held)
	b.held = 0
	if cap(b.b) > bodyPoolCap {
		return
	}
	b.b = b.b[:0]
	bodyPool.Put(b)
}

// readFrom appends r's bytes to b until EOF, growing b (reserved from a)
// as bytes arrive. It fails with errTooLarge past limit bytes, with
// errOverloaded when a growth is refused, or with r's error.
func (b *bodyBuf) readFrom(r io.Reader, a *admission, limit int) error {
	for {
		if len(b.b) == cap(b.b) {
			if len(b.b) > limit {
				return errTooLarge
			}
			if !b.grow(a, limit+1) {
				return errOverloaded
			}
		}
		n, err := r.Read(b.b[len(b.b):cap(b.b)])
		b.b = b.b[:len(b.b)+n]
		if errors.Is(err, io.EOF) {
			if len(b.b) > limit {
				return errTooLarge
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// grow doubles b's capacity (at least bodyMinCap, at most limit) after
// reserving the difference.
func (b *bodyBuf) grow(a *admission, limit int) bool {
	c := min(limit, max(2*cap(b.b), bodyMinCap))
	if !a.take(int64(c-cap(b.b)), b.held) {
		return false
	}
	b.held += int64(c - cap(b.b))
	nb := make([]byte, len(b.b), c)
	copy(nb, b.b)
	b.b = nb
	return true
}

var gzipReaders sync.Pool

// gunzip decodes src into dst, bounded by limit decoded bytes.
func gunzip(dst *bodyBuf, src []byte, a *admission, limit int) error {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return err
	}
	defer gzipReaders.Put(zr)
	return dst.readFrom(zr, a, limit)
}

// refuse answers 503 with Retry-After and closes the connection (the body
// may be unread).
func refuse(ctx *fasthttp.RequestCtx) {
	logsOverloaded.Inc()
	ctx.Response.Header.Set("Retry-After", "1")
	respond(ctx, 503, "Overloaded, retry later")
	ctx.SetConnectionClose()
}

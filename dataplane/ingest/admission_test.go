package ingest

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func postHeader(n int) *fasthttp.RequestHeader {
	h := &fasthttp.RequestHeader{}
	h.SetMethod("POST")
	h.SetContentLength(n)
	return h
}

// Reservations fill the budget, refuse beyond it, and cannot leak: released
// by the handler, replaced by the next request on the same context, swept
// when stale.
func TestAdmissionBudgetNeverLeaks(t *testing.T) {
	a := newAdmission(100, time.Minute)
	h1, h2, h3 := postHeader(60), postHeader(30), postHeader(20)
	for _, h := range []*fasthttp.RequestHeader{h1, h2} {
		if cfg := a.headerReceived(h); cfg.MaxRequestBodySize != 0 {
			t.Fatal("request within budget refused")
		}
	}
	if cfg := a.headerReceived(h3); cfg.MaxRequestBodySize != 1 || len(h3.Peek(overloadMarker)) == 0 {
		t.Fatal("request over budget admitted")
	}
	a.release(h2) // its handler finished
	h3.Del(overloadMarker)
	if cfg := a.headerReceived(h3); cfg.MaxRequestBodySize != 0 {
		t.Fatal("budget not given back by release")
	}
	// h1's connection died mid-body (no handler ran); its context serves a new request:
	h1.SetContentLength(10)
	a.headerReceived(h1)
	if a.inflight != 30 {
		t.Fatalf("in flight %d, want 30 (h3's 20 + h1's new 10)", a.inflight)
	}
	a.sweep(time.Now().Add(2 * time.Minute))
	if a.inflight != 0 || len(a.held) != 0 {
		t.Fatalf("stale reservations not swept: %d bytes, %d held", a.inflight, len(a.held))
	}
	big := postHeader(1000)
	if cfg := a.headerReceived(big); cfg.MaxRequestBodySize != 0 {
		t.Fatal("a single request larger than the budget must still be admitted when nothing else is in flight")
	}
	a.pressure.Store(true)
	if cfg := a.headerReceived(postHeader(1)); cfg.MaxRequestBodySize != 1 {
		t.Fatal("memory pressure must refuse")
	}
}

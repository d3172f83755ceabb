package drain

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// drainSet holds every per-drain series, so each family is written once per
// scrape (a family in two Sets gets two # TYPE lines, and Prometheus then
// rejects the whole page).
var drainSet = metrics.NewSet()

func init() { metrics.RegisterSet(drainSet) }

// Each drain exports 19 series (4 counters, a gauge, a 14-line histogram)
// on every data plane, so the drains that do are capped: the first
// MaxDrainSeries drains of this node (Options; default 1000) to get
// traffic get them (a drain registers its series when its sender first
// runs, so configured drains that never receive a message take none),
// later ones count in logplex_drain_series_capped_total; the totals below
// always cover every drain.
var (
	maxSeriesDrains    atomic.Int64
	seriesDrains       atomic.Int64
	seriesDrainsCapped = metrics.NewCounter(`logplex_drain_series_capped_total`)
	_                  = metrics.NewGauge(`logplex_drain_series_drains`, func() float64 { return float64(seriesDrains.Load()) })
)

func init() { maxSeriesDrains.Store(1000) }

// Shared HTTP/2 connections (http2.go) of this node.
var (
	h2ConnsOpen   atomic.Int64
	_             = metrics.NewGauge(`logplex_drain_http2_connections`, func() float64 { return float64(h2ConnsOpen.Load()) })
	h2Fallbacks   = metrics.NewCounter(`logplex_drain_http2_fallbacks_total`)
	h2ConnsFailed = metrics.NewCounter(`logplex_drain_http2_connection_failures_total`)
	h2Requests    = metrics.NewCounter(`logplex_drain_http2_requests_total`)
	h2Writes      = metrics.NewCounter(`logplex_drain_http2_writes_total`)
)

// Totals over all drains of this node.
var (
	deliveredTotal = metrics.NewCounter(`logplex_drain_delivered_total`)
	droppedTotal   = metrics.NewCounter(`logplex_drain_dropped_total`)
	retriesTotal   = metrics.NewCounter(`logplex_drains_retries_total`)
	bytesTotal     = metrics.NewCounter(`logplex_drains_bytes_total`)
)

// Stats are one drain's counters. They live in the Stats itself (the status
// endpoint and the stats lines read them); once the drain's sender first
// runs, they are also exported as series labelled with its id and type
// (register), within the series cap. Senders update them once per batch.
type Stats struct {
	id   int64
	kind string
	buf  *Buffer
	// owner is the drain the counters are of: a change marks it for the
	// status reporter (Drain.touch). Nil outside a Manager.
	owner *Drain

	Delivered *metrics.Counter // messages the endpoint accepted
	Dropped   *metrics.Counter // messages lost: overflow, permanent failure, retries exhausted
	Retries   *metrics.Counter // re-sent batches
	Bytes     *metrics.Counter // bytes written (after compression)
	own       [4]metrics.Counter
	lastErr   atomic.Pointer[string]

	tried  bool                        // register ran (the sender's goroutines, one at a time)
	series atomic.Pointer[drainSeries] // the exported series; nil before register or beyond the cap
}

// drainSeries is a drain's exported series: they mirror its counters from
// registration on.
type drainSeries struct {
	names                              []string
	delivered, dropped, retries, bytes *metrics.Counter
	latency                            *metrics.PrometheusHistogram
}

// TypeName is a drain's type as its metrics (label drain_type) and the
// per-minute stats lines (drain_type=) both name it, Logplex's names:
// http, tcpsyslog or tlssyslog, and otlp for the OTLP/HTTP extension.
func TypeName(k config.DrainKind) string {
	switch k {
	case config.DrainHTTP:
		return "http"
	case config.DrainOTLP:
		return "otlp"
	case config.DrainSyslogTLS:
		return "tlssyslog"
	}
	return "tcpsyslog"
}

var statsMu sync.Mutex // NewCounter panics on duplicates: serialise create/remove

// newStats returns a drain's counters; it registers no series (register).
func newStats(id int64, kind string, buf *Buffer) *Stats {
	s := &Stats{id: id, kind: kind, buf: buf}
	s.Delivered, s.Dropped, s.Retries, s.Bytes = &s.own[0], &s.own[1], &s.own[2], &s.own[3]
	return s
}

// register exports the drain's series, unless the cap is reached (then it
// is counted in logplex_drain_series_capped_total); only its first call
// does anything. The sender's goroutine calls it when it first runs.
func (s *Stats) register() {
	if s.tried {
		return
	}
	s.tried = true
	statsMu.Lock()
	defer statsMu.Unlock()
	if seriesDrains.Load() >= maxSeriesDrains.Load() {
		seriesDrainsCapped.Inc()
		return
	}
	seriesDrains.Add(1)
	l := fmt.Sprintf(`{drain_id="%d",drain_type=%q}`, s.id, s.kind)
	r := &drainSeries{names: []string{
		"logplex_drain_messages_delivered_total" + l, "logplex_drain_messages_dropped_total" + l,
		"logplex_drain_retries_total" + l, "logplex_drain_bytes_total" + l,
		"logplex_drain_request_duration_seconds" + l, "logplex_drain_buffer_depth" + l,
	}}
	r.delivered = drainSet.GetOrCreateCounter(r.names[0])
	r.dropped = drainSet.GetOrCreateCounter(r.names[1])
	r.retries = drainSet.GetOrCreateCounter(r.names[2])
	r.bytes = drainSet.GetOrCreateCounter(r.names[3])
	r.delivered.Set(s.Delivered.Get())
	r.dropped.Set(s.Dropped.Get())
	r.retries.Set(s.Retries.Get())
	r.bytes.Set(s.Bytes.Get())
	r.latency = drainSet.GetOrCreatePrometheusHistogram(r.names[4])
	buf := s.buf
	drainSet.GetOrCreateGauge(r.names[5], func() float64 { _, _, n := buf.Stats(); return float64(n) })
	s.series.Store(r)
}

// remove unregisters the drain's series, if it has them.
func (s *Stats) remove() {
	r := s.series.Swap(nil)
	if r == nil {
		return
	}
	statsMu.Lock()
	defer statsMu.Unlock()
	for _, n := range r.names {
		drainSet.UnregisterMetric(n)
	}
	seriesDrains.Add(-1)
}

// setMaxSeriesDrains sets the cap of drains with their own series
// (negative: none).
func setMaxSeriesDrains(n int) { maxSeriesDrains.Store(int64(max(n, 0))) }

// AddDelivered counts n delivered messages.
func (s *Stats) AddDelivered(n int) {
	s.Delivered.Add(n)
	if r := s.series.Load(); r != nil {
		r.delivered.Add(n)
	}
	deliveredTotal.Add(n)
	s.touch()
}

// AddBytes counts n bytes written.
func (s *Stats) AddBytes(n int) {
	s.Bytes.Add(n)
	if r := s.series.Load(); r != nil {
		r.bytes.Add(n)
	}
	bytesTotal.Add(n)
	s.touch()
}

// AddRetry counts a re-sent batch.
func (s *Stats) AddRetry() {
	s.Retries.Inc()
	if r := s.series.Load(); r != nil {
		r.retries.Inc()
	}
	retriesTotal.Inc()
	s.touch()
}

// AddDropped counts n lost messages.
func (s *Stats) AddDropped(n int) {
	s.Dropped.Add(n)
	if r := s.series.Load(); r != nil {
		r.dropped.Add(n)
	}
	droppedTotal.Add(n)
	s.touch()
}

// ObserveLatency records the duration of one request or write (a series
// only: drains without series do not keep it).
func (s *Stats) ObserveLatency(d time.Duration) {
	if r := s.series.Load(); r != nil {
		r.latency.Update(d.Seconds())
	}
}

// SetError records the last error seen (nil clears nothing: errors stay
// until the next one, for the status endpoint).
func (s *Stats) SetError(err error) {
	if err != nil {
		e := err.Error()
		s.lastErr.Store(&e)
		s.touch()
	}
}

// touch marks the drain for the status reporter: its figures changed.
func (s *Stats) touch() {
	if s.owner != nil {
		s.owner.touch()
	}
}

// LastError is the last error recorded, or "".
func (s *Stats) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

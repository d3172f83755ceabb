package drain

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// drainSet holds every per-drain series, so each family is written once per
// scrape (a family in two Sets gets two # TYPE lines, and Prometheus then
// rejects the whole page).
var drainSet = metrics.NewSet()

// hiddenSet holds the counters of drains beyond the series cap: the status
// endpoint still reads them, /metrics does not show them.
var hiddenSet = metrics.NewSet()

func init() { metrics.RegisterSet(drainSet) }

// Each drain exports 19 series (4 counters, a gauge, a 14-line histogram)
// on every data plane, so the drains that do are capped: the first
// MaxDrainSeries drains of this node (Options; default 1000)
// get them, later ones count in logplex_drain_series_capped_total; the
// totals below always cover every drain.
var (
	maxSeriesDrains    atomic.Int64
	seriesDrains       atomic.Int64
	seriesDrainsCapped = metrics.NewCounter(`logplex_drain_series_capped_total`)
	_                  = metrics.NewGauge(`logplex_drain_series_drains`, func() float64 { return float64(seriesDrains.Load()) })
)

func init() { maxSeriesDrains.Store(1000) }

// Totals over all drains of this node.
var (
	deliveredTotal = metrics.NewCounter(`logplex_drain_delivered_total`)
	droppedTotal   = metrics.NewCounter(`logplex_drain_dropped_total`)
	retriesTotal   = metrics.NewCounter(`logplex_drains_retries_total`)
	bytesTotal     = metrics.NewCounter(`logplex_drains_bytes_total`)
)

// Stats are one drain's counters, exported as series labelled with its id
// and type while it runs. Senders update them once per batch.
type Stats struct {
	names     []string
	set       *metrics.Set     // drainSet, or hiddenSet beyond the cap
	Delivered *metrics.Counter // messages the endpoint accepted
	Dropped   *metrics.Counter // messages lost: overflow, permanent failure, retries exhausted
	Retries   *metrics.Counter // re-sent batches
	Bytes     *metrics.Counter // bytes written (after compression)
	Latency   *metrics.PrometheusHistogram
	lastErr   atomic.Pointer[string]
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

func newStats(id int64, kind string, buf *Buffer) *Stats {
	statsMu.Lock()
	defer statsMu.Unlock()
	l := fmt.Sprintf(`{drain_id="%d",drain_type=%q}`, id, kind)
	s := &Stats{set: drainSet, names: []string{
		"logplex_drain_messages_delivered_total" + l, "logplex_drain_messages_dropped_total" + l,
		"logplex_drain_retries_total" + l, "logplex_drain_bytes_total" + l,
		"logplex_drain_request_duration_seconds" + l, "logplex_drain_buffer_depth" + l,
	}}
	if seriesDrains.Load() >= maxSeriesDrains.Load() {
		s.set = hiddenSet
		seriesDrainsCapped.Inc()
	} else {
		seriesDrains.Add(1)
	}
	s.Delivered = s.set.GetOrCreateCounter(s.names[0])
	s.Dropped = s.set.GetOrCreateCounter(s.names[1])
	s.Retries = s.set.GetOrCreateCounter(s.names[2])
	s.Bytes = s.set.GetOrCreateCounter(s.names[3])
	s.Latency = s.set.GetOrCreatePrometheusHistogram(s.names[4])
	s.set.GetOrCreateGauge(s.names[5], func() float64 { _, _, n := buf.Stats(); return float64(n) })
	return s
}

func (s *Stats) remove() {
	statsMu.Lock()
	defer statsMu.Unlock()
	for _, n := range s.names {
		s.set.UnregisterMetric(n)
	}
	if s.set == drainSet {
		seriesDrains.Add(-1)
	}
}

// setMaxSeriesDrains sets the cap of drains with their own series
// (negative: none).
func setMaxSeriesDrains(n int) { maxSeriesDrains.Store(int64(max(n, 0))) }

// AddDelivered counts n delivered messages.
func (s *Stats) AddDelivered(n int) {
	s.Delivered.Add(n)
	deliveredTotal.Add(n)
}

// AddBytes counts n bytes written.
func (s *Stats) AddBytes(n int) {
	s.Bytes.Add(n)
	bytesTotal.Add(n)
}

// AddRetry counts a re-sent batch.
func (s *Stats) AddRetry() {
	s.Retries.Inc()
	retriesTotal.Inc()
}

// AddDropped counts n lost messages.
func (s *Stats) AddDropped(n int) {
	s.Dropped.Add(n)
	droppedTotal.Add(n)
}

// SetError records the last error seen (nil clears nothing: errors stay
// until the next one, for the status endpoint).
func (s *Stats) SetError(err error) {
	if err != nil {
		e := err.Error()
		s.lastErr.Store(&e)
	}
}

// LastError is the last error recorded, or "".
func (s *Stats) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

package drain

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// drainSet holds every per-drain series, so each family is written once per
// scrape (one Set per family: DEPENDENCIES.md, metrics gotcha 1).
var drainSet = metrics.NewSet()

func init() { metrics.RegisterSet(drainSet) }

// Totals over all drains of this node.
var (
	deliveredTotal = metrics.NewCounter(`logplex_drain_delivered_total`)
	droppedTotal   = metrics.NewCounter(`logplex_drain_dropped_total`)
)

// Stats are one drain's counters, exported as series labelled with its id
// and type while it runs. Senders update them once per batch.
type Stats struct {
	names     []string
	Delivered *metrics.Counter // messages the endpoint accepted
	Dropped   *metrics.Counter // messages lost: overflow, permanent failure, retries exhausted
	Retries   *metrics.Counter // re-sent batches
	Bytes     *metrics.Counter // bytes written (after compression)
	Latency   *metrics.PrometheusHistogram
	lastErr   atomic.Pointer[string]
}

var statsMu sync.Mutex // NewCounter panics on duplicates: serialise create/remove

func newStats(id int64, kind string, buf *Buffer) *Stats {
	statsMu.Lock()
	defer statsMu.Unlock()
	l := fmt.Sprintf(`{drain_id="%d",drain_type=%q}`, id, kind)
	s := &Stats{names: []string{
		"logplex_drain_messages_delivered_total" + l, "logplex_drain_messages_dropped_total" + l,
		"logplex_drain_retries_total" + l, "logplex_drain_bytes_total" + l,
		"logplex_drain_request_duration_seconds" + l, "logplex_drain_buffer_depth" + l,
	}}
	s.Delivered = drainSet.GetOrCreateCounter(s.names[0])
	s.Dropped = drainSet.GetOrCreateCounter(s.names[1])
	s.Retries = drainSet.GetOrCreateCounter(s.names[2])
	s.Bytes = drainSet.GetOrCreateCounter(s.names[3])
	s.Latency = drainSet.GetOrCreatePrometheusHistogram(s.names[4])
	drainSet.GetOrCreateGauge(s.names[5], func() float64 { _, _, n := buf.Stats(); return float64(n) })
	return s
}

func (s *Stats) remove() {
	statsMu.Lock()
	defer statsMu.Unlock()
	for _, n := range s.names {
		drainSet.UnregisterMetric(n)
	}
}

// AddDelivered counts n delivered messages.
func (s *Stats) AddDelivered(n int) {
	s.Delivered.Add(n)
	deliveredTotal.Add(n)
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

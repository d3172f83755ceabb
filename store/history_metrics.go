package store

import "github.com/VictoriaMetrics/metrics"

// The history counters every Spool adds to (Redis shards and the embedded
// store alike), once per batch.
var (
	// HistoryWritten counts messages written to channel history.
	HistoryWritten = metrics.NewCounter(`logplex_history_written_total`)
	// HistoryDropped counts messages not written to history (a full
	// queue, a store error).
	HistoryDropped = metrics.NewCounter(`logplex_history_dropped_total`)
)

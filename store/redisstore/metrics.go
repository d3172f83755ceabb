package redisstore

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/store"
)

// Package-level metrics, summed over every Spool and Config of the process.
var (
	historyWritten = store.HistoryWritten // shared with the embedded store
	historyDropped = store.HistoryDropped
	// redisErrors counts failed round trips to Redis (a failed spool
	// pipeline counts once) and failed config calls.
	redisErrors = metrics.NewCounter(`logplex_redis_errors_total`)

	// one pipelined flush of a history writer: its duration and its messages
	historyFlushSeconds  = metrics.NewPrometheusHistogram(`logplex_history_flush_duration_seconds`)
	historyFlushMessages = metrics.NewPrometheusHistogramExt(`logplex_history_flush_messages`,
		[]float64{1, 10, 100, 1000, 10000, 100000})

	queuedBatches atomic.Int64
	_             = metrics.NewGauge(`logplex_history_queue_batches`,
		func() float64 { return float64(queuedBatches.Load()) })
)

package redisstore

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Package-level metrics, summed over every Spool and Config of the process.
var (
	historyWritten = metrics.NewCounter(`logplex_history_written_total`)
	historyDropped = metrics.NewCounter(`logplex_history_dropped_total`)
	// redisErrors counts failed round trips to Redis (a failed spool
	// pipeline counts once) and failed config calls.
	redisErrors = metrics.NewCounter(`logplex_redis_errors_total`)

	queuedBatches atomic.Int64
	_             = metrics.NewGauge(`logplex_history_queue_batches`,
		func() float64 { return float64(queuedBatches.Load()) })
)

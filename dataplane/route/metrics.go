package route

import "github.com/VictoriaMetrics/metrics"

// Logplex's message counters (docs/logplex.md §6.6) as Prometheus counters, added to
// once per batch.
var (
	messagesReceived  = metrics.NewCounter(`logplex_message_received_total`)
	messagesProcessed = metrics.NewCounter(`logplex_message_processed_total`)
	messagesMalformed = metrics.NewCounter(`logplex_message_received_malformed_total`)
	unknownToken      = metrics.NewCounter(`logplex_unknown_token_total`)
	unknownChannel    = metrics.NewCounter(`logplex_unknown_channel_total`)
	// drainUnparsable counts messages for HTTP drains that the drain parser
	// rejects (docs/logplex.md §3.1 step 5): history and tails have them, no drain does.
	drainUnparsable  = metrics.NewCounter(`logplex_drain_unparsable_total`)
	batchesProcessed = metrics.NewCounter(`logplex_message_batch_processed_total`)
	batchMessages    = metrics.NewPrometheusHistogramExt(`logplex_message_batch_messages`,
		[]float64{1, 10, 100, 1000, 10000})
)

func (c *counts) publish() {
	if c.received > 0 {
		messagesReceived.AddInt64(c.received)
	}
	if c.processed > 0 {
		messagesProcessed.AddInt64(c.processed)
	}
	if c.malformed > 0 {
		messagesMalformed.AddInt64(c.malformed)
	}
	if c.unknownToken > 0 {
		unknownToken.AddInt64(c.unknownToken)
	}
	if c.unknownChannel > 0 {
		unknownChannel.AddInt64(c.unknownChannel)
	}
	if c.drainUnparsable > 0 {
		drainUnparsable.AddInt64(c.drainUnparsable)
	}
	batchesProcessed.Inc()
	batchMessages.Update(float64(c.received + c.malformed + c.unknownToken))
}

// Counters is a read-out of the routing counters (for tests and stats lines).
type Counters struct {
	Received, Processed, Malformed, UnknownToken, UnknownChannel, DrainUnparsable uint64
}

// ReadCounters returns the routing counters' current values.
func ReadCounters() Counters {
	return Counters{Received: messagesReceived.Get(), Processed: messagesProcessed.Get(),
		Malformed: messagesMalformed.Get(), UnknownToken: unknownToken.Get(), UnknownChannel: unknownChannel.Get(),
		DrainUnparsable: drainUnparsable.Get()}
}

// CountUnknownToken counts tokens that were not found outside a batch (a
// /logs request authorised with an unknown token).
func CountUnknownToken(n int) { unknownToken.Add(n) }

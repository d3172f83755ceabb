package drain

import (
	"sync"
	"time"
)

// DrainStatus is a drain's state for the status endpoint. It is the same
// for every kind of drain: the counters come from Stats and the Buffer,
// Connected and Degraded from the sender while it runs.
type DrainStatus struct {
	Delivered uint64 `json:"delivered"`  // messages the endpoint accepted
	Dropped   uint64 `json:"dropped"`    // messages lost: overflow, permanent failure, retries exhausted
	Retries   uint64 `json:"retries"`    // frames re-sent
	Bytes     uint64 `json:"bytes"`      // bytes written (after compression)
	Buffered  int    `json:"buffered"`   // messages waiting, including a frame being sent or retried
	LastError string `json:"last_error"` // the last error seen, "" if none
	Connected bool   `json:"connected"`  // a connection to the endpoint is open
	Degraded  bool   `json:"degraded"`   // the buffer is shrunk (or the drain has never delivered) after failures
	// Spilled are the messages in the drain's disk spill (counted in
	// Buffered too), and SpillLagSeconds the age of the oldest of them:
	// how far its catch-up is behind. Absent without a spill.
	Spilled         int64   `json:"spilled,omitempty"`
	SpillLagSeconds float64 `json:"spill_lag_seconds,omitempty"`
}

// statusSource is what a running sender adds to its drain's status.
type statusSource interface {
	fillStatus(st *DrainStatus)
}

// statusSources maps a running *Drain to its sender: senders register
// when they run and unregister when they finish or are let go, and a
// sender let go removes only itself (CompareAndDelete), never the
// successor a new message may already have made.
var statusSources sync.Map

// setStatusSource registers the sender of d; senders call it when run
// starts and clearStatusSource when it returns.
func setStatusSource(d *Drain, s statusSource) { statusSources.Store(d, s) }

func clearStatusSource(d *Drain) { statusSources.Delete(d) }

// Status returns the drain's counters and state; safe from any goroutine.
func (d *Drain) Status() DrainStatus {
	var st DrainStatus
	if d.Stats != nil {
		st.Delivered = d.Stats.Delivered.Get()
		st.Dropped = d.Stats.Dropped.Get()
		st.Retries = d.Stats.Retries.Get()
		st.Bytes = d.Stats.Bytes.Get()
		st.LastError = d.Stats.LastError()
	}
	if d.Buf != nil {
		_, _, st.Buffered = d.Buf.Stats()
		if sp := d.Buf.sp; sp != nil {
			ss := sp.status(time.Now())
			st.Spilled, st.SpillLagSeconds = ss.Messages, float64(int64(ss.LagSeconds*1000))/1000
		}
	}
	if s, ok := statusSources.Load(d); ok {
		s.(statusSource).fillStatus(&st)
	}
	return st
}

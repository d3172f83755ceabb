// Package drain delivers a channel's messages to its drains: one Drain per
// configured drain URL on this node, each with a bounded drop-oldest buffer
// (spec §5.3) and one sender goroutine — HTTP(S) batches (http.go) or
// octet-counted syslog over TCP/TLS (syslog.go). The Manager starts, restarts
// and stops Drains to match each config snapshot, and gives the router a
// lock-free channel → drains table.
//
//	route.Batch.Flush ──PushBatch (one lock per drain per batch)──► Buffer ──► sender goroutine ──► endpoint
//
// Messages enter as cooked syslog (token already rewritten); senders format
// them for the wire (frame.ParseDrain + AppendHTTPDrain / AppendSyslogDrain)
// off the ingest path.
//
// drain imports frame, ringbuf, config, fasthttp and klauspost/compress.
package drain

import (
	"context"
	"sync"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/ringbuf"
)

// Span is one message in a shared batch buffer: buf[Off:End].
type Span struct{ Off, End uint32 }

// Buffer is a drain's bounded message buffer: producers push batches under a
// short lock and wake the sender; the sender takes messages out under the
// same lock. Dropping the oldest on overflow is counted (Loss) for the L10
// notice.
type Buffer struct {
	mu   sync.Mutex
	ring *ringbuf.Ring
	wake chan struct{} // capacity 1: "there is something to send"
	// drops counts messages displaced on overflow, for metrics (the ring's
	// loss counter is reset when a notice reports it).
	drops  uint64
	pushed uint64
}

// NewBuffer returns a buffer of size messages.
func NewBuffer(size int) *Buffer {
	return &Buffer{ring: ringbuf.NewRing(size), wake: make(chan struct{}, 1)}
}

// PushBatch copies the spans of buf in, in order, dropping the oldest when
// full. buf is only read during the call.
func (b *Buffer) PushBatch(buf []byte, spans []Span, now int64) {
	b.mu.Lock()
	for _, s := range spans {
		if b.ring.Push(buf[s.Off:s.End], now) {
			b.drops++
		}
	}
	b.pushed += uint64(len(spans))
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Push copies one message in (used for notices and tests).
func (b *Buffer) Push(msg []byte, now int64) {
	b.PushBatch(msg, []Span{{0, uint32(len(msg))}}, now)
}

// Wake is signalled (capacity 1) whenever messages were pushed.
func (b *Buffer) Wake() <-chan struct{} { return b.wake }

// With runs fn with the ring under the buffer's lock; fn must not block.
func (b *Buffer) With(fn func(r *ringbuf.Ring)) {
	b.mu.Lock()
	fn(b.ring)
	b.mu.Unlock()
}

// Size returns the message bytes held now.
func (b *Buffer) Size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ring.Size()
}

// Stats returns messages pushed, dropped on overflow so far, and held now.
func (b *Buffer) Stats() (pushed, dropped uint64, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pushed, b.drops, b.ring.Len()
}

// sender is the goroutine body of one drain kind. run delivers from buf
// until ctx ends; then it flushes what it can before flushCtx ends.
type sender interface {
	run(ctx, flushCtx context.Context)
}

// Drain is one running drain on this node.
type Drain struct {
	Config *config.Drain
	URL    *config.DrainURL
	Buf    *Buffer
	Stats  *Stats // the sender sets it up (newStats) and updates it per batch

	cancel      context.CancelFunc // stops delivery and starts the final flush
	flushCancel context.CancelFunc // ends the final flush
	done        chan struct{}
}

// PushBatch hands messages to the drain (see Buffer.PushBatch).
func (d *Drain) PushBatch(buf []byte, spans []Span, now int64) { d.Buf.PushBatch(buf, spans, now) }

// stop ends delivery, lets the sender flush for at most grace, and waits.
func (d *Drain) stop(grace time.Duration) {
	d.cancel()
	t := time.AfterFunc(grace, d.flushCancel)
	<-d.done
	t.Stop()
	d.flushCancel()
	if d.Stats != nil {
		d.Stats.remove()
	}
}

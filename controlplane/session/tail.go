package session

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/logplex/logplex/frame"
)

// ErrTooManyTails: the node's tail session limits are reached; the client
// should retry later.
var ErrTooManyTails = errors.New("too many tail sessions")

// TailSource delivers a channel's live messages to sessions (docs/logplex.md §7). The
// data plane's tail bus implements it (in-process for `logplex all`, Redis
// pub/sub across nodes); the control plane only consumes it.
type TailSource interface {
	// Subscribe registers a tail for channelID; ctx bounds the registration
	// only (the Tail lives until Close). Every cooked message ingested for
	// the channel after Subscribe returns is offered to the Tail. A session
	// subscribes before it reads history, so no message falls between the
	// two (some may appear in both).
	Subscribe(ctx context.Context, channelID string) (Tail, error)
}

// Tail is one live subscription. It buffers a bounded number of messages
// and drops the oldest when the reader is slow, counting them.
type Tail interface {
	// Next blocks until messages are available, ctx ends (ctx.Err()) or the
	// source ends the tail (io.EOF).
	Next(ctx context.Context) (TailBatch, error)
	// Close unregisters the tail; Next must not be called afterwards.
	Close() error
}

// TailBatch is what Tail.Next returns.
type TailBatch struct {
	// Msgs are cooked messages, oldest first; valid until the next call of
	// Next.
	Msgs [][]byte
	// Dropped messages were lost before Msgs, the first of them at
	// DroppedSince: the session's buffer overflowed, or the tail bus could
	// not deliver them (a data plane's PUBLISH failed or reached nobody
	// while the subscription was re-established); reported to the client as
	// an L11 line.
	Dropped      int
	DroppedSince time.Time
}

// Follow writes the tail's messages to w as session lines, filtered by sp,
// calling flush after each batch, until ctx ends, the tail ends or a write
// fails. It returns nil when the tail ended or ctx was cancelled.
func Follow(ctx context.Context, t Tail, sp Spec, w io.Writer, flush func()) error {
	var buf []byte
	for {
		b, err := t.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		buf = AppendTail(buf[:0], b, sp, time.Now())
		if len(buf) == 0 {
			continue
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		flush()
	}
}

// AppendTail appends the lines for one tail batch: the L11 line when
// messages were dropped (docs/logplex.md §3.4; it passes the filters like any line from
// source "logplex", ps "1"), then one line per parseable, matching message.
func AppendTail(dst []byte, b TailBatch, sp Spec, now time.Time) []byte {
	if b.Dropped > 0 && sp.Match(frame.Fields{Source: []byte("logplex"), PS: []byte("1")}) {
		dst = frame.AppendL11(dst, now, b.Dropped, b.DroppedSince)
	}
	for _, msg := range b.Msgs {
		if f, ok := frame.ParseSession(msg); ok && sp.Match(f) {
			dst = frame.AppendSessionLine(dst, f)
		}
	}
	return dst
}

package embedded

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/ringbuf"
	"github.com/logplex/logplex/store"
)

// Spool is the embedded history: a ring of the newest messages per channel.
type Spool struct {
	history int
	expiry  time.Duration

	mu    sync.Mutex
	rings map[string]*chanRing
	// Written counts messages stored; tests and metrics read it.
	Written atomic.Int64
}

type chanRing struct {
	ring    *ringbuf.Ring
	touched time.Time
}

// NewSpool keeps the newest history messages per channel (0: 1500) and
// forgets a channel's history after expiry without writes (0: a week).
func NewSpool(history int, expiry time.Duration) *Spool {
	if history <= 0 {
		history = 1500
	}
	if expiry <= 0 {
		expiry = 7 * 24 * time.Hour
	}
	return &Spool{history: history, expiry: expiry, rings: map[string]*chanRing{}}
}

// Write implements store.Spool: one lock per batch.
func (s *Spool) Write(b *store.HistoryBatch) {
	now := time.Now()
	s.mu.Lock()
	var last *chanRing
	lastCh := ""
	for i, m := range b.Msgs {
		if last == nil || m.Channel != lastCh {
			last = s.rings[m.Channel]
			if last == nil {
				last = &chanRing{ring: ringbuf.NewRing(s.history)}
				s.rings[m.Channel] = last
			}
			lastCh = m.Channel
			last.touched = now
		}
		last.ring.Push(b.Msg(i), 0)
	}
	s.mu.Unlock()
	s.Written.Add(int64(len(b.Msgs)))
	store.HistoryWritten.Add(len(b.Msgs))
	store.PutHistoryBatch(b)
}

// Range implements store.Spool.
func (s *Spool) Range(_ context.Context, channel string, num int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr := s.rings[channel]
	if cr == nil || num <= 0 {
		return nil, nil
	}
	if time.Since(cr.touched) > s.expiry {
		delete(s.rings, channel)
		return nil, nil
	}
	all := make([][]byte, 0, cr.ring.Len())
	cr.ring.Each(func(m []byte) { all = append(all, append([]byte(nil), m...)) })
	// newest first, at most num
	out := make([][]byte, 0, min(num, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < num; i-- {
		out = append(out, all[i])
	}
	return out, nil
}

// Close implements store.Spool.
func (s *Spool) Close() error { return nil }

package embedded

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/logplex/logplex/store"
)

// Bus is the in-process store.Bus of `logplex all`: both planes share one.
// Publish runs on the data plane's event loop, so it only copies the batch
// once (shared read-only by every subscriber) and pushes it into each
// subscriber's bounded TailQueue, which drops its oldest messages rather
// than wait. A subscription is active as soon as Subscribe returns.
type Bus struct {
	mu     sync.RWMutex
	subs   map[string][]*store.TailQueue // replaced, never modified, under mu
	closed bool
}

var _ store.Bus = (*Bus)(nil)

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[string][]*store.TailQueue{}} }

// errBusClosed is returned by Subscribe after Close.
var errBusClosed = errors.New("embedded bus: closed")

// Publish implements store.Bus: one read lock, one copy of msgs when the
// channel has subscribers, one push per subscriber.
func (b *Bus) Publish(channel string, msgs [][]byte) {
	b.mu.RLock()
	qs := b.subs[channel]
	b.mu.RUnlock()
	if len(qs) == 0 || len(msgs) == 0 {
		store.CountUnheard(len(msgs)) // tailed (registered), but its session is gone
		return
	}
	shared := store.ShareBatch(msgs)
	for _, q := range qs {
		q.Push(shared)
	}
}

// Subscribe implements store.Bus.
func (b *Bus) Subscribe(_ context.Context, channel string, q *store.TailQueue) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errBusClosed
	}
	b.subs[channel] = append(slices.Clip(b.subs[channel]), q)
	var once sync.Once
	return func() { once.Do(func() { b.remove(channel, q) }) }, nil
}

func (b *Bus) remove(channel string, q *store.TailQueue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	qs := slices.DeleteFunc(slices.Clone(b.subs[channel]), func(x *store.TailQueue) bool { return x == q })
	if len(qs) == 0 {
		delete(b.subs, channel)
	} else {
		b.subs[channel] = qs
	}
}

// Close implements store.Bus: every subscriber's queue ends.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch, qs := range b.subs {
		for _, q := range qs {
			q.End()
		}
		delete(b.subs, ch)
	}
	return nil
}

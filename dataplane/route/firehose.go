package route

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/store"
)

// Firehose copies every message whose token name is in Names, raw (token
// not rewritten), to the drains on this node of one of Channels, chosen
// uniformly at random per message (docs/logplex.md §8.1). The firehose channel's
// history and tails do not get them, and a message from a firehose channel
// is not posted to itself.
type Firehose struct {
	Channels []string
	Names    map[string]bool
	disabled atomic.Bool // the disable_firehose control rod

	posts []*metrics.Counter // logplex_firehose_post_total{channel}, by index in Channels
}

var firehoseMu sync.Mutex // GetOrCreateCounter per Firehose, once

// NewFirehose returns a firehose for the given channel ids and token names;
// nil when either list is empty.
func NewFirehose(channels, names []string) *Firehose {
	if len(channels) == 0 || len(names) == 0 {
		return nil
	}
	f := &Firehose{Channels: channels, Names: map[string]bool{}}
	for _, n := range names {
		f.Names[n] = true
	}
	firehoseMu.Lock()
	defer firehoseMu.Unlock()
	for _, id := range channels {
		f.posts = append(f.posts, metrics.GetOrCreateCounter(fmt.Sprintf(`logplex_firehose_post_total{channel=%q}`, id)))
	}
	return f
}

// SetFirehose installs f (nil: none); call before traffic flows.
func (r *Router) SetFirehose(f *Firehose) { r.firehose = f }

// SetFirehoseDisabled is the disable_firehose control rod.
func (r *Router) SetFirehoseDisabled(on bool) {
	if r.firehose != nil {
		r.firehose.disabled.Store(on)
	}
}

// pick returns the index of a firehose channel for the next message:
// xorshift on the batch's own state, uniform over the channels.
func (b *Batch) pick(n int) int {
	x := b.rng
	if x == 0 {
		x = uint64(b.c.received)*0x9E3779B97F4A7C15 | 1
	}
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	b.rng = x
	return int((x >> 32) * uint64(n) >> 32)
}

// firehose posts msg raw to a chosen firehose channel's drains; from is the
// message's own channel.
func (b *Batch) firehose(msg []byte, from *config.Channel) {
	f := b.r.firehose
	if b.fire == nil {
		b.fire = make([]int64, len(f.Channels))
	}
	i := b.pick(len(f.Channels))
	if f.Channels[i] == from.ID {
		return
	}
	e := b.cache.fireChannel(i, len(f.Channels), f.Channels[i])
	if e.ch == nil {
		return
	}
	if e.batch != b.cache.batch {
		e.batch, e.gi = b.cache.batch, b.group(e)
	}
	if e.gi == 0 {
		return
	}
	g := &b.groups[e.gi-1]
	if g.cooked {
		if b.hist == nil {
			b.hist = store.GetHistoryBatch()
		}
		off := len(b.hist.Buf)
		b.hist.Buf = append(b.hist.Buf, msg...)
		g.spans = append(g.spans, drain.Span{Off: uint32(off), End: uint32(len(b.hist.Buf))})
	}
	if g.http { // b.head is msg's; the firehose gets it raw
		addHTTP(b, g, msg, msg[b.head.Start:b.head.End])
	}
	b.fire[i]++
}

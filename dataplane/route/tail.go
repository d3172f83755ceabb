package route

import "github.com/logplex/logplex/store"

// Tails (docs/logplex.md §7, docs/architecture.md "Tails across nodes"): a channel is tailed while the config
// snapshot holds a registration for it (config.Channel.Tailed, set by the
// control plane serving the session). Its messages then get a group in the
// batch, as for drains, and Flush publishes the group's messages to the
// bus in one call. An untailed channel costs one bool check per message;
// with no tail anywhere nothing else happens, and nothing is published.

// SetBus installs the tail bus (nil: no tails); call before traffic flows.
func (r *Router) SetBus(bus store.Bus) { r.bus = bus }

// publishTails hands each tailed channel's messages (slices of the batch
// buffer, read only during the call) to the bus: one Publish per channel
// per batch.
func (b *Batch) publishTails() {
	if !b.tails {
		return
	}
	for i := range b.groups {
		g := &b.groups[i]
		if !g.tail || len(g.spans) == 0 {
			continue
		}
		b.msgs = b.msgs[:0]
		for _, sp := range g.spans {
			b.msgs = append(b.msgs, b.hist.Buf[sp.Off:sp.End])
		}
		b.r.bus.Publish(g.ch.ID, b.msgs)
		clear(b.msgs) // keep no reference to the batch buffer
	}
	b.msgs = b.msgs[:0]
}

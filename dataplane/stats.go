package dataplane

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/dataplane/route"
)

// statsTotals are the counters a stats line reports, as running totals.
type statsTotals struct {
	msgs   route.Counters
	drains map[int64]drainTotals
}

type drainTotals struct {
	channel, kind      string
	delivered, dropped uint64
	buffered           int
}

// logStats writes Logplex's per-minute stats lines (docs/logplex.md §6.6) to w, at each
// wall-clock minute, with the counts of that minute:
//
//	m=logplex_stats ts=<unix> message_received=<n> message_processed=<n> …
//	m=logplex_stats ts=<unix> channel_id=<ch> drain_id=<id> drain_type=<t> drain_delivered=<n> drain_dropped=<n> drain_buffered=<n>
//
// A drain line is written only for a drain that delivered or dropped
// something in the minute or holds messages: Logplex's counters are reset
// every minute and exist only once incremented, so an idle drain has no
// line (and a node with 20 000 idle drains does not log 20 000 lines of
// zeros a minute).
func (d *DataPlane) logStats(ctx context.Context, w io.Writer) {
	prev := d.statsTotals()
	for {
		now := time.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		select {
		case <-time.After(next.Sub(now)):
		case <-ctx.Done():
			return
		}
		cur := d.statsTotals()
		writeStats(w, next.Unix(), prev, cur)
		prev = cur
	}
}

func (d *DataPlane) statsTotals() statsTotals {
	t := statsTotals{msgs: route.ReadCounters(), drains: map[int64]drainTotals{}}
	d.Drains.Each(func(dr *drain.Drain) {
		st := dr.Status()
		t.drains[dr.Config.ID] = drainTotals{channel: dr.Config.ChannelID, kind: drain.TypeName(dr.URL.Kind),
			delivered: st.Delivered, dropped: st.Dropped, buffered: st.Buffered}
	})
	return t
}

// writeStats writes the lines for the minute between prev and cur.
func writeStats(w io.Writer, ts int64, prev, cur statsTotals) {
	m, p := cur.msgs, prev.msgs
	fmt.Fprintf(w, "m=logplex_stats ts=%d message_received=%d message_processed=%d message_received_malformed=%d unknown_token=%d unknown_channel=%d\n",
		ts, m.Received-p.Received, m.Processed-p.Processed, m.Malformed-p.Malformed,
		m.UnknownToken-p.UnknownToken, m.UnknownChannel-p.UnknownChannel)
	var ids []int64
	for id, c := range cur.drains {
		o := prev.drains[id] // zero for a drain new this minute
		if c.delivered != o.delivered || c.dropped != o.dropped || c.buffered != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // in drain order, as an operator reads them
	for _, id := range ids {
		c, o := cur.drains[id], prev.drains[id]
		fmt.Fprintf(w, "m=logplex_stats ts=%d channel_id=%s drain_id=%d drain_type=%s drain_delivered=%d drain_dropped=%d drain_buffered=%d\n",
			ts, c.channel, id, c.kind, c.delivered-o.delivered, c.dropped-o.dropped, c.buffered)
	}
}

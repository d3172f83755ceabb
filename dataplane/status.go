package dataplane

import (
	"context"
	"encoding/json"
	"time"

	"github.com/logplex/logplex/dataplane/drain"
)

// statusRefresh is how long a drain whose figures do not change goes
// without its status document being written again. A document lives
// statusRefresh plus three report intervals; the node's alive mark, written
// on every report, lives three intervals, so a stopped node drops out as
// fast as before while idle drains cost nothing between refreshes.
const statusRefresh = 10 * time.Minute

// statusReporter remembers what was last reported of each drain.
type statusReporter struct {
	last map[int64]reported
}

type reported struct {
	st drain.DrainStatus
	at time.Time
}

// publishStatus reports this node's drains to the status board every
// StatusInterval: the documents of the drains whose figures changed (or
// that near the end of their TTL) and the node's alive mark, so the control
// plane's drain status endpoint can sum the live nodes.
func (d *DataPlane) publishStatus(ctx context.Context) {
	if d.opts.StatusBoard == nil {
		return
	}
	t := time.NewTicker(d.opts.StatusInterval)
	defer t.Stop()
	r := &statusReporter{last: map[int64]reported{}}
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		d.putStatus(ctx, r, time.Now())
	}
}

func (d *DataPlane) putStatus(ctx context.Context, r *statusReporter, now time.Time) {
	docs, next := r.changed(d.Drains, now)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	interval := d.opts.StatusInterval
	if err := d.opts.StatusBoard.PutDrainStatus(cctx, d.opts.NodeName, docs, statusRefresh+3*interval, 3*interval); err != nil {
		d.log.Debug("drain status not published", "err", err)
		return // reported again next time: r.last is unchanged
	}
	r.last = next
}

// changed returns the documents of the drains whose status differs from
// what was last reported or was reported statusRefresh ago or more, and
// what r.last becomes once they are stored (drains gone are forgotten).
func (r *statusReporter) changed(drains *drain.Manager, now time.Time) (map[int64][]byte, map[int64]reported) {
	docs := map[int64][]byte{}
	next := make(map[int64]reported, len(r.last))
	drains.Each(func(dr *drain.Drain) {
		st, id := dr.Status(), dr.Config.ID
		if p, ok := r.last[id]; ok && p.st == st && now.Sub(p.at) < statusRefresh {
			next[id] = p
			return
		}
		if b, err := json.Marshal(st); err == nil {
			docs[id] = b
			next[id] = reported{st: st, at: now}
		}
	})
	return docs, next
}

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

// statusReporter remembers what was last reported of each drain. A round
// costs what changed, not how many drains run: it looks only at the drains
// the manager hands out as maybe changed (drain.Manager.EachChanged), at
// those whose last put failed, and at those whose document is due for its
// refresh (due, oldest first), so an idle drain is looked at once per
// statusRefresh.
type statusReporter struct {
	last map[int64]reported
	// due has one entry per drain of last: its refresh falls due
	// statusRefresh after at. An entry older than the drain's last report
	// (it was reported since, having changed) is put back with that
	// report's time when it comes up, rather than moved on every report.
	due dueHeap
	// unsent are the drains whose documents the last put failed to
	// store: looked at again next round (what they were is in last).
	unsent []int64
	looked int // Status calls, for tests
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

// putStatus makes one report: the documents of changed(), and the alive
// mark (also when there are none). It returns the documents, stored or
// not.
func (d *DataPlane) putStatus(ctx context.Context, r *statusReporter, now time.Time) map[int64][]byte {
	docs, next := r.changed(d.Drains, now)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	interval := d.opts.StatusInterval
	if err := d.opts.StatusBoard.PutDrainStatus(cctx, d.opts.NodeName, docs, statusRefresh+3*interval, 3*interval); err != nil {
		d.log.Debug("drain status not published", "err", err)
		// Reported again next time: last still holds what the board has
		// (a changed drain differs from it; a refresh is still due).
		r.unsent = r.unsent[:0]
		for id := range docs {
			r.unsent = append(r.unsent, id)
		}
		return docs
	}
	for _, p := range next {
		if _, ok := r.last[p.id]; !ok {
			r.due.push(dueEntry{id: p.id, at: now}) // a refresh pops and pushes its own
		}
		r.last[p.id] = p.reported
	}
	return docs
}

// pending is a document of this round, for last once it is stored.
type pending struct {
	id int64
	reported
}

// changed returns the documents of the drains whose status differs from
// what was last reported or was reported statusRefresh ago or more, and
// what last becomes for them once they are stored. Of the drains whose
// refresh falls due, those gone are forgotten.
func (r *statusReporter) changed(drains *drain.Manager, now time.Time) (map[int64][]byte, []pending) {
	if r.last == nil {
		r.last = map[int64]reported{}
	}
	docs := map[int64][]byte{}
	var next []pending
	look := func(dr *drain.Drain) {
		id := dr.Config.ID
		if _, ok := docs[id]; ok {
			return
		}
		st := dr.Status()
		r.looked++
		if p, ok := r.last[id]; ok && p.st == st && now.Sub(p.at) < statusRefresh {
			return
		}
		if b, err := json.Marshal(st); err == nil {
			docs[id] = b
			next = append(next, pending{id: id, reported: reported{st: st, at: now}})
		}
	}
	for _, id := range r.unsent {
		if dr := drains.Drain(id); dr != nil {
			look(dr)
		}
	}
	r.unsent = r.unsent[:0]
	drains.EachChanged(look)
	for len(r.due) > 0 && now.Sub(r.due[0].at) >= statusRefresh {
		e := r.due.pop()
		p, ok := r.last[e.id]
		switch {
		case !ok: // forgotten
		case !p.at.Equal(e.at): // reported since: due later (or now, if that too was long ago)
			r.due.push(dueEntry{id: e.id, at: p.at})
		default:
			dr := drains.Drain(e.id)
			if dr == nil {
				delete(r.last, e.id) // gone: its document expires
				continue
			}
			look(dr) // reported: it was statusRefresh ago
			// Its next refresh: from now once stored; if the put fails,
			// the entry comes up with last's older time and is put back.
			r.due.push(dueEntry{id: e.id, at: now})
		}
	}
	return docs, next
}

// dueEntry is a drain whose document is refreshed statusRefresh after at.
type dueEntry struct {
	id int64
	at time.Time
}

// dueHeap is a min-heap of dueEntry by at (container/heap would box every
// entry it is given).
type dueHeap []dueEntry

func (h *dueHeap) push(e dueEntry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].at.Before(s[p].at) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *dueHeap) pop() dueEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && s[l].at.Before(s[m].at) {
			m = l
		}
		if l+1 < n && s[l+1].at.Before(s[m].at) {
			m = l + 1
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

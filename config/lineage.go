package config

import (
	"slices"
	"sync/atomic"
)

// A consumer that keeps state derived from the drains of a snapshot (the
// data plane's drain manager: its running drains and channel → drains
// table) would otherwise compare every drain of each new snapshot with that
// state, O(all drains) for a batch that changed one. A snapshot made by With
// remembers what the batches that made it from its recent ancestors touched
// (its lineage), so such a consumer handles only those
// (DrainChangesSince).
//
// The lineage names ancestors by number (seq), not by pointer: a pointer
// would keep every ancestor alive. It is a list of steps, newest first,
// shared by the snapshots of one line (a child adds one step in front of its
// parent's), bounded in steps and in ids held; past a bound, extend starts a
// new list with the newest half, so the oldest steps are freed once the
// snapshots using them are.

// snapSeq numbers snapshots (from 1; 0 is a snapshot not made by Empty,
// Build or With, which no lineage names).
var snapSeq atomic.Uint64

const (
	// maxLineageSteps is how many batches back a snapshot remembers: at
	// ~20 batches a second, a consumer that fell ~12 s behind (a drain
	// stopping for its flush grace) still finds its snapshot.
	maxLineageSteps = 256
	// maxLineageIDs bounds the drain and channel ids the steps hold in all;
	// a batch touching more is not remembered (comparing everything costs
	// about as much then).
	maxLineageIDs = 8192
)

// step is what one With changed for drains.
type step struct {
	parent   uint64   // seq of the snapshot the batch was applied to
	drains   []int64  // ids of the drains the batch set or deleted, sorted, no repeats
	channels []string // ids of the channels it set or deleted, sorted, no repeats
	prev     *step    // the step that made the parent; nil: not remembered
	steps    int      // steps from this one to the oldest remembered, this one included
	ids      int      // drain and channel ids of those steps
}

func (st *step) size() int { return len(st.drains) + len(st.channels) }

// extend returns the lineage of the snapshot made by st from a snapshot of
// lineage from: st in front of from, within the bounds. Past a bound it
// copies the newest steps that fit in half the bounds (st always) into a new
// list, so the cost is bounded by the constants, never by the config.
func extend(from, st *step) *step {
	if st.size() > maxLineageIDs {
		return nil
	}
	st.prev, st.steps, st.ids = from, 1, st.size()
	if from != nil {
		st.steps, st.ids = from.steps+1, from.ids+st.size()
	}
	if st.steps <= maxLineageSteps && st.ids <= maxLineageIDs {
		return st
	}
	kept := []*step{st}
	n := st.size()
	for p := st.prev; p != nil && len(kept) < maxLineageSteps/2 && n+p.size() <= maxLineageIDs/2; p = p.prev {
		kept = append(kept, p)
		n += p.size()
	}
	var line *step
	for _, p := range slices.Backward(kept) {
		c := &step{parent: p.parent, drains: p.drains, channels: p.channels, prev: line, steps: 1, ids: p.size()}
		if line != nil {
			c.steps, c.ids = line.steps+1, line.ids+c.size()
		}
		line = c
	}
	return line
}

// DrainChangesSince returns what may differ for drains between prev and s
// when s was made from prev by With, directly or through later batches it
// remembers: the ids of the drains those batches set or deleted, and the
// ids of the channels they set or deleted (a channel created or deleted
// matters to a drain that names it). Every other drain of s is the same
// *Drain as in prev, and every other channel exists in both or in neither.
// prev == s has no changes. ok is false when s does not remember prev (a
// full load, another line of snapshots, too many batches back): the caller
// must then compare everything. The slices are sorted, without repeats,
// and must not be modified.
func (s *Snapshot) DrainChangesSince(prev *Snapshot) (ids []int64, channels []string, ok bool) {
	if s == nil || prev == nil {
		return nil, nil, false
	}
	if prev == s {
		return nil, nil, true
	}
	if prev.seq == 0 {
		return nil, nil, false
	}
	var oldest *step
	for st := s.lineage; st != nil; st = st.prev {
		if st.parent == prev.seq {
			oldest = st
			break
		}
	}
	switch oldest {
	case nil:
		return nil, nil, false
	case s.lineage:
		return oldest.drains, oldest.channels, true
	}
	for st := s.lineage; ; st = st.prev {
		ids, channels = append(ids, st.drains...), append(channels, st.channels...)
		if st == oldest {
			break
		}
	}
	slices.Sort(ids)
	slices.Sort(channels)
	return slices.Compact(ids), slices.Compact(channels), true
}

// ChannelDrains returns the drains that name channel id, sorted by id,
// whether the channel exists or not (a drain may be stored before its
// channel, or outlive it). The slice must not be modified.
func (s *Snapshot) ChannelDrains(id string) []*Drain {
	if c := s.channels.get(id); c != nil {
		return c.Drains
	}
	return nil
}

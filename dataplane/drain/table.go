package drain

import (
	"maps"
	"slices"
)

// tableShards splits a Table so that a config change copies only the shards
// of the channels it touches (20 000 channels: ~300 each) instead of every
// channel's entry.
const tableShards = 64

// Table maps a channel id to its running drains, sorted by drain id. It is
// immutable once published: the manager makes the next one copy-on-write
// (tableEdit), sharing the shards and lists that did not change.
type Table struct {
	shards [tableShards]map[string][]*Drain
}

// tableShardOf is FNV-1a over the id's last 8 bytes (as config shards its
// maps: channel ids differ there).
func tableShardOf(id string) int {
	h := uint32(2166136261)
	for i := max(0, len(id)-8); i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % tableShards)
}

// NewTable returns the table of these channel → drains lists, each sorted
// by drain id. The lists must not be modified afterwards.
func NewTable(byChannel map[string][]*Drain) *Table {
	t := &Table{}
	for ch, ds := range byChannel {
		i := tableShardOf(ch)
		if t.shards[i] == nil {
			t.shards[i] = make(map[string][]*Drain, len(byChannel)/tableShards+1)
		}
		t.shards[i][ch] = ds
	}
	return t
}

func byID(a, b *Drain) int {
	switch {
	case a.Config.ID < b.Config.ID:
		return -1
	case a.Config.ID > b.Config.ID:
		return 1
	}
	return 0
}

// For returns the channel's drains in t (nil t: none), sorted by id;
// lock-free and without allocating. The slice must not be modified.
func (t *Table) For(id string) []*Drain {
	if t == nil {
		return nil
	}
	return t.shards[tableShardOf(id)][id]
}

// tableEdit makes the table that follows one with some drains removed and
// added: it copies the shards of the channels touched, and the lists of
// those channels, nothing else.
type tableEdit struct {
	from  *Table
	lists map[string][]*Drain // the new list of each channel touched
}

// list returns ch's new list, a copy of its list in from at first.
func (e *tableEdit) list(ch string) []*Drain {
	if l, ok := e.lists[ch]; ok {
		return l
	}
	if e.lists == nil {
		e.lists = map[string][]*Drain{}
	}
	l := slices.Clone(e.from.For(ch))
	e.lists[ch] = l
	return l
}

func (e *tableEdit) remove(d *Drain) {
	ch := d.Config.ChannelID
	e.lists[ch] = slices.DeleteFunc(e.list(ch), func(x *Drain) bool { return x == d })
}

func (e *tableEdit) add(d *Drain) {
	ch := d.Config.ChannelID
	e.lists[ch] = append(e.list(ch), d)
}

// table returns the new table: from itself when nothing was touched.
func (e *tableEdit) table() *Table {
	if len(e.lists) == 0 {
		return e.from
	}
	t := *e.from
	var cloned [tableShards]bool
	for ch, l := range e.lists {
		i := tableShardOf(ch)
		if !cloned[i] {
			t.shards[i], cloned[i] = maps.Clone(t.shards[i]), true
			if t.shards[i] == nil {
				t.shards[i] = map[string][]*Drain{}
			}
		}
		if len(l) == 0 {
			delete(t.shards[i], ch)
			continue
		}
		slices.SortFunc(l, byID)
		t.shards[i][ch] = slices.Clip(l)
	}
	return &t
}

package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Snapshot is an immutable view of the whole config at one version. It is
// never modified after it is built: With returns a new Snapshot sharing the
// unchanged entities, so a reader holding one (behind an atomic.Pointer)
// needs no lock.
type Snapshot struct {
	// Version is the change-feed position this snapshot includes ("" at start).
	Version string
	// ReadOnly is bit 0 of the control_rod bitmap: the legacy API is read-only cluster-wide.
	ReadOnly bool
	// Rods are the cluster-wide control rods (ControlRodsKey); read-only.
	Rods map[string]string

	channels shards[*Channel] // includes placeholders for ids only tokens/drains name
	tokens   shards[*Token]
	drains   idShards[*Drain]
	creds    shards[*Cred]
	tails    shards[tailSet] // channel id → live tail sessions (tails.go)

	seq     uint64 // this snapshot's number (lineage.go)
	lineage *step  // what the batches that made it from its ancestors changed (lineage.go)
}

// Empty returns a snapshot with no entities.
func Empty() *Snapshot {
	return &Snapshot{channels: newShards[*Channel](), tokens: newShards[*Token](),
		drains: sizedIDShards[*Drain](0), creds: newShards[*Cred](), tails: newShards[tailSet](), seq: snapSeq.Add(1)}
}

// Build returns the snapshot of a full set of stored hashes (keys that are not
// config entities are ignored).
//
// It is With on an empty snapshot whose maps are sized for the hashes
// beforehand (a full load of a large config spent a fifth of its time
// growing them). It has no lineage: a consumer compares it whole.
func Build(hashes map[string]Hash, readOnly bool, version string) *Snapshot {
	changes := make([]Change, 0, len(hashes))
	var channels, tokens, drains int
	for k, h := range hashes {
		changes = append(changes, Change{Key: k, Fields: h})
		switch {
		case strings.HasPrefix(k, "ch:"):
			channels++
		case strings.HasPrefix(k, "tok:"):
			tokens++
		case strings.HasPrefix(k, "drain:"):
			drains++
		}
	}
	prev := Empty()
	n := &Snapshot{Version: version, channels: sizedShards[*Channel](channels), tokens: sizedShards[*Token](tokens),
		drains: sizedIDShards[*Drain](drains), creds: prev.creds, tails: prev.tails, seq: snapSeq.Add(1)}
	b := newBuilder(n, channels, drains)
	for i := range nShards { // the presized maps are the builder's own
		b.channels.cloned[i], b.tokens.cloned[i], b.drains.cloned[i] = true, true, true
	}
	for _, c := range changes {
		b.apply(c)
	}
	b.rebuild(prev)
	n.ReadOnly = readOnly
	return n
}

// Channel returns the channel with this id, or nil.
func (s *Snapshot) Channel(id string) *Channel {
	c := s.channels.get(id)
	if c == nil || !c.present {
		return nil
	}
	return c
}

// Token returns the token with this id, or nil.
func (s *Snapshot) Token(id string) *Token { return s.tokens.get(id) }

// TokenBytes is Token for a byte-slice id, without allocating.
func (s *Snapshot) TokenBytes(id []byte) *Token { return s.tokens.getBytes(id) }

// Drain returns the drain with this id, or nil.
func (s *Snapshot) Drain(id int64) *Drain { return s.drains.get(id) }

// Cred returns the credential with this id, or nil.
func (s *Snapshot) Cred(id string) *Cred { return s.creds.get(id) }

// Counts of entities.
func (s *Snapshot) NumChannels() int { return s.channels.len() }
func (s *Snapshot) NumTokens() int   { return s.tokens.len() }
func (s *Snapshot) NumDrains() int   { return s.drains.len() }

// EachChannel calls fn for every channel (unordered) until fn returns false.
func (s *Snapshot) EachChannel(fn func(*Channel) bool) {
	for _, m := range s.channels {
		for _, c := range m {
			if c.present && !fn(c) {
				return
			}
		}
	}
}

// EachDrain calls fn for every drain (unordered) until fn returns false.
func (s *Snapshot) EachDrain(fn func(*Drain) bool) {
	for _, m := range s.drains {
		for _, d := range m {
			if !fn(d) {
				return
			}
		}
	}
}

// EachCred calls fn for every credential (unordered) until fn returns false.
func (s *Snapshot) EachCred(fn func(*Cred) bool) {
	for _, m := range s.creds {
		for _, c := range m {
			if !fn(c) {
				return
			}
		}
	}
}

// With returns a new snapshot with the changes applied in order. s is
// unchanged; the new snapshot shares every shard of its maps that the
// changes do not touch, and remembers what they changed for drains
// (DrainChangesSince).
func (s *Snapshot) With(changes []Change, version string) *Snapshot {
	n := &Snapshot{Version: version, ReadOnly: s.ReadOnly, Rods: s.Rods, channels: s.channels, tokens: s.tokens,
		drains: s.drains, creds: s.creds, tails: s.tails, seq: snapSeq.Add(1)}
	b := newBuilder(n, 0, 0)
	b.track = true
	for _, c := range changes {
		b.apply(c)
	}
	b.rebuild(s)
	if s.seq != 0 {
		n.lineage = extend(s.lineage, b.step(s.seq))
	}
	return n
}

// newBuilder returns a builder of n, its maps sized for about this many
// channels and drains.
func newBuilder(n *Snapshot, channels, drains int) *builder {
	return &builder{s: n, dirty: make(map[string]bool, channels), addTok: make(map[string][]*Token, channels),
		addDrain: make(map[string][]*Drain, drains),
		channels: cow[*Channel]{s: &n.channels}, tokens: cow[*Token]{s: &n.tokens}, tails: cow[tailSet]{s: &n.tails},
		drains: idCow[*Drain]{s: &n.drains}, creds: cow[*Cred]{s: &n.creds}}
}

type builder struct {
	s        *Snapshot
	channels cow[*Channel]
	tokens   cow[*Token]
	tails    cow[tailSet]
	drains   idCow[*Drain]
	creds    cow[*Cred]
	dirty    map[string]bool
	addTok   map[string][]*Token
	addDrain map[string][]*Drain
	chMeta   map[string]*Channel // new channel records (name/flags) in this batch
	track    bool                // record the drains changed (With; Build compares nothing)
	drainIDs []int64             // drains set or deleted, while track
}

// step returns what the batch changed for drains, applied to the snapshot
// numbered parent.
func (b *builder) step(parent uint64) *step {
	slices.Sort(b.drainIDs)
	st := &step{parent: parent, drains: slices.Clip(slices.Compact(b.drainIDs))}
	if len(b.chMeta) > 0 {
		st.channels = slices.Sorted(maps.Keys(b.chMeta))
	}
	return st
}

func (b *builder) apply(c Change) {
	if c.Key == ControlRodKey {
		b.s.ReadOnly = c.Fields["0"] == "1"
		return
	}
	kind, id, ok := ParseKey(c.Key)
	if !ok {
		return
	}
	switch kind {
	case "ch":
		b.dirty[id] = true
		if b.chMeta == nil {
			b.chMeta = map[string]*Channel{}
		}
		if c.Fields == nil {
			b.chMeta[id] = nil
		} else {
			b.chMeta[id] = channelFromHash(id, c.Fields)
		}
	case "tok":
		b.applyToken(id, c.Fields)
	case "drain":
		b.applyDrain(id, c.Fields)
	case "tail":
		b.applyTail(id, c.Fields)
	case "rods":
		b.s.Rods = map[string]string(c.Fields) // a whole new hash each write; nil when deleted
	case "cred":
		if c.Fields == nil {
			b.creds.del(id)
		} else {
			b.creds.set(id, credFromHash(id, c.Fields))
		}
	}
}

func (b *builder) applyToken(id string, h Hash) {
	if old := b.s.tokens.get(id); old != nil {
		b.dirty[old.ChannelID] = true
		b.tokens.del(id)
	}
	if h == nil {
		return
	}
	t := &Token{ID: id, ChannelID: h["ch"], Name: SafeTokenName(h["name"])}
	b.tokens.set(id, t)
	b.dirty[t.ChannelID] = true
	b.addTok[t.ChannelID] = append(b.addTok[t.ChannelID], t)
}

func (b *builder) applyDrain(idStr string, h Hash) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return
	}
	if b.track {
		b.drainIDs = append(b.drainIDs, id)
	}
	if old := b.s.drains.get(id); old != nil {
		b.dirty[old.ChannelID] = true
		b.drains.del(id)
	}
	if h == nil {
		return
	}
	d := drainFromHash(id, h)
	b.drains.set(id, d)
	b.dirty[d.ChannelID] = true
	b.addDrain[d.ChannelID] = append(b.addDrain[d.ChannelID], d)
}

// rebuild recomputes the token and drain lists of every channel touched,
// starting from the previous snapshot's lists.
func (b *builder) rebuild(prev *Snapshot) {
	for id := range b.dirty {
		old := prev.channels.get(id)
		c := &Channel{ID: id}
		if old != nil {
			cp := *old
			c = &cp
		}
		if meta, ok := b.chMeta[id]; ok {
			if meta == nil {
				*c = Channel{ID: id, Tokens: c.Tokens, Drains: c.Drains}
			} else {
				c.Name, c.Flags, c.NoRedis, c.NoTail, c.present = meta.Name, meta.Flags, meta.NoRedis, meta.NoTail, true
			}
		}
		c.Tokens = b.keptTokens(c.Tokens, b.addTok[id])
		c.Drains = b.keptDrains(c.Drains, b.addDrain[id])
		if !c.present && len(c.Tokens) == 0 && len(c.Drains) == 0 {
			b.channels.del(id)
			continue
		}
		b.channels.set(id, c)
	}
}

func (b *builder) keptTokens(old, add []*Token) []*Token {
	out := make([]*Token, 0, len(old)+len(add))
	for _, t := range old {
		if b.s.tokens.get(t.ID) == t {
			out = append(out, t)
		}
	}
	for _, t := range add {
		if b.s.tokens.get(t.ID) == t {
			out = append(out, t)
		}
	}
	sortTokens(out)
	return out
}

func (b *builder) keptDrains(old, add []*Drain) []*Drain {
	out := make([]*Drain, 0, len(old)+len(add))
	for _, d := range old {
		if b.s.drains.get(d.ID) == d {
			out = append(out, d)
		}
	}
	for _, d := range add {
		if b.s.drains.get(d.ID) == d {
			out = append(out, d)
		}
	}
	sortDrains(out)
	return out
}

package route

import (
	"encoding/binary"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
)

// caches is a Batch's memo of the lookups routing makes per message: the
// token of an app-name, a token's channel with its running drains and
// whether it is tailed, and a channel's group in the current batch. A hit
// costs a load and a compare instead of a hash and a map probe. The caches
// outlive the batch (the pooled Batch keeps them) and follow the snapshot
// and drain table the batch is bound to.
//
//	tokens   512 sets × 2 ways of tokEntry    app-name bytes → *config.Token
//	chans    512 sets × 2 ways of chanEntry   *config.Token → channel, drains, tailed, group hint
//	fire     one chanEntry per firehose channel
//	groups   open addressing, ≥ 2× the groups  *config.Channel → index in Batch.groups + 1
//
// The tokens set and the chans set both come from one product of the id's
// key (idKey: the last eight bytes of the id, random hex in a "t.<uuid>"
// token): the tokens set is its top 9 bits, the chans set the 9 bits below.
// Random ids share a direct-mapped slot often enough (a third of 100 tokens
// in 256 slots) to thrash, so both caches have two ways; a fill puts the
// newest in way 0 and moves the one it displaces to way 1.
//
// Invariants (TestCachesModel checks them against plain snapshot lookups):
//
//  1. An entry counts only when its gen equals gen. gen is never 0, so a
//     zeroed entry is empty.
//  2. Every counting entry was filled from the pair (snap, tab): bind starts
//     a new gen whenever the snapshot or the drain table differs from the
//     pair, so a swap of either empties every cache at once.
//  3. When gen wraps to 0 the tables are zeroed and gen restarts at 1: an
//     entry filled 2^32 generations ago cannot count again.
//  4. A counting tokEntry holds snap's token of that id (unknown ids are not
//     cached, so a token added later is found). A counting chanEntry for
//     tok holds ch = snap.Channel(tok.ChannelID), ch's drains in tab (nil
//     when ch lists none) and snap.Tailed(ch.ID); it is keyed by the token
//     pointer, so a token from another snapshot (AddForToken) gets its own
//     entry.
//  5. A chanEntry's group hint (gi) counts only when its batch equals batch,
//     the number of the batch being filled. batch is never 0 and a fill
//     sets batch 0; endBatch counts batches, and when batch wraps it starts
//     a new gen (so a hint of an earlier lap cannot count).
//  6. groups is empty between batches (endBatch clears the entries the
//     batch's groups name); within a batch it holds exactly the batch's
//     groups, each at the slot its group records (group.slot).
//
// route-only state lives here, not in config: config.Snapshot answers the
// questions (Token, Channel, Tailed) and the caches remember the answers.
type caches struct {
	snap *config.Snapshot // the pair the counting entries come from
	tab  *drain.Table
	gen  uint32 // never 0
	// batch numbers the batch being filled; never 0.
	batch  uint32
	tokens [tokenSets][2]tokEntry
	chans  [chanSets][2]chanEntry
	fire   []chanEntry // by index in Firehose.Channels (firehose.go)
	groups groupTable
}

// tokEntry is one entry of the token cache.
type tokEntry struct {
	tok *config.Token
	gen uint32
}

// chanEntry is one entry of the channel cache: tok's channel (nil: none)
// and what routing needs of it.
type chanEntry struct {
	tok    *config.Token
	ch     *config.Channel
	drains []*drain.Drain // ch's running drains in tab
	gen    uint32
	// batch and gi remember ch's group in the batch numbered batch:
	// index in Batch.groups + 1, 0 for none.
	batch, gi uint32
	tailed    bool   // snap.Tailed(ch.ID)
	key       uint64 // idKey of ch.ID, for the group table
}

// chanSets is the number of sets of the channel cache (a power of two;
// log2 is chanBits).
const chanSets, chanBits = 512, 9

// tokenSets is the number of sets of the token cache (a power of two; log2
// is tokenBits).
const tokenSets, tokenBits = 512, 9

// groupTableMin is the initial size of the group table (a power of two;
// log2 is groupTableBits).
const groupTableMin, groupTableBits = 512, 9

// init readies zeroed caches (gen and batch start at 1).
func (c *caches) init() {
	c.gen, c.batch = 1, 1
	c.groups.slots, c.groups.shift = make([]uint32, groupTableMin), 64-groupTableBits
}

// bind makes (snap, tab) the pair the caches answer for: a new gen unless
// it is the pair they hold (invariant 2).
func (c *caches) bind(snap *config.Snapshot, tab *drain.Table) {
	if snap != c.snap || tab != c.tab {
		c.snap, c.tab = snap, tab
		c.newGen()
	}
}

// newGen empties every cache (invariants 1 and 3).
func (c *caches) newGen() {
	if c.gen++; c.gen == 0 { // wrapped: entries of gen 1 may be old
		c.tokens = [tokenSets][2]tokEntry{}
		c.chans = [chanSets][2]chanEntry{}
		clear(c.fire)
		c.gen = 1
	}
}

// endBatch forgets the batch's groups (invariant 6; groups are the
// batch's) and starts the next batch (invariant 5).
func (c *caches) endBatch(groups []group) {
	for i := range groups {
		c.groups.slots[groups[i].slot] = 0
	}
	if c.batch++; c.batch == 0 { // wrapped: an entry's batch may match again
		c.batch = 1
		c.newGen()
	}
}

// idKey is the cache key of a token or channel id: its last eight bytes
// (little-endian; all of a shorter id), times a 64-bit odd constant
// (Fibonacci hashing: the top bits are well mixed).
func idKey(id []byte) uint64 {
	if n := len(id); n >= 8 {
		return binary.LittleEndian.Uint64(id[n-8:]) * 0x9E3779B97F4A7C15
	}
	var k uint64
	for i := len(id) - 1; i >= 0; i-- {
		k = k<<8 | uint64(id[i])
	}
	return k * 0x9E3779B97F4A7C15
}

// idKeyString is idKey of a string id (two functions, not one generic:
// both inline).
func idKeyString(id string) uint64 {
	var k uint64
	for i := len(id) - 1; i >= max(len(id)-8, 0); i-- {
		k = k<<8 | uint64(id[i])
	}
	return k * 0x9E3779B97F4A7C15
}

// token returns the token with this id in the bound snapshot, through the
// token cache; key is idKey(id). Unknown ids are not cached.
func (c *caches) token(id []byte, key uint64) *config.Token {
	set := &c.tokens[key>>(64-tokenBits)]
	if e := &set[0]; e.gen == c.gen && e.tok.ID == string(id) {
		return e.tok
	}
	if e := &set[1]; e.gen == c.gen && e.tok.ID == string(id) {
		return e.tok
	}
	tok := c.snap.TokenBytes(id)
	if tok != nil { // the newest in way 0, the one it displaces in way 1
		set[1], set[0] = set[0], tokEntry{tok: tok, gen: c.gen}
	}
	return tok
}

// channel returns the channel cache entry of tok (key is idKey(tok.ID)),
// filling it on a miss. The entry is valid until the next call.
func (c *caches) channel(tok *config.Token, key uint64) *chanEntry {
	set := &c.chans[(key>>(64-tokenBits-chanBits))&(chanSets-1)]
	if e := &set[0]; e.gen == c.gen && e.tok == tok {
		return e
	}
	if e := &set[1]; e.gen == c.gen && e.tok == tok {
		return e
	}
	set[1] = set[0]
	e := &set[0]
	c.fill(e, c.snap.Channel(tok.ChannelID))
	e.tok = tok
	return e
}

// fireChannel returns the entry of firehose channel i (id), of n.
func (c *caches) fireChannel(i, n int, id string) *chanEntry {
	if len(c.fire) != n {
		c.fire = make([]chanEntry, n)
	}
	e := &c.fire[i]
	if e.gen != c.gen {
		c.fill(e, c.snap.Channel(id))
	}
	return e
}

// fill sets e to ch (nil: none) in the bound pair, with no group hint.
func (c *caches) fill(e *chanEntry, ch *config.Channel) {
	*e = chanEntry{ch: ch, gen: c.gen}
	if ch != nil {
		e.drains = c.drainsOf(ch)
		e.tailed = c.snap.Tailed(ch.ID)
		e.key = idKeyString(ch.ID)
	}
}

// drainsOf returns ch's running drains in the bound drain table.
func (c *caches) drainsOf(ch *config.Channel) []*drain.Drain {
	if len(ch.Drains) == 0 {
		return nil
	}
	return c.tab.For(ch.ID)
}

// groupTable finds a channel's group in a batch in O(1): open addressing
// (linear probing) on idKey of the channel id; an entry is the group's
// index in Batch.groups + 1 (0: empty). Its length is a power of two at
// least twice the groups: it doubles as they grow, and the pooled batch
// keeps it.
type groupTable struct {
	slots []uint32
	shift uint // 64 - log2(len(slots))
}

// find returns the slot of ch (key: its idKey): the entry holding its group
// in groups, or the empty entry where it belongs.
func (t *groupTable) find(ch *config.Channel, key uint64, groups []group) int {
	mask := len(t.slots) - 1
	for i := int(key >> t.shift); ; i = (i + 1) & mask {
		if e := t.slots[i]; e == 0 || groups[e-1].ch == ch {
			return i
		}
	}
}

// add enters the last of groups, whose slot find returned, and grows the
// table when it is half full.
func (t *groupTable) add(slot int, groups []group) {
	t.slots[slot] = uint32(len(groups))
	if 2*len(groups) > len(t.slots) {
		t.grow(groups)
	}
}

// grow doubles the table and enters every group again.
func (t *groupTable) grow(groups []group) {
	t.slots, t.shift = make([]uint32, 2*len(t.slots)), t.shift-1
	for i := range groups {
		g := &groups[i]
		g.slot = t.find(g.ch, g.key, groups)
		t.slots[g.slot] = uint32(i + 1)
	}
}

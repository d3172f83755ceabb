// Package route turns parsed frames into deliveries: it looks the token up in
// the current config snapshot (lock-free), rewrites the APP-NAME field from
// token id to token name while copying the message once into a pooled batch,
// and hands whole batches to history, drains and tails. One Batch serves one
// read or one request: the per-message path takes no lock, makes no
// allocation and no interface call.
//
//	frame ─► Batch.AddByAppName / AddForToken ─► Batch.Flush ─┬► Buffer.PushRun   (one lock per drain per batch)
//	          (cooked copy into the batch buffer,               ├► Bus.Publish     (one call per tailed channel, tail.go)
//	           and/or the HTTP drain frame into                 └► Spool.Write     (one call per batch)
//	           the frame buffer; grouped per channel)
//
// A message is copied where it is needed: cooked into the batch buffer for
// history, tails and syslog drains, and formatted as an HTTP drain frame into
// the group's frame buffer (drain.FormHTTP) for HTTP drains, once however
// many there are, back to back so that a drain takes them in one copy; a
// channel with only HTTP drains and no history costs one copy.
//
// route imports frame, config, store, dataplane/drain and the standard library.
package route

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/store"
)

// Router routes batches of messages with the newest config snapshot.
type Router struct {
	snap     func() *config.Snapshot
	spool    store.Spool
	drains   *drain.Manager // nil: no drains
	firehose *Firehose      // nil: none
	bus      store.Bus      // nil: no tails (tail.go)

	// DenyRedisBuffers is the deny_redis_buffers control rod: no history writes.
	DenyRedisBuffers atomic.Bool
	// DenyDrainForwarding is the deny_drain_forwarding control rod.
	DenyDrainForwarding atomic.Bool
	// DenyTailSessions is the deny_tail_sessions control rod: no tail
	// publishing.
	DenyTailSessions atomic.Bool

	batches sync.Pool
}

// New returns a router reading snapshots from snap (nil snapshot: not yet
// loaded, every message counts as an unknown token), writing history to
// spool (nil: no history) and delivering to drains (nil: none).
func New(snap func() *config.Snapshot, spool store.Spool, drains *drain.Manager) *Router {
	r := &Router{snap: snap, spool: spool, drains: drains}
	r.batches.New = func() any { return &Batch{r: r, gen: 1} }
	return r
}

// Snapshot returns the snapshot the router routes with now (may be nil).
func (r *Router) Snapshot() *config.Snapshot { return r.snap() }

// Batch collects the routed messages of one read or request. Get one with
// Router.Batch, fill it, then Flush it, which also recycles it.
type Batch struct {
	r    *Router
	snap *config.Snapshot
	// hist holds every cooked message in hist.Buf; hist.Msgs lists only those
	// that go to history. Drains read spans of hist.Buf before the spool
	// takes the batch.
	hist   *store.HistoryBatch
	groups []group // messages per channel that has drains or tails, in arrival order
	// gtab finds a channel's group in O(1): open addressing on Channel.Seq,
	// entries are group index + 1 (0: empty); its length is a power of two
	// at least twice the groups (it doubles as they grow, and the pooled
	// batch keeps it). Flush clears the entries through the groups
	// (group.slot).
	gtab []uint32
	// scratch is AppendHTTPDrainHead's, for token names that are not one
	// field; head is the message being added.
	scratch []byte
	head    frame.Head
	// ctab caches tok → channel and its drains, direct-mapped on Token.Seq;
	// an entry counts only when its gen is the batch's. The caches outlive
	// the batch: a pooled batch bound again to the same snapshot and drain
	// table keeps them (cacheSnap, cacheTab); any other pair starts a new gen.
	ctab [ctabSize]chanEntry
	// ttab caches app-name bytes → token, keyed by the last eight bytes of
	// the id (random hex in a "t.<uuid>" token), two ways per set: random
	// ids share a direct-mapped slot often enough (a third of 100 tokens
	// in 256 slots) to thrash.
	ttab      [ttabSets][2]tokEntry
	gen       uint32
	batchNo   uint32 // counts Flushes: the chanEntry group hints of earlier batches are stale
	history   bool   // a spool, and the rod off: fixed for the batch
	cacheSnap *config.Snapshot
	cacheTab  *drain.Table
	tails     bool // publish tailed channels (a bus, and the rod off)
	msgs      [][]byte
	c         counts
	rng       uint64  // firehose choice
	fire      []int64 // firehose posts per firehose channel, published at Flush
}

// group is the messages of one channel in a batch, for its drains and
// its tail sessions.
type group struct {
	ch     *config.Channel
	drains []*drain.Drain
	spans  []drain.Span // cooked, in hist.Buf: for tails and FormCooked drains
	hbuf   []byte       // HTTP drain frames back to back: for FormHTTP drains
	hspans []drain.Span // the frames in hbuf
	cooked bool         // spans are needed
	http   bool         // hspans are needed
	tail   bool         // ch is tailed: publish the spans
	slot   int          // its gtab entry
}

// chanEntry is one ctab entry.
type chanEntry struct {
	tok    *config.Token
	ch     *config.Channel
	drains []*drain.Drain // ch's running drains in cacheTab
	gen    uint32
	// batch and gi remember ch's group in the batch numbered batch:
	// index + 1, 0 for none.
	batch, gi uint32
}

// tokEntry is one ttab entry.
type tokEntry struct {
	tok *config.Token
	gen uint32
}

// ctabSize is the size of a batch's token → channel cache (a power of two).
const ctabSize = 256

// ttabSets is the number of sets of the app-name → token cache (a power of
// two; log2 is ttabBits).
const ttabSets, ttabBits = 512, 9

// maxKeptFrameBytes is the largest frame buffer a pooled batch keeps per
// group.
const maxKeptFrameBytes = 64 << 10

// gtabMin is the initial size of a batch's group table (a power of two).
const gtabMin = 512

// counts are added to the shared counters once per batch.
type counts struct {
	received, processed, malformed, unknownToken, unknownChannel, drainUnparsable int64
}

// Batch returns an empty batch bound to the current snapshot.
func (r *Router) Batch() *Batch {
	b := r.batches.Get().(*Batch)
	b.snap = r.snap()
	var tab *drain.Table
	if r.drains != nil {
		tab = r.drains.Table()
	}
	if b.snap != b.cacheSnap || tab != b.cacheTab {
		b.cacheSnap, b.cacheTab = b.snap, tab
		b.newGen()
	}
	b.tails = r.bus != nil && !r.DenyTailSessions.Load()
	b.history = r.spool != nil && !r.DenyRedisBuffers.Load()
	return b
}

// newGen invalidates the caches.
func (b *Batch) newGen() {
	if b.gen++; b.gen == 0 { // wrapped: entries of gen 0 may be old
		b.ctab = [ctabSize]chanEntry{}
		b.ttab = [ttabSets][2]tokEntry{}
		b.gen = 1
	}
}

// Malformed counts one malformed frame (spec §2.1, §2.3).
func (b *Batch) Malformed() { b.c.malformed++ }

// AddByAppName routes a message by the token in its APP-NAME field (TCP
// input and credential-authorised /logs). msg is only read during the call.
func (b *Batch) AddByAppName(msg []byte) {
	h := &b.head
	if !h.Read(msg) || h.End-h.Start < 2 || msg[h.Start] != 't' || msg[h.Start+1] != '.' {
		b.c.malformed++
		return
	}
	if b.snap == nil {
		b.c.unknownToken++
		return
	}
	tok := b.token(msg[h.Start:h.End])
	if tok == nil {
		b.c.unknownToken++
		return
	}
	b.add(msg, true, tok)
}

// AddForToken routes a message to tok's channel regardless of its APP-NAME
// (token-authorised /logs, spec §2.2.1); the APP-NAME is rewritten only when
// it is exactly tok's id. msg is only read during the call.
func (b *Batch) AddForToken(msg []byte, tok *config.Token) {
	h := &b.head
	ok := h.Read(msg)
	b.add(msg, ok && string(msg[h.Start:h.End]) == tok.ID, tok)
}

// add routes msg, whose head is b.head, to tok's channel; rewrite: its
// APP-NAME becomes the token's name.
func (b *Batch) add(msg []byte, rewrite bool, tok *config.Token) {
	b.c.received++
	e := b.channel(tok)
	ch := e.ch
	if ch == nil {
		b.c.unknownChannel++
		return
	}
	b.c.processed++
	if f := b.r.firehose; f != nil && f.Names[tok.Name] && !f.Disabled.Load() {
		if b.fire == nil {
			b.fire = make([]int64, len(f.Channels))
		}
		b.firehose(msg, ch)
	}
	if e.batch != b.batchNo { // ch's group in this batch is not known yet
		e.batch, e.gi = b.batchNo, b.group(ch, e.drains)
	}
	var g *group
	if e.gi > 0 {
		g = &b.groups[e.gi-1]
	}
	toHistory := !ch.NoRedis && b.history
	if g == nil && !toHistory {
		return
	}
	h := &b.head
	if toHistory || g.cooked {
		if b.hist == nil {
			b.hist = store.GetHistoryBatch()
		}
		hb := b.hist
		off := len(hb.Buf)
		if rewrite {
			hb.Buf = append(hb.Buf, msg[:h.Start]...)
			hb.Buf = append(hb.Buf, tok.Name...)
			hb.Buf = append(hb.Buf, msg[h.End:]...)
		} else {
			hb.Buf = append(hb.Buf, msg...)
		}
		if toHistory {
			hb.Msgs = append(hb.Msgs, store.HistoryMsg{Channel: ch.ID, Off: uint32(off), End: uint32(len(hb.Buf))})
		}
		if g != nil && g.cooked {
			g.spans = append(g.spans, drain.Span{Off: uint32(off), End: uint32(len(hb.Buf))})
		}
	}
	if g != nil && g.http {
		if rewrite {
			addHTTP(b, g, msg, tok.Name)
		} else {
			addHTTP(b, g, msg, msg[h.Start:h.End])
		}
	}
}

// addHTTP appends the HTTP drain frame of msg (head b.head) with APP-NAME
// name to g.hbuf for g's HTTP drains, unless the drain parser rejects it
// (spec §3.1 step 5: no drain gets it; counted).
func addHTTP[S string | []byte](b *Batch, g *group, msg []byte, name S) {
	off := len(g.hbuf)
	var ok bool
	if g.hbuf, ok = frame.AppendHTTPDrainHead(g.hbuf, &b.scratch, msg, &b.head, name); ok {
		g.hspans = append(g.hspans, drain.Span{Off: uint32(off), End: uint32(len(g.hbuf))})
	} else {
		b.c.drainUnparsable++
	}
}

// token returns the token with this id in the batch's snapshot, through
// the batch's cache (a hit costs one load and one compare of the id instead
// of a hash and a map probe). Unknown ids are not cached.
func (b *Batch) token(id []byte) *config.Token {
	var k uint64
	if n := len(id); n >= 8 {
		t := id[n-8:]
		k = uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
	} else {
		for _, c := range id {
			k = k<<8 | uint64(c)
		}
	}
	set := &b.ttab[(k*0x9E3779B97F4A7C15)>>(64-ttabBits)]
	if e := &set[0]; e.gen == b.gen && e.tok.ID == string(id) {
		return e.tok
	}
	if e := &set[1]; e.gen == b.gen && e.tok.ID == string(id) {
		return e.tok
	}
	tok := b.snap.TokenBytes(id)
	if tok != nil { // the newest in way 0, the one it displaces in way 1
		set[1], set[0] = set[0], tokEntry{tok: tok, gen: b.gen}
	}
	return tok
}

// channel returns the cache entry of tok: its channel in the batch's
// snapshot (nil: none), the channel's running drains and its group hint.
// A busy batch holds hundreds of messages of a few hundred tokens, and the
// snapshot and drain table lookups hash the channel id.
func (b *Batch) channel(tok *config.Token) *chanEntry {
	e := &b.ctab[(tok.Seq*2654435761)>>(32-8)]
	if e.gen == b.gen && e.tok == tok {
		return e
	}
	ch := b.snap.Channel(tok.ChannelID)
	var ds []*drain.Drain
	if ch != nil {
		ds = b.drainsOf(ch)
	}
	*e = chanEntry{tok: tok, ch: ch, drains: ds, gen: b.gen, batch: b.batchNo - 1}
	return e
}

// drainsOf returns ch's running drains in the batch's drain table.
func (b *Batch) drainsOf(ch *config.Channel) []*drain.Drain {
	if len(ch.Drains) == 0 {
		return nil
	}
	return b.cacheTab.For(ch.ID)
}

// group returns the batch's group for ch, whose running drains are ds, as
// its index in b.groups + 1, or 0 when ch has neither drains nor tails (an
// untailed channel costs one bool check). The last group is checked first
// (runs of one channel), then the batch's group table; add asks once per
// channel per batch (chanEntry.gi), the firehose per message.
func (b *Batch) group(ch *config.Channel, ds []*drain.Drain) uint32 {
	tail := ch.Tailed && b.tails
	if len(ds) == 0 && !tail {
		return 0
	}
	if n := len(b.groups); n > 0 && b.groups[n-1].ch == ch { // runs of one channel
		return uint32(n)
	}
	if b.gtab == nil {
		b.gtab = make([]uint32, gtabMin)
	}
	slot := b.gtabFind(ch)
	if e := b.gtab[slot]; e != 0 {
		return e
	}
	if len(b.groups) < cap(b.groups) {
		b.groups = b.groups[:len(b.groups)+1]
	} else {
		b.groups = append(b.groups, group{})
	}
	g := &b.groups[len(b.groups)-1]
	g.ch, g.drains, g.spans, g.hspans, g.tail, g.slot = ch, ds, g.spans[:0], g.hspans[:0], tail, slot
	g.hbuf = g.hbuf[:0]
	g.cooked, g.http = tail, false
	for _, d := range ds {
		if d.Buf.Form() == drain.FormHTTP {
			g.http = true
		} else {
			g.cooked = true
		}
	}
	gi := uint32(len(b.groups))
	b.gtab[slot] = gi
	if 2*len(b.groups) > len(b.gtab) {
		b.gtabGrow()
	}
	return gi
}

// gtabFind returns ch's slot in gtab: the entry holding its group, or the
// empty entry where it belongs.
func (b *Batch) gtabFind(ch *config.Channel) int {
	mask := len(b.gtab) - 1
	for i := int(ch.Seq*2654435761) & mask; ; i = (i + 1) & mask {
		if e := b.gtab[i]; e == 0 || b.groups[e-1].ch == ch {
			return i
		}
	}
}

// gtabGrow doubles the group table and enters every group again.
func (b *Batch) gtabGrow() {
	b.gtab = make([]uint32, 2*len(b.gtab))
	for i := range b.groups {
		g := &b.groups[i]
		g.slot = b.gtabFind(g.ch)
		b.gtab[g.slot] = uint32(i + 1)
	}
}

// Flush hands the batch's messages on (one call per destination), adds its
// counts to the metrics and recycles the batch. The batch must not be used
// afterwards.
func (b *Batch) Flush() {
	if len(b.groups) > 0 {
		b.pushDrains()
		b.publishTails()
	}
	if b.hist != nil {
		if len(b.hist.Msgs) > 0 {
			b.r.spool.Write(b.hist)
		} else {
			store.PutHistoryBatch(b.hist)
		}
		b.hist = nil
	}
	b.c.publish()
	b.c = counts{}
	for i, n := range b.fire {
		if n > 0 {
			b.r.firehose.posts[i].AddInt64(n)
			b.fire[i] = 0
		}
	}
	for i := range b.groups {
		g := &b.groups[i]
		b.gtab[g.slot] = 0
		g.ch, g.drains, g.tail = nil, nil, false
		if cap(g.hbuf) > maxKeptFrameBytes { // left by a huge request
			g.hbuf = nil
		}
	}
	b.groups = b.groups[:0]
	b.snap = nil
	if b.batchNo++; b.batchNo == 0 { // wrapped: an entry's batch may match again
		b.newGen()
	}
	b.r.batches.Put(b)
}

// pushDrains hands each channel's messages to each of its drains: one lock
// per drain per batch.
func (b *Batch) pushDrains() {
	if b.r.DenyDrainForwarding.Load() {
		return
	}
	now := time.Now().UnixNano()
	for i := range b.groups {
		g := &b.groups[i]
		for _, d := range g.drains {
			if d.Buf.Form() == drain.FormHTTP {
				if len(g.hspans) > 0 {
					d.Buf.PushRun(g.hbuf, g.hspans, now)
				}
			} else if len(g.spans) > 0 {
				d.Buf.PushBatch(b.hist.Buf, g.spans, now)
			}
		}
	}
}

// Notice routes a notice a drain raised (L14) into its channel's history
// and tails, never to drains (spec §3.4). The message is a raw syslog
// message whose APP-NAME is the channel's token id, or a name.
func (r *Router) Notice(channelID string, msg []byte) {
	snap := r.snap()
	if snap == nil {
		return
	}
	ch := snap.Channel(channelID)
	if ch == nil {
		return
	}
	toHistory := r.spool != nil && !r.DenyRedisBuffers.Load() && !ch.NoRedis
	toTail := ch.Tailed && r.bus != nil && !r.DenyTailSessions.Load()
	if !toHistory && !toTail {
		return
	}
	h := store.GetHistoryBatch()
	start, end, ok := frame.AppName(msg)
	if tok := snap.TokenBytes(msg[start:end]); ok && tok != nil && tok.ChannelID == channelID {
		h.Add(channelID, append(append(append([]byte(nil), msg[:start]...), tok.Name...), msg[end:]...))
	} else {
		h.Add(channelID, msg)
	}
	if toTail {
		r.bus.Publish(channelID, [][]byte{h.Msg(0)})
	}
	if toHistory {
		r.spool.Write(h)
	} else {
		store.PutHistoryBatch(h)
	}
}

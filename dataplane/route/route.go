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
// The per-message lookups (app-name → token → channel, drains, tailed, the
// channel's group in the batch) go through the batch's caches (cache.go),
// whose doc states their invariants; TestCachesModel checks them against
// plain snapshot lookups.
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
	table    func() *drain.Table // the drain manager's Table; nil: no drains
	firehose *Firehose           // nil: none
	bus      store.Bus           // nil: no tails (tail.go)

	// The control rods (package controlrods sets them through the Set
	// methods), read once per batch.
	denyRedisBuffers, denyDrainForwarding, denyTailSessions atomic.Bool

	batches sync.Pool
}

// New returns a router reading snapshots from snap (nil snapshot: not yet
// loaded, every message counts as an unknown token), writing history to
// spool (nil: no history) and delivering to drains (nil: none).
func New(snap func() *config.Snapshot, spool store.Spool, drains *drain.Manager) *Router {
	r := &Router{snap: snap, spool: spool}
	if drains != nil {
		r.table = drains.Table
	}
	r.batches.New = func() any {
		b := &Batch{r: r}
		b.cache.init()
		return b
	}
	return r
}

// SetDenyRedisBuffers is the deny_redis_buffers control rod: no history
// writes from the next batch on.
func (r *Router) SetDenyRedisBuffers(on bool) { r.denyRedisBuffers.Store(on) }

// SetDenyDrainForwarding is the deny_drain_forwarding control rod: no
// deliveries to drains from the next batch on.
func (r *Router) SetDenyDrainForwarding(on bool) { r.denyDrainForwarding.Store(on) }

// SetDenyTailSessions is the deny_tail_sessions control rod: no tail
// publishing from the next batch on.
func (r *Router) SetDenyTailSessions(on bool) { r.denyTailSessions.Store(on) }

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
	// scratch is AppendHTTPDrainHead's, for token names that are not one
	// field; head is the message being added.
	scratch []byte
	head    frame.Head
	cache   caches // cache.go: token, channel and group lookups
	history bool   // a spool, and the rod off: fixed for the batch
	tails   bool   // publish tailed channels (a bus, and the rod off)
	msgs    [][]byte
	c       counts
	rng     uint64  // firehose choice
	fire    []int64 // firehose posts per firehose channel, published at Flush
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
	slot   int          // its entry in the group table (caches.groups)
	key    uint64       // idKey of ch.ID (the group table's key)
}

// maxKeptFrameBytes is the largest frame buffer a pooled batch keeps per
// group.
const maxKeptFrameBytes = 64 << 10

// counts are added to the shared counters once per batch.
type counts struct {
	received, processed, malformed, unknownToken, unknownChannel, drainUnparsable int64
}

// Batch returns an empty batch bound to the current snapshot.
func (r *Router) Batch() *Batch {
	b := r.batches.Get().(*Batch)
	b.start()
	return b
}

// start binds the batch to the router's current snapshot, drain table and
// control rods.
func (b *Batch) start() {
	r := b.r
	b.snap = r.snap()
	var tab *drain.Table
	if r.table != nil {
		tab = r.table()
	}
	b.cache.bind(b.snap, tab)
	b.tails = r.bus != nil && !r.denyTailSessions.Load()
	b.history = r.spool != nil && !r.denyRedisBuffers.Load()
}

// Malformed counts one malformed frame (docs/logplex.md §2.1, §2.3).
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
	id := msg[h.Start:h.End]
	key := idKey(id)
	tok := b.cache.token(id, key)
	if tok == nil {
		b.c.unknownToken++
		return
	}
	b.add(msg, true, tok, key)
}

// AddForToken routes a message to tok's channel regardless of its APP-NAME
// (token-authorised /logs, docs/logplex.md §2.2.1); the APP-NAME is rewritten only when
// it is exactly tok's id. msg is only read during the call.
func (b *Batch) AddForToken(msg []byte, tok *config.Token) {
	h := &b.head
	ok := h.Read(msg)
	b.add(msg, ok && string(msg[h.Start:h.End]) == tok.ID, tok, idKeyString(tok.ID))
}

// add routes msg, whose head is b.head, to tok's channel (key is
// idKey(tok.ID)); rewrite: its APP-NAME becomes the token's name. It goes
// in steps: the cooked copy (history, and the spans of tails and syslog
// drains), the HTTP drain frame, the firehose.
func (b *Batch) add(msg []byte, rewrite bool, tok *config.Token, key uint64) {
	b.c.received++
	e := b.cache.channel(tok, key)
	ch := e.ch
	if ch == nil {
		b.c.unknownChannel++
		return
	}
	b.c.processed++
	if e.batch != b.cache.batch { // ch's group in this batch is not known yet
		e.batch, e.gi = b.cache.batch, b.group(e)
	}
	var g *group
	if e.gi > 0 {
		g = &b.groups[e.gi-1]
	}
	// Step 1: the cooked copy, for history and for the group's spans
	// (tails, syslog drains).
	toHistory := b.history && !ch.NoRedis
	if toHistory || g != nil && g.cooked {
		if b.hist == nil {
			b.hist = store.GetHistoryBatch()
		}
		hb := b.hist
		off := len(hb.Buf)
		if rewrite {
			hb.Buf = append(hb.Buf, msg[:b.head.Start]...)
			hb.Buf = append(hb.Buf, tok.Name...)
			hb.Buf = append(hb.Buf, msg[b.head.End:]...)
		} else {
			hb.Buf = append(hb.Buf, msg...)
		}
		sp := drain.Span{Off: uint32(off), End: uint32(len(hb.Buf))}
		if toHistory {
			hb.Msgs = append(hb.Msgs, store.HistoryMsg{Channel: ch.ID, Off: sp.Off, End: sp.End})
		}
		if g != nil && g.cooked {
			g.spans = append(g.spans, sp)
		}
	}
	// Step 2: the HTTP drain frame, once for all of the group's HTTP drains.
	if g != nil && g.http {
		if rewrite {
			addHTTP(b, g, msg, tok.Name)
		} else {
			addHTTP(b, g, msg, msg[b.head.Start:b.head.End])
		}
	}
	// Step 3: the firehose (last: it may add a group, moving b.groups).
	if f := b.r.firehose; f != nil && f.Names[tok.Name] && !f.disabled.Load() {
		b.firehose(msg, ch)
	}
}

// addHTTP appends the HTTP drain frame of msg (head b.head) with APP-NAME
// name to g.hbuf for g's HTTP drains, unless the drain parser rejects it
// (docs/logplex.md §3.1 step 5: no drain gets it; counted).
func addHTTP[S string | []byte](b *Batch, g *group, msg []byte, name S) {
	off := len(g.hbuf)
	var ok bool
	if g.hbuf, ok = frame.AppendHTTPDrainHead(g.hbuf, &b.scratch, msg, &b.head, name); ok {
		g.hspans = append(g.hspans, drain.Span{Off: uint32(off), End: uint32(len(g.hbuf))})
	} else {
		b.c.drainUnparsable++
	}
}

// group returns the batch's group for the channel of e (its cache entry:
// running drains, tailed, key), as its index in b.groups + 1, or 0 when the
// channel has neither drains nor tails (an untailed channel costs one bool
// check). The last group is checked first (runs of one channel), then the
// group table; add and the firehose ask once per channel per batch
// (chanEntry.gi).
func (b *Batch) group(e *chanEntry) uint32 {
	ch, ds := e.ch, e.drains
	tail := e.tailed && b.tails
	if len(ds) == 0 && !tail {
		return 0
	}
	if n := len(b.groups); n > 0 && b.groups[n-1].ch == ch { // runs of one channel
		return uint32(n)
	}
	slot := b.cache.groups.find(ch, e.key, b.groups)
	if e := b.cache.groups.slots[slot]; e != 0 {
		return e
	}
	if len(b.groups) < cap(b.groups) {
		b.groups = b.groups[:len(b.groups)+1]
	} else {
		b.groups = append(b.groups, group{})
	}
	g := &b.groups[len(b.groups)-1]
	g.ch, g.drains, g.spans, g.hspans, g.tail, g.slot, g.key = ch, ds, g.spans[:0], g.hspans[:0], tail, slot, e.key
	g.hbuf = g.hbuf[:0]
	g.cooked, g.http = tail, false
	for _, d := range ds {
		if d.Buf.Form() == drain.FormHTTP {
			g.http = true
		} else {
			g.cooked = true
		}
	}
	b.cache.groups.add(slot, b.groups)
	return uint32(len(b.groups))
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
	b.cache.endBatch(b.groups)
	for i := range b.groups {
		g := &b.groups[i]
		g.ch, g.drains, g.tail = nil, nil, false
		if cap(g.hbuf) > maxKeptFrameBytes { // left by a huge request
			g.hbuf = nil
		}
	}
	b.groups = b.groups[:0]
	b.snap = nil
	b.r.batches.Put(b)
}

// pushDrains hands each channel's messages to each of its drains: one lock
// per drain per batch.
func (b *Batch) pushDrains() {
	if b.r.denyDrainForwarding.Load() {
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
// and tails, never to drains (docs/logplex.md §3.4). The message is a raw syslog
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
	toHistory := r.spool != nil && !r.denyRedisBuffers.Load() && !ch.NoRedis
	toTail := r.bus != nil && snap.Tailed(channelID) && !r.denyTailSessions.Load()
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

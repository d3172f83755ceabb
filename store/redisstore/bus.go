package redisstore

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store"
)

// TailChannelPrefix prefixes a channel id to name its pub/sub channel.
const TailChannelPrefix = "logplex:tail:"

// BusOptions configure NewBus. Zero values mean the defaults.
type BusOptions struct {
	// URL, Seeds and Cluster name the Redis as in ConfigOptions (the
	// config Redis).
	URL     string
	Seeds   []string
	Cluster bool
	// Timeout bounds dials and each PUBLISH round trip (default 2 s).
	Timeout time.Duration
	// QueueBytes bounds the payloads waiting to be published; beyond it a
	// batch is dropped and counted (default 32 MiB).
	QueueBytes int
	// MaxPayload is the largest PUBLISH payload; a bigger batch is split
	// (default 256 KiB; a single larger message goes alone).
	MaxPayload int
}

// setDefaults fills zero (and negative) fields with their defaults.
func (o *BusOptions) setDefaults() {
	o.Timeout = cmp.Or(max(o.Timeout, 0), defaultTimeout)
	o.QueueBytes = cmp.Or(max(o.QueueBytes, 0), 32<<20)
	o.MaxPayload = cmp.Or(max(o.MaxPayload, 0), 256<<10)
}

var (
	busPublished   = metrics.NewCounter(`logplex_tail_bus_published_total`)
	busDropped     = metrics.NewCounter(`logplex_tail_bus_dropped_total`)
	busReceived    = metrics.NewCounter(`logplex_tail_bus_received_total`)
	busBadPayload  = metrics.NewCounter(`logplex_tail_bus_bad_payloads_total`)
	busResubscribe = metrics.NewCounter(`logplex_tail_bus_resubscribes_total`)
	busMissing     = metrics.NewCounter(`logplex_tail_bus_missing_total`)
)

// Bus is the store.Bus on Redis pub/sub (package doc, "Tail bus"). It is
// safe for concurrent use.
type Bus struct {
	opts BusOptions
	conn *conn
	log  *slog.Logger

	mu      sync.Mutex
	pending []payload // waiting for the publisher goroutine
	queued  int       // bytes in pending
	closed  bool
	wake    chan struct{} // capacity 1
	stop    chan struct{}
	stopped chan struct{}

	smu  sync.Mutex
	subs map[string]*busChannel

	queueLost map[string]loss // dropped by enqueue, under mu; merged by the publisher
	lost      lossBook        // the publisher goroutine's

	// the sequence (see "Sequence headers" below), under mu: this
	// publisher's id and the next message number of each channel
	pubID string
	seqs  map[string]uint64
}

var _ store.Bus = (*Bus)(nil)

// payload is one encoded PUBLISH message.
type payload struct {
	channel string
	buf     *[]byte
	msgs    int
}

// NewBus connects to Redis (lazily, like OpenConfig) and starts the
// publisher goroutine; Close stops it.
func NewBus(opts BusOptions) (*Bus, error) {
	opts.setDefaults()
	t, err := parseTarget(opts.URL, opts.Seeds, opts.Cluster, opts.Timeout)
	if err != nil {
		return nil, err
	}
	b := &Bus{opts: opts, conn: newConn(t), wake: make(chan struct{}, 1), stop: make(chan struct{}),
		stopped: make(chan struct{}), subs: map[string]*busChannel{}, queueLost: map[string]loss{}, lost: lossBook{m: map[string]*loss{}},
		pubID: newPubID(), seqs: map[string]uint64{},
		log: slog.Default().With("component", "redisstore-bus", "redis", t.name)}
	go b.publishLoop()
	return b, nil
}

// Publish implements store.Bus: msgs are encoded into one or more payloads
// and queued for the publisher goroutine; a full queue drops them.
func (b *Bus) Publish(channel string, msgs [][]byte) {
	for len(msgs) > 0 {
		buf := getPayload()
		n := 0
		*buf, n = encodePayload(append((*buf)[:0], seqBlank...), msgs, b.opts.MaxPayload)
		msgs = msgs[n:]
		b.enqueue(payload{channel: channel, buf: buf, msgs: n})
	}
}

func (b *Bus) enqueue(p payload) {
	b.mu.Lock()
	if b.closed || b.queued+len(*p.buf) > b.opts.QueueBytes {
		if !b.closed && len(b.queueLost) < maxLossChannels { // the rare path: remembered for the L11
			l := b.queueLost[p.channel]
			if l.n == 0 {
				l.since = time.Now()
			}
			l.n += p.msgs
			b.queueLost[p.channel] = l
		}
		b.mu.Unlock()
		busDropped.Add(p.msgs)
		putPayload(p.buf)
		return
	}
	if len(b.seqs) >= maxSeqChannels && b.seqs[p.channel] == 0 {
		// a new incarnation: subscribers start its sequences afresh
		b.pubID, b.seqs = newPubID(), map[string]uint64{}
	}
	seq := b.seqs[p.channel]
	b.seqs[p.channel] = seq + uint64(p.msgs)
	putSeq(*p.buf, b.pubID, seq, time.Now())
	b.pending = append(b.pending, p)
	b.queued += len(*p.buf)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// publishLoop sends whatever is queued, one pipeline of PUBLISHes at a time.
func (b *Bus) publishLoop() {
	defer close(b.stopped)
	var batch []payload
	for {
		select {
		case <-b.wake:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		batch, b.pending = b.pending, batch[:0]
		b.queued = 0
		for ch, l := range b.queueLost {
			b.lost.add(ch, l.n, l.since)
		}
		clear(b.queueLost)
		b.mu.Unlock()
		b.lost.sweep(time.Now())
		recycle := b.send(batch)
		for i := range batch {
			if recycle {
				putPayload(batch[i].buf)
			}
			batch[i] = payload{}
		}
	}
}

// send publishes batch in one pipeline and reports whether its buffers may
// be reused: not after a failed command, since rueidis answers a broken or
// timed-out pipeline while its writer may still be copying the commands'
// arguments, which are views of those buffers (the garbage collector takes
// them instead).
func (b *Bus) send(batch []payload) (recycle bool) {
	if len(batch) == 0 {
		return true
	}
	cl, err := b.conn.get()
	if err != nil {
		for _, p := range batch {
			busDropped.Add(p.msgs) // numbered: the subscribers see the gap
		}
		return true // nothing was handed to rueidis
	}
	cluster := cl.Mode() == rueidis.ClientModeCluster
	cmds := make(rueidis.Commands, 0, len(batch))
	var markers []marker // a channel's loss, reported before its first payload
	publish := func(channel, msg string) rueidis.Completed {
		if cluster {
			return cl.B().Spublish().Channel(channel).Message(msg).Build()
		}
		return cl.B().Publish().Channel(channel).Message(msg).Build()
	}
	for _, p := range batch {
		key := TailChannelPrefix + p.channel
		if l := b.lost.m[p.channel]; l != nil && !hasMarker(markers, p.channel) {
			markers = append(markers, marker{channel: p.channel, cmd: len(cmds), n: l.n})
			cmds = append(cmds, publish(key, encodeLoss(l.n, l.since)))
		}
		// zero-copy: the buffer is recycled only after DoMulti returns, and
		// only if every command succeeded
		cmds = append(cmds, publish(key, rueidis.BinaryString(*p.buf)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	res := cl.DoMulti(ctx, cmds...)
	recycle = true
	for _, r := range res {
		if r.Error() != nil {
			recycle = false
		}
	}
	for _, m := range markers {
		if n, err := res[m.cmd].AsInt64(); err == nil && n > 0 {
			b.lost.reported(m.channel, m.n)
		}
	}
	i := 0
	for _, p := range batch {
		if len(markers) > 0 && i == markers[0].cmd {
			markers, i = markers[1:], i+1
		}
		// Counted here; reported by the subscribers, which see the gap in
		// the payloads' sequence (a timed-out PUBLISH may have been
		// delivered: then there is none).
		n, err := res[i].AsInt64()
		i++
		switch {
		case err != nil:
			busDropped.Add(p.msgs)
		case n == 0: // nobody subscribed: a session resubscribing, or gone
			store.CountUnheard(p.msgs)
		default:
			busPublished.Add(p.msgs)
		}
	}
	return recycle
}

// Loss reporting (L11 across the bus), two ways:
//
// Sequence headers: every payload a publisher queues starts with a frame
//
//	!SEQ <publisher id, 16 hex> <first message number, 20 digits> <unix-ms, 13 digits>
//
// numbering the channel's messages of this publisher (fixed width, so it is
// written in place when the payload is queued). A subscriber remembers, per
// channel and publisher, the number it expects next; a payload that starts
// further on means the messages in between were lost on the way (PUBLISH
// failed or reached nobody while the subscription was re-established, or
// Redis died between answering the publisher and writing to the
// subscriber: its answer counts subscribers, not deliveries). The
// subscriber adds the difference to its sessions' queues
// (TailQueue.AddLossSince, since the previous payload) and counts it
// (logplex_tail_bus_missing_total). The first payload a subscription sees
// from a publisher only sets the expectation.
//
// Loss markers: what a publisher dropped before numbering it (its queue
// full, or closing) is remembered per channel, and published ahead of that
// channel's next payload as a marker: one frame
//
//	!L11 <n> <unix-ms of the first loss>
//
// which a subscriber turns into TailQueue.AddLossSince. The marker is
// forgotten once a subscriber received it. A node of an older version
// decodes either frame as a message that no session line can be made of,
// and skips it.

// maxLossChannels bounds the channels whose loss is remembered; lossTTL
// forgets a loss nobody heard about for that long (its channel is no longer
// tailed: no payload will carry it).
const (
	maxLossChannels = 10000
	lossTTL         = 2 * time.Minute
)

var lossPrefix = []byte("!L11 ")

type loss struct {
	n            int
	since, added time.Time
}

type marker struct {
	channel string
	cmd     int // its index in the pipeline
	n       int
}

func hasMarker(ms []marker, channel string) bool {
	for _, m := range ms {
		if m.channel == channel {
			return true
		}
	}
	return false
}

// lossBook is the publisher goroutine's record of unreported losses.
type lossBook struct {
	m         map[string]*loss
	lastSweep time.Time
}

func (lb *lossBook) add(channel string, n int, at time.Time) {
	l := lb.m[channel]
	if l == nil {
		if len(lb.m) >= maxLossChannels {
			return
		}
		l = &loss{since: at}
		lb.m[channel] = l
	}
	l.n += n
	l.added = at
}

// reported takes n reported messages off channel's loss.
func (lb *lossBook) reported(channel string, n int) {
	if l := lb.m[channel]; l != nil {
		if l.n -= n; l.n <= 0 {
			delete(lb.m, channel)
		}
	}
}

func (lb *lossBook) sweep(now time.Time) {
	if now.Sub(lb.lastSweep) < lossTTL/4 {
		return
	}
	lb.lastSweep = now
	for ch, l := range lb.m {
		if now.Sub(l.added) > lossTTL {
			delete(lb.m, ch)
		}
	}
}

var seqPrefix = []byte("!SEQ ")

// seqLen is the length of a sequence header's message; seqBlank is the
// frame Publish reserves, filled by putSeq.
const (
	pubIDLen = 16
	seqLen   = 5 + pubIDLen + 1 + 20 + 1 + 13
)

var seqBlank = []byte(strconv.Itoa(seqLen) + " " + string(seqPrefix) + strings.Repeat("0", seqLen-len(seqPrefix)))

// maxSeqChannels bounds the channels a publisher numbers; past it the
// publisher takes a new id (subscribers start afresh with it).
const maxSeqChannels = 100000

// maxSeqPublishers bounds the publishers a subscription remembers; past it
// the subscription forgets them all (and reports no gap for one payload of
// each).
const maxSeqPublishers = 256

func newPubID() string {
	var b [pubIDLen / 2]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// putSeq writes the header fields into the reserved frame at the start of p.
func putSeq(p []byte, pub string, seq uint64, now time.Time) {
	h := p[len(seqBlank)-seqLen+len(seqPrefix):]
	copy(h, pub)
	h[pubIDLen] = ' '
	putDigits(h[pubIDLen+1:pubIDLen+21], seq)
	h[pubIDLen+21] = ' '
	putDigits(h[pubIDLen+22:pubIDLen+35], uint64(max(now.UnixMilli(), 0)))
}

// putDigits writes v right-aligned in dst, zero-padded.
func putDigits(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// decodeSeq reads a sequence header's message.
func decodeSeq(msg []byte) (pub []byte, seq uint64, ms int64, ok bool) {
	if len(msg) != seqLen || !bytes.HasPrefix(msg, seqPrefix) {
		return nil, 0, 0, false
	}
	h := msg[len(seqPrefix):]
	if h[pubIDLen] != ' ' || h[pubIDLen+21] != ' ' {
		return nil, 0, 0, false
	}
	seq, err1 := strconv.ParseUint(string(h[pubIDLen+1:pubIDLen+21]), 10, 64)
	ms, err2 := strconv.ParseInt(string(h[pubIDLen+22:]), 10, 64)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, false
	}
	return h[:pubIDLen], seq, ms, true
}

// pubSeq is what a subscription expects next from one publisher.
type pubSeq struct {
	next uint64
	ms   int64 // the unix-ms of its last payload
}

// checkSeq compares a payload's header with what c expects of its
// publisher and returns the messages missing before it (0 for the first
// payload seen, or one numbered behind: a publisher restarted its count)
// and since when. n is the payload's number of messages. Only c's receive
// goroutine calls it.
func (c *busChannel) checkSeq(pub []byte, seq uint64, ms int64, n int) (missing int, since time.Time) {
	st := c.seqs[string(pub)]
	if st == nil {
		if len(c.seqs) >= maxSeqPublishers {
			clear(c.seqs)
		}
		st = &pubSeq{}
		c.seqs[string(pub)] = st
	} else if seq > st.next {
		missing, since = int(min(seq-st.next, 1<<31)), time.UnixMilli(st.ms)
	}
	st.next, st.ms = seq+uint64(n), ms
	return missing, since
}

// encodeLoss is the payload of a loss marker: one frame.
func encodeLoss(n int, since time.Time) string {
	msg := strconv.AppendInt(append([]byte(nil), lossPrefix...), int64(n), 10)
	msg = append(msg, ' ')
	msg = strconv.AppendInt(msg, since.UnixMilli(), 10)
	frame := strconv.AppendInt(nil, int64(len(msg)), 10)
	return string(append(append(frame, ' '), msg...))
}

// decodeLoss reads a loss marker's message.
func decodeLoss(msg []byte) (int, time.Time, bool) {
	rest, ok := bytes.CutPrefix(msg, lossPrefix)
	if !ok {
		return 0, time.Time{}, false
	}
	a, b, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return 0, time.Time{}, false
	}
	n, err1 := strconv.Atoi(string(a))
	ms, err2 := strconv.ParseInt(string(b), 10, 64)
	if err1 != nil || err2 != nil || n <= 0 {
		return 0, time.Time{}, false
	}
	return n, time.UnixMilli(ms), true
}

// Subscribe implements store.Bus. The node holds one SUBSCRIBE per channel
// however many sessions tail it; the first subscriber waits for Redis to
// confirm it, so a batch published after Subscribe returns is received.
func (b *Bus) Subscribe(ctx context.Context, channel string, q *store.TailQueue) (func(), error) {
	for {
		b.smu.Lock()
		if b.isClosed() {
			b.smu.Unlock()
			return nil, errClosed
		}
		c := b.subs[channel]
		if c != nil && c.closing {
			// the previous subscription is still unsubscribing: wait, so
			// its UNSUBSCRIBE cannot cancel the new one
			b.smu.Unlock()
			select {
			case <-c.done:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("redisstore: subscribe %s: %w", channel, ctx.Err())
			}
		}
		if c == nil {
			c = b.startChannel(channel)
		}
		c.add(q)
		b.smu.Unlock()
		var once sync.Once
		cancel := func() { once.Do(func() { b.remove(c, q) }) }
		select {
		case <-c.ready: // already subscribed: do not let an ended ctx win the race below
			return cancel, nil
		default:
		}
		select {
		case <-c.ready:
			return cancel, nil
		case <-ctx.Done():
			cancel()
			return nil, fmt.Errorf("redisstore: subscribe %s not confirmed: %w: %w", channel, store.ErrUnavailable, ctx.Err())
		}
	}
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// busChannel is this node's subscription to one channel and its queues.
type busChannel struct {
	name    string
	seqs    map[string]*pubSeq                 // per publisher; the receive goroutine's
	queues  atomic.Pointer[[]*store.TailQueue] // replaced under Bus.smu, read by deliver
	ready   chan struct{}                      // closed once Redis confirmed the SUBSCRIBE
	once    sync.Once
	cancel  context.CancelFunc
	done    chan struct{} // closed when the receive goroutine has ended
	closing bool          // under Bus.smu
}

// startChannel starts the subscription of channel; the caller holds smu.
func (b *Bus) startChannel(channel string) *busChannel {
	ctx, cancel := context.WithCancel(context.Background())
	c := &busChannel{name: channel, ready: make(chan struct{}), cancel: cancel, done: make(chan struct{}),
		seqs: map[string]*pubSeq{}}
	c.queues.Store(&[]*store.TailQueue{})
	b.subs[channel] = c
	go func() {
		defer close(c.done)
		b.receive(ctx, c)
		b.smu.Lock()
		if b.subs[channel] == c {
			delete(b.subs, channel)
		}
		b.smu.Unlock()
	}()
	return c
}

// add and del replace the queue list; the caller holds smu.
func (c *busChannel) add(q *store.TailQueue) {
	old := *c.queues.Load()
	qs := append(old[:len(old):len(old)], q)
	c.queues.Store(&qs)
}

func (c *busChannel) del(q *store.TailQueue) int {
	old := *c.queues.Load()
	qs := make([]*store.TailQueue, 0, len(old))
	for _, x := range old {
		if x != q {
			qs = append(qs, x)
		}
	}
	c.queues.Store(&qs)
	return len(qs)
}

// remove takes q off c; the last one out unsubscribes.
func (b *Bus) remove(c *busChannel, q *store.TailQueue) {
	b.smu.Lock()
	defer b.smu.Unlock()
	if c.del(q) == 0 && !c.closing {
		c.closing = true
		c.cancel()
	}
}

// receive keeps channel subscribed until ctx ends, subscribing again after
// a connection loss (messages published in between are not received).
func (b *Bus) receive(ctx context.Context, c *busChannel) {
	key := TailChannelPrefix + c.name
	rctx := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		if (s.Kind == "subscribe" || s.Kind == "ssubscribe") && s.Channel == key {
			c.once.Do(func() { close(c.ready) })
		}
	})
	cluster := false
	// Cancelling Receive only stops listening: UNSUBSCRIBE on the same
	// connection, so Redis stops sending it this channel.
	rctx = rueidis.WithOnReceiveReturnHook(rctx, func(err error, cc rueidis.CommandClient) error {
		if ctx.Err() != nil {
			uctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
			defer cancel()
			if cluster {
				_ = cc.Do(uctx, cc.B().Sunsubscribe().Channel(key).Build()).Error()
			} else {
				_ = cc.Do(uctx, cc.B().Unsubscribe().Channel(key).Build()).Error()
			}
		}
		return err
	})
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		cl, err := b.conn.get()
		if err == nil {
			cluster = cl.Mode() == rueidis.ClientModeCluster
			sub := cl.B().Subscribe().Channel(key).Build()
			if cluster {
				sub = cl.B().Ssubscribe().Channel(key).Build()
			}
			err = cl.Receive(rctx, sub, func(m rueidis.PubSubMessage) { b.deliver(c, m.Message) })
		}
		if ctx.Err() != nil {
			return
		}
		busResubscribe.Inc()
		if time.Since(started) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		b.log.Warn("tail subscription lost; subscribing again", "channel", c.name, "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// deliver decodes one payload and pushes the batch to every queue of c.
// It runs on the Receive goroutine and never blocks.
func (b *Bus) deliver(c *busChannel, p string) {
	msgs, err := decodePayload([]byte(p)) // the copy the queues share, read-only
	if err != nil {
		busBadPayload.Inc()
		return
	}
	if len(msgs) == 1 && bytes.HasPrefix(msgs[0], lossPrefix) {
		if n, since, ok := decodeLoss(msgs[0]); ok {
			for _, q := range *c.queues.Load() {
				q.AddLossSince(n, since)
			}
		}
		return
	}
	if len(msgs) > 0 && bytes.HasPrefix(msgs[0], seqPrefix) {
		if pub, seq, ms, ok := decodeSeq(msgs[0]); ok {
			if n, since := c.checkSeq(pub, seq, ms, len(msgs)-1); n > 0 {
				busMissing.Add(n)
				for _, q := range *c.queues.Load() {
					q.AddLossSince(n, since)
				}
			}
		}
		msgs = msgs[1:]
	}
	busReceived.Add(len(msgs))
	for _, q := range *c.queues.Load() {
		q.Push(msgs)
	}
}

// Close implements store.Bus: the publisher stops (queued batches are
// dropped), every subscription ends and its queues end.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.stopped
	b.smu.Lock()
	var waits []chan struct{}
	for _, c := range b.subs {
		for _, q := range *c.queues.Load() {
			q.End()
		}
		c.closing = true
		c.cancel()
		waits = append(waits, c.done)
	}
	b.smu.Unlock()
	deadline := time.After(b.opts.Timeout)
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
		}
	}
	b.conn.close()
	return nil
}

// Payload encoding: the messages of a batch as octet-counted frames
// (RFC 6587, as on the syslog TCP input), concatenated:
//
//	<len> SP <msg> <len> SP <msg> …       e.g. "5 hello3 abc"

// encodePayload appends frames of msgs to dst until it would pass max
// bytes (at least one message is always taken) and returns dst and the
// number of messages taken.
func encodePayload(dst []byte, msgs [][]byte, max int) ([]byte, int) {
	n := 0
	for _, m := range msgs {
		if n > 0 && len(dst)+len(m)+8 > max {
			break
		}
		dst = strconv.AppendInt(dst, int64(len(m)), 10)
		dst = append(dst, ' ')
		dst = append(dst, m...)
		n++
	}
	return dst, n
}

var errBadPayload = errors.New("redisstore: bad tail payload")

// maxFrameDigits bounds a frame length read from a payload.
const maxFrameDigits = 9

// decodePayload splits a payload into its messages, slices of p.
func decodePayload(p []byte) ([][]byte, error) {
	out := make([][]byte, 0, len(p)/128+1)
	for len(p) > 0 {
		n, i := 0, 0
		for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
			if i == maxFrameDigits {
				return nil, errBadPayload
			}
			n = n*10 + int(p[i]-'0')
		}
		if i == 0 || i == len(p) || p[i] != ' ' || n > len(p)-i-1 {
			return nil, errBadPayload
		}
		p = p[i+1:]
		out = append(out, p[:n:n])
		p = p[n:]
	}
	return out, nil
}

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getPayload() *[]byte { return payloadPool.Get().(*[]byte) }

func putPayload(b *[]byte) {
	if cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	payloadPool.Put(b)
}

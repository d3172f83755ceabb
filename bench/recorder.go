package bench

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Format is the shape of the messages an endpoint receives.
type Format int

const (
	FormatHTTPDrain   Format = iota // "<PRI>1 TIME host NAME PS - CONTENT" (docs/logplex.md §3.3)
	FormatSyslogDrain               // "<PRI>1 TIME d.tok NAME PS - - CONTENT\n"
	FormatRaw                       // the message as sent (the relay baseline): APP-NAME is the token id
	FormatTail                      // "TIME NAME[PS]: CONTENT\n"
)

// Topology is what the recorder checks routing against: which channel each
// token belongs to and which channel each endpoint (drain or tail) serves.
type Topology struct {
	Conns        int      // sending connections (content C is below it)
	TokenChannel []int32  // token index → channel index
	TokenNames   []string // token index → name (what drains and tails show)
	TokenIDs     []string // token index → id (what the raw relay shows)
	EndChannel   []int32  // endpoint index → channel index; -1: any (relay)
	EndIsTail    []bool   // endpoint index → a tail session rather than a drain
}

// Recorder checks and counts what the sinks receive: per endpoint and
// sending connection the sequence numbers must increase (order), each
// message must parse with intact padding (integrity), carry its token's
// name and reach an endpoint of its token's channel (routing); latency is
// the receive time minus the send time in the content. It is safe for
// concurrent use; each sink goroutine feeds it through its own Batch.
type Recorder struct {
	layout *Layout
	topo   *Topology
	ends   []endpoint

	since    atomic.Int64 // messages sent before this (Unix ns) are not counted
	drainMsg atomic.Int64 // data messages counted at drains since Reset
	tailMsg  atomic.Int64 // … at tails
	lastNs   atomic.Int64 // receive time of the newest counted message

	mu       sync.Mutex
	hist     Histogram // drain latency
	tailHist Histogram
	unknown  int64 // messages for an endpoint index out of range
}

// endpoint is one drain's or tail's state; its lock is held per chunk.
type endpoint struct {
	mu   sync.Mutex
	last []uint32 // per sending connection: last sequence number + 1
	c    EndCounts
}

// EndCounts are what one endpoint (or all, summed) received since Reset.
type EndCounts struct {
	Received   int64 `json:"received"`     // data messages counted
	OutOfOrder int64 `json:"out_of_order"` // sequence number not above the last one from its connection
	Corrupt    int64 `json:"corrupt"`      // unparseable content, damaged padding, bad count header
	Misrouted  int64 `json:"misrouted"`    // token of another channel, or wrong APP-NAME
	Reported   int64 `json:"reported"`     // sum of N in L10 / L11 notices
	Notices    int64 `json:"notices"`      // other messages without benchmark content
	Stragglers int64 `json:"-"`            // sent before the measured phase
}

func (c *EndCounts) add(o EndCounts) {
	c.Received += o.Received
	c.OutOfOrder += o.OutOfOrder
	c.Corrupt += o.Corrupt
	c.Misrouted += o.Misrouted
	c.Reported += o.Reported
	c.Notices += o.Notices
	c.Stragglers += o.Stragglers
}

// NewRecorder returns a recorder for messages built with layout.
func NewRecorder(layout *Layout, topo *Topology) *Recorder {
	return &Recorder{layout: layout, topo: topo, ends: make([]endpoint, len(topo.EndChannel))}
}

// Reset starts a measured phase: counts and latencies restart, and only
// messages sent at or after since (Unix ns) count. Order state is kept.
func (r *Recorder) Reset(since int64) {
	for i := range r.ends {
		e := &r.ends[i]
		e.mu.Lock()
		e.c = EndCounts{}
		e.mu.Unlock()
	}
	r.mu.Lock()
	r.hist.Reset()
	r.tailHist.Reset()
	r.mu.Unlock()
	r.since.Store(since)
	r.drainMsg.Store(0)
	r.tailMsg.Store(0)
	r.lastNs.Store(0)
}

// DrainMsgs and TailMsgs are the data messages counted since Reset.
func (r *Recorder) DrainMsgs() int64 { return r.drainMsg.Load() }
func (r *Recorder) TailMsgs() int64  { return r.tailMsg.Load() }

// LastReceive is when the newest counted message arrived (Unix ns, 0: none).
func (r *Recorder) LastReceive() int64 { return r.lastNs.Load() }

// EndpointsSeen is how many endpoints (drains, tails) counted a message since Reset.
func (r *Recorder) EndpointsSeen(tails bool) int {
	n := 0
	for i := range r.ends {
		if r.topo.EndIsTail[i] != tails {
			continue
		}
		e := &r.ends[i]
		e.mu.Lock()
		if e.c.Received > 0 {
			n++
		}
		e.mu.Unlock()
	}
	return n
}

// Totals sums the counts of every drain (tails false) or every tail.
func (r *Recorder) Totals(tails bool) EndCounts {
	var t EndCounts
	for i := range r.ends {
		if r.topo.EndIsTail[i] != tails {
			continue
		}
		e := &r.ends[i]
		e.mu.Lock()
		t.add(e.c)
		e.mu.Unlock()
	}
	return t
}

// Latency returns a copy of the drain (or tail) latency histogram.
func (r *Recorder) Latency(tails bool) Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tails {
		return r.tailHist
	}
	return r.hist
}

// validEnd reports whether i names an endpoint.
func (r *Recorder) validEnd(i int) bool { return i >= 0 && i < len(r.ends) }

// Batch feeds one chunk of messages (one HTTP request, one read) for one
// endpoint: Start, Add for each message, Done. A Batch belongs to one
// goroutine and is reused.
type Batch struct {
	r      *Recorder
	e      *endpoint
	end    int
	f      Format
	now    int64
	since  int64
	lat    []int64
	counts EndCounts
}

// NewBatch returns a batch for one sink goroutine.
func (r *Recorder) NewBatch() *Batch { return &Batch{r: r} }

// Start begins a chunk for endpoint end in format f received at now (Unix
// ns). It returns false (and the chunk is dropped) for an unknown endpoint.
func (b *Batch) Start(end int, f Format, now int64) bool {
	if !b.r.validEnd(end) {
		b.r.mu.Lock()
		b.r.unknown++
		b.r.mu.Unlock()
		return false
	}
	b.e, b.end, b.f, b.now = &b.r.ends[end], end, f, now
	b.since = b.r.since.Load()
	b.lat = b.lat[:0]
	b.counts = EndCounts{}
	b.e.mu.Lock()
	if b.e.last == nil {
		b.e.last = make([]uint32, b.r.topo.Conns)
	}
	return true
}

var (
	l10Marker = []byte("Error L10 (output buffer overflow): ")
	l11Marker = []byte("This tail session dropped ")
)

// Add checks and counts one message (msg is only read during the call).
func (b *Batch) Add(msg []byte) {
	c, ok, err := b.r.layout.ParseContent(msg, b.f == FormatSyslogDrain || b.f == FormatTail)
	if !ok {
		b.notice(msg)
		return
	}
	if err != nil || int(c.Conn) >= len(b.e.last) {
		b.counts.Corrupt++
		return
	}
	if !b.routed(msg, c.Token) {
		b.counts.Misrouted++
	}
	last := &b.e.last[c.Conn]
	if c.Seq+1 <= *last {
		b.counts.OutOfOrder++
	} else {
		*last = c.Seq + 1
	}
	if c.SentNs < b.since {
		b.counts.Stragglers++
		return
	}
	b.counts.Received++
	b.lat = append(b.lat, b.now-c.SentNs)
}

// AddCorrupt counts damage found outside a message (a bad count header).
func (b *Batch) AddCorrupt() { b.counts.Corrupt++ }

func (b *Batch) routed(msg []byte, k int) bool {
	t := b.r.topo
	if ch := t.EndChannel[b.end]; ch >= 0 && t.TokenChannel[k] != ch {
		return false
	}
	var name []byte
	want := t.TokenNames[k]
	switch b.f {
	case FormatHTTPDrain, FormatSyslogDrain:
		name = field(msg, 3)
	case FormatRaw:
		name, want = field(msg, 3), t.TokenIDs[k]
	case FormatTail:
		name = field(msg, 1)
		if i := bytes.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
	}
	return string(name) == want
}

func (b *Batch) notice(msg []byte) {
	b.counts.Notices++
	for _, m := range [][]byte{l10Marker, l11Marker} {
		if i := bytes.Index(msg, m); i >= 0 {
			rest := msg[i+len(m):]
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			n, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
			b.counts.Reported += n
			return
		}
	}
}

// Done ends the chunk: counts and latencies go to the recorder.
func (b *Batch) Done() {
	b.e.c.add(b.counts)
	b.e.mu.Unlock()
	r := b.r
	tail := r.topo.EndIsTail[b.end]
	if len(b.lat) > 0 {
		r.mu.Lock()
		h := &r.hist
		if tail {
			h = &r.tailHist
		}
		for _, v := range b.lat {
			h.Record(v)
		}
		r.mu.Unlock()
		if tail {
			r.tailMsg.Add(int64(len(b.lat)))
		} else {
			r.drainMsg.Add(int64(len(b.lat)))
		}
		r.lastNs.Store(b.now)
	}
	b.e = nil
}

// nowNs is the receive clock of the sinks.
func nowNs() int64 { return time.Now().UnixNano() }

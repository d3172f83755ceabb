// Package ringbuf owns the bounded buffers of logplex: Ring, a FIFO of
// messages that drops its oldest entry when full and remembers how many it
// dropped since when (docs/logplex.md §5.3: the loss an L10/L11 notice reports), and a
// typed pool of byte buffers.
//
//	Push ──► [ oldest │ … │ newest ] ──► Pop / PopWhile
//	           ▲ full: oldest dropped, lost++, firstLoss = now (if first)
//
// Ring keeps its messages back to back in one byte buffer, with a circular
// index of (offset, length) records beside it. Both are allocated on the
// first Push and grow with what is held, up to the capacity: an idle ring
// costs a few words, a busy one the bytes it holds plus 8 per message, and a
// warmed-up ring allocates nothing per message. Freed space at the front is
// reclaimed by moving the live bytes down once it is at least half the
// buffer (amortised: each byte moves at most once per time it is pushed).
// An emptied ring keeps its buffer up to maxKeptBytes, and a bigger one
// while the busy period that just ended needed a quarter of it: a drain
// that is busy all the time keeps its buffer, one whose burst is over gives
// it back when it next empties; Trim gives it back at once (an idle sender).
// A ring can also be bounded in bytes (SetMaxBytes, Fit: the node's budget
// for drain buffers cuts a ring down to its share), dropping its oldest as
// when it is full.
// A Ring is not safe for concurrent use: its owner holds a lock around each
// batch of calls.
//
// ringbuf imports the standard library only.
package ringbuf

// maxKeptBytes is the largest byte buffer a ring keeps once it is empty
// whatever it held; a bigger one (left by a burst or a rare huge message)
// is kept only while it is used (peak).
const maxKeptBytes = 256 << 10

// maxHeldBytes bounds the message bytes any ring holds, whatever its
// capacity in messages and its byte bound (SetMaxBytes): the index keeps
// offsets into the byte buffer as uint32, and the buffer grows to twice
// what the ring holds. Beyond it the oldest messages go as when the ring
// is full. Only an operator's capacity of ~100 000 large messages with no
// node budget reaches it. A variable so that tests can lower it.
var maxHeldBytes = 1 << 30

// minRecs is the index size a ring starts with.
const minRecs = 16

// minBytes is the byte buffer a ring starts with: a few messages (a drain
// that gets one now and then holds no more), doubling as it needs.
const minBytes = 512

type rec struct{ off, n uint32 }

// Span is one message in a caller's buffer: buf[Off:End].
type Span struct{ Off, End uint32 }

// Ring is a bounded FIFO of byte messages with drop-oldest.
type Ring struct {
	data      []byte // live messages are in data[recs[head].off:]
	recs      []rec  // circular; len is the allocated index size (<= limit, grows)
	head, n   int    // index of oldest, number held
	limit     int    // current capacity; may be shrunk below len(recs)
	size      int    // message bytes held
	peak      int    // the most bytes held since the ring was last empty
	lost      int
	firstLoss int64 // unix nanoseconds of the first loss since the last TakeLoss
	over      Overflow
	lens      []uint32 // scratch for over
	// maxBytes, when positive, bounds the message bytes held and the byte
	// buffer's growth (SetMaxBytes); shed counts the messages dropped to
	// keep within it since the last TakeShed (they count as lost too).
	maxBytes int
	shed     int
}

// Overflow takes the messages a full ring displaces instead of losing them
// (a drain's disk spill). Spill gets the displaced messages, oldest first,
// back to back in run with their lengths (both valid during the call only)
// and returns how many of them, from the first, it took; the ring counts
// the rest as lost. It is called only when the ring overflows (or shrinks),
// under its owner's lock: it must not block.
type Overflow interface {
	Spill(run []byte, lens []uint32, now int64) (took int)
}

// SetOverflow makes o receive the messages the ring displaces (nil: they
// are lost, counted).
func (r *Ring) SetOverflow(o Overflow) { r.over = o }

// SpillAll hands every held message to the Overflow (if any), as an
// overflow would; what it does not take is counted as lost. It returns the
// number lost.
func (r *Ring) SpillAll(now int64) int {
	before := r.lost
	r.dropOldest(r.n, now)
	return r.lost - before
}

// Offload offers every held message to the Overflow (if any), oldest
// first, and removes those it takes; the rest stay (nothing is lost). It
// returns the number taken.
func (r *Ring) Offload(now int64) int {
	if r.over == nil || r.n == 0 {
		return 0
	}
	took := r.offer(r.n, now)
	for k := took; k > 0; k-- {
		r.advance()
	}
	return took
}

// offer hands the k oldest messages (back to back from the head's offset)
// to the Overflow and returns how many it took.
func (r *Ring) offer(k int, now int64) int {
	r.lens = r.lens[:0]
	for i := 0; i < k; i++ {
		r.lens = append(r.lens, r.recs[r.at(i)].n)
	}
	last := r.recs[r.at(k-1)]
	return r.over.Spill(r.data[r.recs[r.head].off:last.off+last.n], r.lens, now)
}

// NewRing returns a ring that holds at most capacity messages (minimum 1).
// It allocates nothing until the first Push.
func NewRing(capacity int) *Ring {
	return &Ring{limit: max(capacity, 1)}
}

// Len is the number of messages held.
func (r *Ring) Len() int { return r.n }

// Cap is the current capacity.
func (r *Ring) Cap() int { return r.limit }

// Push copies msg in as the newest entry. When the ring is full the oldest
// entry is dropped and counted as lost at time now (unix ns); Push then
// reports true. Slices returned earlier by Peek, Pop or PopWhile are invalid
// afterwards.
func (r *Ring) Push(msg []byte, now int64) (dropped bool) {
	one := [1]Span{{Off: 0, End: uint32(len(msg))}}
	return r.PushRun(msg, one[:], now) > 0
}

// PushRun pushes the messages of run in order, as that many Push calls
// would (dropping the oldest, the earliest of them included, when they do
// not fit) with one copy of their bytes: spans must lie back to back in
// run, each starting where the one before ends. It returns how many
// messages were dropped (displaced and not taken by the Overflow).
func (r *Ring) PushRun(run []byte, spans []Span, now int64) (dropped int) {
	if len(spans) == 0 {
		return 0
	}
	if over := r.n + len(spans) - r.limit; over > 0 {
		lost := r.lost
		old := min(over, r.n)
		r.dropOldest(old, now)
		if skip := over - old; skip > 0 { // more than the ring holds: the earliest of the run go too
			r.AddLoss(skip-r.spillRun(run, spans[:skip], now), now)
			spans = spans[skip:]
		}
		dropped = r.lost - lost
	}
	if r.maxBytes > 0 || r.size+int(spans[len(spans)-1].End-spans[0].Off) > maxHeldBytes {
		lost, skip := r.fitBytes(run, spans, now)
		dropped += lost
		spans = spans[skip:]
	}
	k := len(spans)
	if r.n+k > len(r.recs) {
		r.growRecs(r.n + k)
	}
	first, last := int(spans[0].Off), int(spans[k-1].End)
	if need := last - first; len(r.data)+need > cap(r.data) {
		r.makeRoom(need)
	}
	base := uint32(len(r.data) - first)
	r.data = append(r.data, run[first:last]...)
	i := r.head + r.n
	for _, sp := range spans {
		if i >= len(r.recs) {
			i -= len(r.recs)
		}
		r.recs[i] = rec{off: base + sp.Off, n: sp.End - sp.Off}
		i++
	}
	r.n += k
	if r.size += last - first; r.size > r.peak {
		r.peak = r.size
	}
	return dropped
}

// fitBytes drops the oldest messages held, then the earliest of spans
// (all but the last), until the bytes held and the spans' fit within
// maxBytes (maxHeldBytes if lower or unset); it returns how many were lost
// (displaced and not taken by the Overflow), counted as shed when maxBytes
// bound them, and how many of spans it dropped.
func (r *Ring) fitBytes(run []byte, sp []Span, now int64) (lost, skip int) {
	bound := maxHeldBytes
	if r.maxBytes > 0 && r.maxBytes <= bound {
		bound = r.maxBytes
	}
	need := int(sp[len(sp)-1].End - sp[0].Off)
	if r.size+need <= bound {
		return 0, 0
	}
	before := r.lost
	r.dropOldest(r.oldestBeyond(bound-need), now)
	for skip < len(sp)-1 && need > bound {
		need -= int(sp[skip].End - sp[skip].Off)
		skip++
	}
	if skip > 0 {
		r.AddLoss(skip-r.spillRun(run, sp[:skip], now), now)
	}
	lost = r.lost - before
	if bound == r.maxBytes {
		r.shed += lost
	}
	return lost, skip
}

// SetMaxBytes bounds the message bytes the ring holds (0: no bound but
// the capacity in messages): a push drops the oldest messages (counted
// as lost, offered to the Overflow first) until the new ones fit, and
// the byte buffer grows no further than twice the bound. What the ring
// already holds beyond it stays until Fit or the next push.
func (r *Ring) SetMaxBytes(n int) { r.maxBytes = max(n, 0) }

// MaxBytes is the byte bound set by SetMaxBytes (0: none).
func (r *Ring) MaxBytes() int { return r.maxBytes }

// Fit sets the byte bound to n (SetMaxBytes) and keeps to it at once:
// drops the oldest messages until at most n bytes are held (counted as
// lost and shed, offered to the Overflow first) and, when the byte buffer
// is larger than twice n, moves the rest into one of that size. It
// returns how many messages were lost.
func (r *Ring) Fit(n int, now int64) (lost int) {
	r.SetMaxBytes(n)
	if n <= 0 {
		return 0
	}
	before := r.lost
	r.dropOldest(r.oldestBeyond(n), now)
	if size := max(2*n, minBytes); cap(r.data) > size {
		r.moveInto(size)
	}
	lost = r.lost - before
	r.shed += lost
	return lost
}

// oldestBeyond is how many of the oldest messages must go for the rest to
// hold at most n bytes (all of them for n < 0).
func (r *Ring) oldestBeyond(n int) int {
	k, freed := 0, 0
	for k < r.n && r.size-freed > n {
		freed += int(r.recs[r.at(k)].n)
		k++
	}
	return k
}

// TakeShed returns the messages dropped to keep within the byte bound
// since the last call, and resets the count.
func (r *Ring) TakeShed() int {
	n := r.shed
	r.shed = 0
	return n
}

// Footprint is the memory the ring holds: its byte buffer and its index.
func (r *Ring) Footprint() int { return cap(r.data) + len(r.recs)*8 }

// spillRun offers the messages of spans (back to back in run) to the
// Overflow and returns how many it took.
func (r *Ring) spillRun(run []byte, spans []Span, now int64) int {
	if r.over == nil {
		return 0
	}
	r.lens = r.lens[:0]
	for _, sp := range spans {
		r.lens = append(r.lens, sp.End-sp.Off)
	}
	return r.over.Spill(run[spans[0].Off:spans[len(spans)-1].End], r.lens, now)
}

// growRecs grows the index to hold at least need (at most limit) records,
// doubling, oldest first at 0.
func (r *Ring) growRecs(need int) {
	size := min(max(2*len(r.recs), minRecs, need), max(r.limit, need))
	recs := make([]rec, size)
	for i := 0; i < r.n; i++ {
		recs[i] = r.recs[r.at(i)]
	}
	r.recs, r.head = recs, 0
}

// makeRoom makes cap(data) hold need more bytes: by moving the live bytes
// to the front when that frees enough and at least half the buffer is dead,
// otherwise by growing. A ring bounded in bytes (maxBytes, and always
// maxHeldBytes) holds at most its bound once a push has made room
// (fitBytes), so it grows to twice the bound at most.
func (r *Ring) makeRoom(need int) {
	live, dead := r.spread()
	if dead >= live && live+need <= cap(r.data) {
		r.compact(dead)
		return
	}
	r.moveInto(max(2*(live+need), minBytes))
}

// spread is the live bytes of data and the dead ones before them.
func (r *Ring) spread() (live, dead int) {
	live = len(r.data)
	if r.n > 0 {
		dead = int(r.recs[r.head].off)
		live -= dead
	}
	return live, dead
}

// moveInto moves the live bytes into a new byte buffer of size bytes (at
// least the live bytes).
func (r *Ring) moveInto(size int) {
	live, dead := r.spread()
	data := make([]byte, live, size)
	copy(data, r.data[dead:])
	r.data = data
	r.shift(dead)
}

// compact moves the live bytes down by dead.
func (r *Ring) compact(dead int) {
	live := copy(r.data, r.data[dead:])
	r.data = r.data[:live]
	r.shift(dead)
}

func (r *Ring) shift(by int) {
	if by == 0 {
		return
	}
	for i := 0; i < r.n; i++ {
		r.recs[r.at(i)].off -= uint32(by)
	}
}

// at is the index slot of the i-th oldest message.
func (r *Ring) at(i int) int {
	i += r.head
	if i >= len(r.recs) {
		i -= len(r.recs)
	}
	return i
}

func (r *Ring) msg(i int) []byte {
	e := r.recs[i]
	return r.data[e.off : e.off+e.n : e.off+e.n]
}

// advance removes the oldest message.
func (r *Ring) advance() {
	r.size -= int(r.recs[r.head].n)
	r.head++
	if r.head == len(r.recs) {
		r.head = 0
	}
	r.n--
	if r.n == 0 {
		r.head = 0
		if c := cap(r.data); c > maxKeptBytes && r.peak < c/4 {
			r.data = nil
		} else {
			r.data = r.data[:0]
		}
		r.peak = 0
	}
}

// Trim releases the byte buffer and the index of an empty ring (an idle
// drain); the next Push allocates small ones.
func (r *Ring) Trim() {
	if r.n == 0 {
		r.data, r.peak = nil, 0 // size is 0
		r.recs, r.head = nil, 0
	}
}

func (r *Ring) dropOldest(k int, now int64) {
	k = min(k, r.n)
	if r.over != nil && k > 0 {
		for took := r.offer(k, now); took > 0; took, k = took-1, k-1 {
			r.advance()
		}
	}
	for ; k > 0 && r.n > 0; k-- {
		r.advance()
		if r.lost == 0 {
			r.firstLoss = now
		}
		r.lost++
	}
}

// Peek returns the oldest message; valid until the next Push or Resize.
func (r *Ring) Peek() ([]byte, bool) {
	if r.n == 0 {
		return nil, false
	}
	return r.msg(r.head), true
}

// Pop removes the oldest message and returns it; the slice is valid until the
// next Push or Resize.
func (r *Ring) Pop() ([]byte, bool) {
	if r.n == 0 {
		return nil, false
	}
	m := r.msg(r.head)
	r.advance()
	return m, true
}

// PopWhile calls take with the oldest messages in order; each message for
// which take returns true is removed, and the first false stops (that message
// stays). The slice passed to take is valid only during the call. It returns
// the number removed.
func (r *Ring) PopWhile(take func(msg []byte) bool) int {
	k := 0
	for r.n > 0 && take(r.msg(r.head)) {
		r.advance()
		k++
	}
	return k
}

// Each calls fn with every held message, oldest first, without removing them.
func (r *Ring) Each(fn func(msg []byte)) {
	for i := 0; i < r.n; i++ {
		fn(r.msg(r.at(i)))
	}
}

// Size is the number of message bytes held.
func (r *Ring) Size() int { return r.size }

// Resize changes the capacity. Shrinking below Len drops the oldest excess,
// counted as lost at time now. The index grows on demand up to the new
// capacity; shrinking releases it when it is more than twice what is needed.
func (r *Ring) Resize(capacity int, now int64) {
	capacity = max(capacity, 1)
	if r.n > capacity {
		r.dropOldest(r.n-capacity, now)
	}
	r.limit = capacity
	if len(r.recs) > 2*max(capacity, minRecs) {
		recs := make([]rec, max(capacity, r.n))
		for i := 0; i < r.n; i++ {
			recs[i] = r.recs[r.at(i)]
		}
		r.recs, r.head = recs, 0
	}
}

// Loss returns the messages lost since the last TakeLoss and when the first
// of them was lost (unix ns; 0 when none).
func (r *Ring) Loss() (n int, since int64) { return r.lost, r.firstLoss }

// TakeLoss returns Loss and resets it (the loss has been reported).
func (r *Ring) TakeLoss() (n int, since int64) {
	n, since = r.lost, r.firstLoss
	r.lost, r.firstLoss = 0, 0
	return n, since
}

// AddLoss records n messages lost outside the ring (e.g. a dropped request)
// at time now, so the next report includes them.
func (r *Ring) AddLoss(n int, now int64) {
	if n <= 0 {
		return
	}
	if r.lost == 0 {
		r.firstLoss = now
	}
	r.lost += n
}

// Package ringbuf owns the bounded buffers of logplex: Ring, a FIFO of
// messages that drops its oldest entry when full and remembers how many it
// dropped since when (spec §5.3: the loss an L10/L11 notice reports), and a
// typed pool of byte buffers.
//
//	Push ──► [ oldest │ … │ newest ] ──► Pop / PopWhile
//	           ▲ full: oldest dropped, lost++, firstLoss = now (if first)
//
// Ring copies each message into a slot buffer it reuses, so a warmed-up ring
// allocates nothing per message. A Ring is not safe for concurrent use: its
// owner holds a lock around each batch of calls.
//
// ringbuf imports the standard library only.
package ringbuf

// maxKeptSlot is the largest slot buffer a ring keeps after a pop; a bigger
// one (a rare huge message) is released so one burst cannot pin memory.
const maxKeptSlot = 16 << 10

// Ring is a bounded FIFO of byte messages with drop-oldest.
type Ring struct {
	slots     [][]byte
	head, n   int // index of oldest, number held
	limit     int // current capacity (<= len(slots)); may be shrunk below it
	lost      int
	firstLoss int64 // unix nanoseconds of the first loss since the last TakeLoss
}

// NewRing returns a ring that holds at most capacity messages (minimum 1).
func NewRing(capacity int) *Ring {
	capacity = max(capacity, 1)
	return &Ring{slots: make([][]byte, capacity), limit: capacity}
}

// Len is the number of messages held.
func (r *Ring) Len() int { return r.n }

// Cap is the current capacity.
func (r *Ring) Cap() int { return r.limit }

// Push copies msg in as the newest entry. When the ring is full the oldest
// entry is dropped and counted as lost at time now (unix ns); Push then
// reports true.
func (r *Ring) Push(msg []byte, now int64) (dropped bool) {
	if r.n == r.limit {
		r.dropOldest(1, now)
		dropped = true
	}
	i := (r.head + r.n) % len(r.slots)
	r.slots[i] = append(r.slots[i][:0], msg...)
	r.n++
	return dropped
}

func (r *Ring) dropOldest(k int, now int64) {
	for ; k > 0 && r.n > 0; k-- {
		r.release(r.head)
		r.head = (r.head + 1) % len(r.slots)
		r.n--
		if r.lost == 0 {
			r.firstLoss = now
		}
		r.lost++
	}
}

func (r *Ring) release(i int) {
	if cap(r.slots[i]) > maxKeptSlot {
		r.slots[i] = nil
	}
}

// Peek returns the oldest message; valid until the next Push, Pop or Resize.
func (r *Ring) Peek() ([]byte, bool) {
	if r.n == 0 {
		return nil, false
	}
	return r.slots[r.head], true
}

// Pop removes the oldest message and returns it; the slice is valid until the
// next Push or Resize.
func (r *Ring) Pop() ([]byte, bool) {
	if r.n == 0 {
		return nil, false
	}
	m := r.slots[r.head]
	r.release(r.head)
	r.head = (r.head + 1) % len(r.slots)
	r.n--
	return m, true
}

// PopWhile calls take with the oldest messages in order; each message for
// which take returns true is removed, and the first false stops (that message
// stays). The slice passed to take is valid only during the call. It returns
// the number removed.
func (r *Ring) PopWhile(take func(msg []byte) bool) int {
	k := 0
	for r.n > 0 && take(r.slots[r.head]) {
		r.release(r.head)
		r.head = (r.head + 1) % len(r.slots)
		r.n--
		k++
	}
	return k
}

// Each calls fn with every held message, oldest first, without removing them.
func (r *Ring) Each(fn func(msg []byte)) {
	for i := 0; i < r.n; i++ {
		fn(r.slots[(r.head+i)%len(r.slots)])
	}
}

// Resize changes the capacity. Shrinking below Len drops the oldest excess,
// counted as lost at time now. Growing past the allocated slots reallocates.
func (r *Ring) Resize(capacity int, now int64) {
	capacity = max(capacity, 1)
	if r.n > capacity {
		r.dropOldest(r.n-capacity, now)
	}
	if capacity > len(r.slots) {
		slots := make([][]byte, capacity)
		for i := 0; i < r.n; i++ {
			slots[i] = r.slots[(r.head+i)%len(r.slots)]
		}
		r.slots, r.head = slots, 0
	}
	r.limit = capacity
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

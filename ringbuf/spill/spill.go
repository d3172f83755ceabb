// Package spill is the disk half of a drain's buffer: a bounded FIFO of
// messages in append-only segment files, for the messages a full ring
// (ringbuf.Ring) would otherwise drop. It holds the same bytes the ring
// holds, written and read back sequentially in batches (records).
//
//	<dir>/<seq %016x>.seg   records, in order; the queue runs across segments by seq
//	<dir>/cursor            where reading resumes: seq, offset of a record, messages of it consumed
//
//	record = header (20 bytes) | count × uint32 lengths | the messages back to back
//	header = payload length u32 | count u32 | spilled at (unix ns) i64 | CRC-32C u32 of header[0:16] and the payload
//
// Append writes one record with one write(2) (a process killed by
// SIGKILL never leaves half a record; the page cache keeps what was
// written). A machine crash may tear the last record of a segment: Open
// scans the last segment, truncates it at the first record that is short or
// fails its CRC and reports what it cut (Repair). Fsync is a policy: after
// every record, at the end of each segment (and on Close), or never.
//
// Reading is Read (the next records after those read, up to a byte size,
// without consuming them), Consume (the next n messages read are done: the
// cursor moves on, finished segments are deleted) and Rewind (read again
// from the cursor). The cursor file is rewritten in
// place on each Consume (24 bytes, one write), so after a restart reading
// resumes where it was; a message is delivered again only if the process
// died between delivering it and consuming it. Prepend adds a record before
// everything (a new segment numbered one below the first): the frame a
// sender held when it was stopped goes back in front.
//
// Budget: every queue has its own bound (MaxBytes) and draws on a shared
// node Budget; both count whole files (headers included), and space is
// reserved before it is written, so the files never exceed either bound.
// An emptied queue deletes its files.
//
// A Queue is safe for concurrent use (one mutex; callers batch).
//
// spill imports the standard library only.
package spill

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// HeaderSize is the size of a record header; a record of n messages of b
// bytes in all takes HeaderSize + 4n + b bytes on disk.
const HeaderSize = 20

// RecordSize is the disk size of a record of n messages of b bytes.
func RecordSize(n, b int) int64 { return int64(HeaderSize + 4*n + b) }

// maxRecord bounds a record's payload when reading (a corrupt length must
// not allocate gigabytes).
const maxRecord = 256 << 20

// firstSeq is the number of the first segment of an empty queue: far from
// 0 so that Prepend can always go below.
const firstSeq = uint64(1) << 40

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFull: the record does not fit the queue's or the node's budget.
var ErrFull = errors.New("spill: budget exhausted")

// Sync is the fsync policy.
type Sync uint8

const (
	// SyncSegment fsyncs a segment when it is finished and on Close.
	SyncSegment Sync = iota
	// SyncAlways fsyncs after every record.
	SyncAlways
	// SyncNever leaves writing back to the kernel.
	SyncNever
)

// ParseSync reads "segment", "always" or "never".
func ParseSync(s string) (Sync, error) {
	switch s {
	case "segment", "":
		return SyncSegment, nil
	case "always":
		return SyncAlways, nil
	case "never":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("spill: fsync policy %q: want segment, always or never", s)
}

// Budget is the bytes all queues of a node may hold on disk.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes (at least 0).
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Used is the bytes held or reserved now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Max is the budget.
func (b *Budget) Max() int64 { return b.max }

// take reserves n bytes; false (nothing reserved) when they do not fit.
func (b *Budget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Add counts n bytes found on disk (they may exceed the budget: files of
// an earlier run with a bigger one); negative n releases.
func (b *Budget) Add(n int64) { b.used.Add(n) }

// Options configure a Queue.
type Options struct {
	SegmentBytes int64   // a segment is finished once it holds this much; default 16 MiB
	MaxBytes     int64   // the queue's own bound; 0: only the node budget
	Budget       *Budget // the node's; nil: none
	Sync         Sync
}

// Repair is what Open found and cut.
type Repair struct {
	TornBytes int64 // bytes cut from the end of the last segment
	LostMsgs  int   // messages of the records cut, where their header was whole
}

type segment struct {
	seq  uint64
	size int64
}

// Queue is one drain's spill.
type Queue struct {
	dir  string
	opts Options

	mu       sync.Mutex
	segs     []segment // ascending seq; the last is the one appended to
	w        *os.File  // the last segment, open for appending; nil until the first Append
	r        *os.File  // the segment at the cursor (may be w's file, opened separately)
	rseq     uint64
	cur      *os.File // the cursor file
	cseq     uint64   // cursor: segment,
	coff     int64    // offset of the record,
	cidx     int      // and messages of it consumed
	bytes    int64    // on disk, counted in the budgets
	reserved int64    // reserved for records not yet written
	msgs     int64    // messages not consumed
	removed  bool

	// reading ahead of the cursor: Read moves the read position on,
	// Consume the cursor; ahead are the records read and not wholly
	// consumed (the first is the cursor's)
	pseq    uint64
	poff    int64
	ahead   []record
	rbuf    []byte
	rlens   []uint32
	payload []byte
	// chunk is a piece of the reader's segment read at once (from chunkOff
	// of chunkFile): a catch-up reads records of one message each, two
	// syscalls apiece without it
	chunk     []byte
	chunkOff  int64
	chunkFile *os.File
	scratch   []byte
}

// record is one record read ahead of the cursor.
type record struct {
	seq       uint64
	off, size int64
	count     int
}

// Open opens (creating it if needed) the queue in dir, repairs a torn
// tail, and counts its files in the budget.
func Open(dir string, o Options) (*Queue, Repair, error) {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 16 << 20
	}
	var rep Repair
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rep, err
	}
	q := &Queue{dir: dir, opts: o}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, rep, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, rep, err
		}
		q.segs = append(q.segs, segment{seq: seq, size: fi.Size()})
	}
	slices.SortFunc(q.segs, func(a, b segment) int { return cmpU64(a.seq, b.seq) })
	if q.cur, err = os.OpenFile(filepath.Join(dir, "cursor"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, rep, err
	}
	if err := q.load(&rep); err != nil {
		q.cur.Close()
		return nil, rep, err
	}
	if o.Budget != nil {
		o.Budget.Add(q.bytes)
	}
	return q, rep, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (q *Queue) segPath(seq uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%016x.seg", seq))
}

// load reads the cursor, repairs the last segment and counts the messages
// from the cursor on.
func (q *Queue) load(rep *Repair) error {
	if len(q.segs) == 0 {
		return nil
	}
	last := &q.segs[len(q.segs)-1]
	f, err := os.OpenFile(q.segPath(last.seq), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	good, lost := scan(f, last.size, true, nil)
	if good < last.size {
		rep.TornBytes, rep.LostMsgs = last.size-good, lost
		if err := f.Truncate(good); err != nil {
			f.Close()
			return err
		}
		last.size = good
	}
	f.Close()
	var c [24]byte
	if n, _ := q.cur.ReadAt(c[:], 0); n == 24 && crc32.Checksum(c[:20], castagnoli) == binary.LittleEndian.Uint32(c[20:]) {
		q.cseq, q.coff, q.cidx = binary.LittleEndian.Uint64(c[0:]), int64(binary.LittleEndian.Uint64(c[8:])), int(binary.LittleEndian.Uint32(c[16:]))
	}
	// Drop segments before the cursor (consumed; their deletion was cut
	// short), and start at the first one when the cursor names none.
	i := slices.IndexFunc(q.segs, func(s segment) bool { return s.seq >= q.cseq })
	switch {
	case i < 0:
		i = len(q.segs)
	case q.segs[i].seq != q.cseq:
		q.cseq, q.coff, q.cidx = q.segs[i].seq, 0, 0
	}
	for _, s := range q.segs[:i] {
		os.Remove(q.segPath(s.seq))
	}
	q.segs = q.segs[i:]
	for _, s := range q.segs {
		q.bytes += s.size
	}
	for k, s := range q.segs {
		f, err := os.Open(q.segPath(s.seq))
		if err != nil {
			return err
		}
		from := int64(0)
		if k == 0 {
			from = q.coff
		}
		var n int64
		good, _ := scan(f, s.size, false, func(off int64, count int) {
			if off >= from {
				n += int64(count)
			}
		})
		f.Close()
		if good < s.size && k < len(q.segs)-1 {
			// a damaged middle segment: read up to the damage, skip the rest
			q.segs[k].size = good
		}
		q.msgs += n
	}
	if q.msgs > 0 && len(q.segs) > 0 && q.coff >= 0 {
		q.msgs -= int64(q.cidx)
	}
	if q.msgs <= 0 {
		q.reset()
	}
	return nil
}

// scan walks the records of f up to size and returns the end of the last
// good one; with check it verifies CRCs, and it returns the messages of a
// record cut after a whole header. each, if set, gets every good record.
func scan(f *os.File, size int64, check bool, each func(off int64, count int)) (good int64, lost int) {
	var h [HeaderSize]byte
	var payload []byte
	off := int64(0)
	for off < size {
		if size-off < HeaderSize {
			return off, 0
		}
		if _, err := f.ReadAt(h[:], off); err != nil {
			return off, 0
		}
		plen, count := binary.LittleEndian.Uint32(h[0:]), binary.LittleEndian.Uint32(h[4:])
		if plen > maxRecord || uint64(count)*4 > uint64(plen) {
			return off, 0
		}
		end := off + HeaderSize + int64(plen)
		if end > size {
			return off, int(count)
		}
		if check {
			payload = slices.Grow(payload[:0], int(plen))[:plen]
			if _, err := f.ReadAt(payload, off+HeaderSize); err != nil {
				return off, int(count)
			}
			c := crc32.Update(crc32.Checksum(h[:16], castagnoli), castagnoli, payload)
			if c != binary.LittleEndian.Uint32(h[16:]) {
				return off, int(count)
			}
		}
		if each != nil {
			each(off, int(count))
		}
		off = end
	}
	return off, 0
}

// reset deletes every segment of an emptied queue.
func (q *Queue) reset() {
	if q.w != nil {
		q.w.Close()
		q.w = nil
	}
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	for _, s := range q.segs {
		os.Remove(q.segPath(s.seq))
	}
	if q.opts.Budget != nil {
		q.opts.Budget.Add(-q.bytes)
	}
	q.segs, q.bytes, q.msgs = nil, 0, 0
	q.cseq, q.coff, q.cidx = 0, 0, 0
	q.ahead = q.ahead[:0]
	q.writeCursor()
}

// Reserve sets aside n bytes of both budgets for records to come; false
// (nothing reserved) when they do not fit.
func (q *Queue) Reserve(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reserve(n)
}

func (q *Queue) reserve(n int64) bool {
	if q.removed || (q.opts.MaxBytes > 0 && q.bytes+q.reserved+n > q.opts.MaxBytes) {
		return false
	}
	if q.opts.Budget != nil && !q.opts.Budget.take(n) {
		return false
	}
	q.reserved += n
	return true
}

// Unreserve gives back n reserved bytes.
func (q *Queue) Unreserve(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.unreserve(n)
}

func (q *Queue) unreserve(n int64) {
	n = min(n, q.reserved)
	q.reserved -= n
	if q.opts.Budget != nil {
		q.opts.Budget.Add(-n)
	}
}

// Append writes one record of the messages of run (back to back, lengths
// in lens), spilled at time at. reserved bytes were set aside with Reserve
// for it (they are used first; what the record needs beyond them is
// reserved now, ErrFull if it does not fit; what is left over stays
// reserved). Nothing is written on an error.
func (q *Queue) Append(run []byte, lens []uint32, at int64, reserved int64) error {
	if len(lens) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.append(run, lens, at, reserved, false)
}

// Prepend writes one record before every other one: it is read next.
func (q *Queue) Prepend(run []byte, lens []uint32, at int64) error {
	if len(lens) == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.append(run, lens, at, 0, true)
}

func (q *Queue) append(run []byte, lens []uint32, at int64, reserved int64, front bool) error {
	if q.removed {
		return ErrFull
	}
	size := RecordSize(len(lens), len(run))
	if extra := size - min(reserved, q.reserved); extra > 0 && !q.reserve(extra) {
		return ErrFull
	}
	q.scratch = encode(q.scratch[:0], run, lens, at)
	rec := q.scratch
	var err error
	if front && len(q.segs) > 0 {
		err = q.writeFront(rec)
	} else {
		err = q.writeBack(rec)
	}
	if err != nil {
		q.unreserve(size)
		return err
	}
	q.reserved -= size // now counted in bytes
	q.bytes += size
	q.msgs += int64(len(lens))
	return nil
}

// encode appends the record to dst.
func encode(dst, run []byte, lens []uint32, at int64) []byte {
	plen := 4*len(lens) + len(run)
	b := slices.Grow(dst, HeaderSize+plen)
	start := len(b)
	b = b[:start+HeaderSize]
	h := b[start:]
	binary.LittleEndian.PutUint32(h[0:], uint32(plen))
	binary.LittleEndian.PutUint32(h[4:], uint32(len(lens)))
	binary.LittleEndian.PutUint64(h[8:], uint64(at))
	for _, n := range lens {
		b = binary.LittleEndian.AppendUint32(b, n)
	}
	b = append(b, run...)
	r := b[start:]
	binary.LittleEndian.PutUint32(r[16:], crc32.Update(crc32.Checksum(r[:16], castagnoli), castagnoli, r[HeaderSize:]))
	return b
}

// writeBack appends rec to the last segment, starting a new one when it is
// full.
func (q *Queue) writeBack(rec []byte) error {
	if n := len(q.segs); n > 0 && q.segs[n-1].size > 0 && q.segs[n-1].size+int64(len(rec)) > q.opts.SegmentBytes {
		if err := q.finishSegment(); err != nil {
			return err
		}
		q.segs = append(q.segs, segment{seq: q.segs[n-1].seq + 1})
	}
	if len(q.segs) == 0 {
		q.segs = append(q.segs, segment{seq: firstSeq})
		q.cseq, q.coff, q.cidx = firstSeq, 0, 0
		q.writeCursor()
	}
	last := &q.segs[len(q.segs)-1]
	if q.w == nil {
		f, err := os.OpenFile(q.segPath(last.seq), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			q.dropEmptyTail()
			return err
		}
		q.w = f
	}
	if _, err := q.w.Write(rec); err != nil {
		// a short write leaves a torn record: cut it so the next append
		// starts clean
		q.w.Truncate(last.size)
		return err
	}
	last.size += int64(len(rec))
	if q.opts.Sync == SyncAlways {
		return q.w.Sync()
	}
	return nil
}

// dropEmptyTail forgets a last segment that was never written.
func (q *Queue) dropEmptyTail() {
	if n := len(q.segs); n > 0 && q.segs[n-1].size == 0 {
		os.Remove(q.segPath(q.segs[n-1].seq))
		q.segs = q.segs[:n-1]
	}
}

// finishSegment fsyncs (by policy) and closes the segment appended to.
func (q *Queue) finishSegment() error {
	if q.w == nil {
		return nil
	}
	var err error
	if q.opts.Sync != SyncNever {
		err = q.w.Sync()
	}
	q.w.Close()
	q.w = nil
	return err
}

// writeFront writes rec as a segment of its own before the first, and
// points the cursor at it. The record at the cursor is kept as it is:
// messages of it already consumed stay consumed (the cursor's first
// segment keeps its offset through a rewrite of the cursor below).
func (q *Queue) writeFront(rec []byte) error {
	seq := q.segs[0].seq - 1
	if q.cseq != q.segs[0].seq {
		return errors.New("spill: cursor is not on the first segment")
	}
	q.ahead = q.ahead[:0] // what was read ahead is read again after the new record
	// Records of the first segment before the cursor are consumed; the
	// cursor must stay valid: write the new segment, then a cursor that
	// says "new segment, 0" — and the old first segment is read from its
	// start again, so cut what was consumed from it first.
	if q.coff > 0 || q.cidx > 0 {
		if err := q.compactFirst(); err != nil {
			return err
		}
	}
	p := q.segPath(seq)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(rec)
	if err == nil && q.opts.Sync != SyncNever {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		os.Remove(p)
		return err
	}
	q.segs = slices.Insert(q.segs, 0, segment{seq: seq, size: int64(len(rec))})
	q.cseq, q.coff, q.cidx = seq, 0, 0
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	q.writeCursor()
	return nil
}

// compactFirst rewrites the first segment without what was consumed of it
// (at most the record at the cursor is partly consumed: its unconsumed
// messages become a record of their own). Rare: Prepend on stop.
func (q *Queue) compactFirst() error {
	first := q.segs[0]
	var rest []byte
	if q.coff < first.size {
		count, at, payload, size, err := q.readRecord(first.seq, q.coff, first.size)
		if err != nil {
			return err
		}
		lens := make([]uint32, count)
		skip := 0
		for i := range lens {
			lens[i] = binary.LittleEndian.Uint32(payload[4*i:])
			if i < q.cidx {
				skip += int(lens[i])
			}
		}
		rest = encode(rest, payload[4*count+skip:], lens[q.cidx:], at)
		tail := make([]byte, first.size-(q.coff+size))
		if len(tail) > 0 {
			if _, err := q.reader(first.seq).ReadAt(tail, q.coff+size); err != nil {
				return err
			}
		}
		rest = append(rest, tail...)
	}
	tmp := q.segPath(first.seq) + ".tmp"
	if err := os.WriteFile(tmp, rest, 0o600); err != nil {
		return err
	}
	if q.w != nil && len(q.segs) == 1 {
		q.w.Close()
		q.w = nil
	}
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	if err := os.Rename(tmp, q.segPath(first.seq)); err != nil {
		return err
	}
	q.bytes += int64(len(rest)) - first.size
	if q.opts.Budget != nil {
		q.opts.Budget.Add(int64(len(rest)) - first.size)
	}
	q.segs[0].size = int64(len(rest))
	q.coff, q.cidx = 0, 0
	return nil
}

// writeCursor records the cursor (one 24-byte write in place).
func (q *Queue) writeCursor() {
	var c [24]byte
	binary.LittleEndian.PutUint64(c[0:], q.cseq)
	binary.LittleEndian.PutUint64(c[8:], uint64(q.coff))
	binary.LittleEndian.PutUint32(c[16:], uint32(q.cidx))
	binary.LittleEndian.PutUint32(c[20:], crc32.Checksum(c[:20], castagnoli))
	q.cur.WriteAt(c[:], 0)
}

// reader is the open file of segment seq (nil if it cannot be opened).
func (q *Queue) reader(seq uint64) *os.File {
	if q.r != nil && q.rseq == seq {
		return q.r
	}
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	f, err := os.Open(q.segPath(seq))
	if err != nil {
		return nil
	}
	q.r, q.rseq = f, seq
	return f
}

// readRecord reads and checks the record at off of segment seq (whose
// size is size): its message count, time, payload (valid until the next
// call) and size on disk.
func (q *Queue) readRecord(seq uint64, off, size int64) (count int, at int64, payload []byte, recSize int64, err error) {
	f := q.reader(seq)
	if f == nil {
		return 0, 0, nil, 0, fmt.Errorf("segment %x missing", seq)
	}
	var h [HeaderSize]byte
	if hb, ok := q.chunkAt(f, off, HeaderSize, size); ok {
		copy(h[:], hb)
	} else if _, err := f.ReadAt(h[:], off); err != nil {
		return 0, 0, nil, 0, err
	}
	plen, n := binary.LittleEndian.Uint32(h[0:]), binary.LittleEndian.Uint32(h[4:])
	if plen > maxRecord || uint64(n)*4 > uint64(plen) || off+HeaderSize+int64(plen) > size {
		return 0, 0, nil, 0, errors.New("bad record header")
	}
	if pb, ok := q.chunkAt(f, off+HeaderSize, int(plen), size); ok {
		q.payload = append(q.payload[:0], pb...)
	} else {
		q.payload = slices.Grow(q.payload[:0], int(plen))[:plen]
		if _, err := f.ReadAt(q.payload, off+HeaderSize); err != nil && err != io.EOF {
			return 0, 0, nil, 0, err
		}
	}
	if crc32.Update(crc32.Checksum(h[:16], castagnoli), castagnoli, q.payload) != binary.LittleEndian.Uint32(h[16:]) {
		return 0, 0, nil, 0, errors.New("record CRC mismatch")
	}
	return int(n), int64(binary.LittleEndian.Uint64(h[8:])), q.payload, HeaderSize + int64(plen), nil
}

// chunkSize is how much of a segment readRecord reads at once.
const chunkSize = 256 << 10

// chunkAt returns n bytes of f at off from the chunk, reading a new chunk
// (up to size, the segment's written length) when they are not in it;
// false for a piece larger than a chunk or a failed read (the caller reads
// it directly).
func (q *Queue) chunkAt(f *os.File, off int64, n int, size int64) ([]byte, bool) {
	if n > chunkSize {
		return nil, false
	}
	if q.chunkFile != f || off < q.chunkOff || off+int64(n) > q.chunkOff+int64(len(q.chunk)) {
		want := int(min(int64(chunkSize), size-off))
		if want < n {
			return nil, false
		}
		q.chunk = slices.Grow(q.chunk[:0], chunkSize)[:want]
		m, err := f.ReadAt(q.chunk, off)
		q.chunk, q.chunkOff, q.chunkFile = q.chunk[:m], off, f
		if err != nil && err != io.EOF || m < n {
			q.chunkFile = nil
			return nil, false
		}
	}
	i := off - q.chunkOff
	return q.chunk[i : i+int64(n)], true
}

func (q *Queue) segIndex(seq uint64) int {
	return slices.IndexFunc(q.segs, func(s segment) bool { return s.seq == seq })
}

// Read returns the next messages after those read before (from the cursor
// after Rewind, Open or when all read were consumed), whole records of them
// up to about maxBytes (at least one record): their bytes back to back in
// run, their lengths, and when the first of them was spilled (unix ns).
// Nothing is consumed: Consume does that. Both slices are valid until the
// next call on q. Empty when there is nothing more. An error means damaged
// data was skipped (the messages in it are gone; Len no longer counts
// them); what was read before it is returned.
func (q *Queue) Read(maxBytes int) (run []byte, lens []uint32, at int64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rbuf, q.rlens = q.rbuf[:0], q.rlens[:0]
	if q.msgs <= 0 || len(q.segs) == 0 {
		return nil, nil, 0, nil
	}
	skipIdx := 0
	if len(q.ahead) == 0 {
		q.pseq, q.poff, skipIdx = q.cseq, q.coff, q.cidx
	}
	for len(q.rlens) == 0 || len(q.rbuf) < maxBytes {
		i := q.segIndex(q.pseq)
		if i < 0 {
			break
		}
		if q.poff >= q.segs[i].size {
			if i+1 >= len(q.segs) {
				break
			}
			q.pseq, q.poff = q.segs[i+1].seq, 0
			continue
		}
		count, recAt, payload, size, rerr := q.readRecord(q.pseq, q.poff, q.segs[i].size)
		if rerr != nil {
			err = fmt.Errorf("spill: %s at %x:%d: rest of the segment skipped: %w", q.dir, q.pseq, q.poff, rerr)
			q.segs[i].size = q.poff
			continue
		}
		skip := 0
		for k := range count {
			l := binary.LittleEndian.Uint32(payload[4*k:])
			if k < skipIdx {
				skip += int(l)
			} else {
				q.rlens = append(q.rlens, l)
			}
		}
		if len(q.rbuf) == 0 {
			at = recAt
		}
		q.rbuf = append(q.rbuf, payload[4*count+skip:]...)
		q.ahead = append(q.ahead, record{seq: q.pseq, off: q.poff, size: size, count: count})
		q.poff += size
		skipIdx = 0
	}
	if err != nil {
		q.recount()
	}
	return q.rbuf, q.rlens, at, err
}

// Rewind makes the next Read start again at the cursor (what was read and
// not consumed is read again).
func (q *Queue) Rewind() {
	q.mu.Lock()
	q.ahead = q.ahead[:0]
	q.mu.Unlock()
}

// recount recomputes msgs after damage was skipped: the messages from the
// cursor on that can still be read.
func (q *Queue) recount() {
	var n int64
	for k, s := range q.segs {
		f, err := os.Open(q.segPath(s.seq))
		if err != nil {
			continue
		}
		from := int64(0)
		if k == 0 {
			from = q.coff
		}
		scan(f, s.size, false, func(off int64, count int) {
			if off >= from {
				n += int64(count)
			}
		})
		f.Close()
	}
	q.msgs = max(n-int64(q.cidx), 0)
	if q.msgs == 0 {
		q.reset()
	}
}

// Consume marks the next n messages read as done (n at most the number
// read and not consumed): the cursor moves on, finished segments go.
func (q *Queue) Consume(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for n > 0 && len(q.ahead) > 0 {
		r := q.ahead[0]
		left := r.count - q.cidx
		if n < left {
			q.cidx += n
			q.msgs -= int64(n)
			break
		}
		n -= left
		q.msgs -= int64(left)
		q.ahead = q.ahead[1:]
		q.cseq, q.coff, q.cidx = r.seq, r.off+r.size, 0
	}
	if q.msgs <= 0 {
		q.reset()
		return
	}
	for len(q.segs) > 1 && (q.segs[0].seq < q.cseq || q.coff >= q.segs[0].size) {
		done := q.segs[0]
		if q.r != nil && q.rseq == done.seq {
			q.r.Close()
			q.r = nil
		}
		os.Remove(q.segPath(done.seq))
		q.bytes -= done.size
		if q.opts.Budget != nil {
			q.opts.Budget.Add(-done.size)
		}
		q.segs = q.segs[1:]
		if q.cseq < q.segs[0].seq { // the cursor's record is the next segment's first
			q.cseq, q.coff = q.segs[0].seq, 0
		}
	}
	q.writeCursor()
}

// Len is the messages not consumed and the bytes on disk.
func (q *Queue) Len() (msgs, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msgs, q.bytes
}

// Sync fsyncs the segment being appended to (whatever the policy).
func (q *Queue) Sync() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w == nil {
		return nil
	}
	return q.w.Sync()
}

// Close syncs (unless the policy is never) and closes the files; the queue
// stays on disk and counted in the budget until Remove. Reserved bytes are
// given back.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.finishSegment()
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	q.unreserve(q.reserved)
	q.cur.Close()
	q.removed = true
	return err
}

// Remove deletes the queue's directory and gives its bytes back to the
// budget; the queue cannot be used afterwards.
func (q *Queue) Remove() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.w != nil {
		q.w.Close()
		q.w = nil
	}
	if q.r != nil {
		q.r.Close()
		q.r = nil
	}
	if !q.removed {
		q.cur.Close()
		q.unreserve(q.reserved)
	}
	if q.opts.Budget != nil {
		q.opts.Budget.Add(-q.bytes)
	}
	q.bytes, q.msgs, q.segs, q.removed = 0, 0, nil, true
	return os.RemoveAll(q.dir)
}

// DirBytes is the size of the segment files under dir (a queue not open).
func DirBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".seg") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

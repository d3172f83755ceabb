package spill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// batch returns messages "m<from>".."m<to-1>" back to back and their lengths.
func batch(from, to int) ([]byte, []uint32) {
	var run []byte
	var lens []uint32
	for i := from; i < to; i++ {
		m := fmt.Sprintf("m%d-%s", i, strings.Repeat("x", i%37))
		run = append(run, m...)
		lens = append(lens, uint32(len(m)))
	}
	return run, lens
}

func open(t *testing.T, dir string, o Options) *Queue {
	t.Helper()
	q, rep, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (Repair{}) {
		t.Fatalf("unexpected repair %+v", rep)
	}
	return q
}

func appendRange(t *testing.T, q *Queue, from, to int) {
	t.Helper()
	run, lens := batch(from, to)
	if err := q.Append(run, lens, int64(from), 0); err != nil {
		t.Fatal(err)
	}
}

// drainAll reads every message, consuming take at a time, and returns
// them.
func drainAll(t *testing.T, q *Queue, take int) []string {
	t.Helper()
	var out []string
	for {
		run, lens, _, err := q.Read(700)
		if err != nil {
			t.Fatal(err)
		}
		if len(lens) == 0 {
			return out
		}
		off := 0
		for len(lens) > 0 {
			n := min(take, len(lens))
			for _, l := range lens[:n] {
				out = append(out, string(run[off:off+int(l)]))
				off += int(l)
			}
			lens = lens[n:]
			q.Consume(n)
		}
	}
}

// readOne reads the message at the cursor (again) and consumes it.
func readOne(t *testing.T, q *Queue) string {
	t.Helper()
	q.Rewind()
	run, lens, _, err := q.Read(1)
	if err != nil || len(lens) == 0 {
		t.Fatalf("Read: %d messages, %v", len(lens), err)
	}
	q.Consume(1)
	return string(run[:lens[0]])
}

func want(from, to int) []string {
	run, lens := batch(from, to)
	var out []string
	off := 0
	for _, l := range lens {
		out = append(out, string(run[off:off+int(l)]))
		off += int(l)
	}
	return out
}

func equal(t *testing.T, got, exp []string) {
	t.Helper()
	if len(got) != len(exp) {
		t.Fatalf("got %d messages, want %d", len(got), len(exp))
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("message %d: got %q, want %q", i, got[i], exp[i])
		}
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

func TestInOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{SegmentBytes: 1000})
	for i := 0; i < 1000; i += 10 {
		appendRange(t, q, i, i+10)
	}
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("%d segments; the test wants several", n)
	}
	if m, _ := q.Len(); m != 1000 {
		t.Fatalf("Len = %d", m)
	}
	equal(t, drainAll(t, q, 3), want(0, 1000))
	if m, b := q.Len(); m != 0 || b != 0 {
		t.Fatalf("emptied queue: Len = %d, %d bytes", m, b)
	}
	if n := len(segFiles(t, dir)); n != 0 {
		t.Fatalf("emptied queue keeps %d segment files", n)
	}
	// and it works again after being emptied
	appendRange(t, q, 5, 9)
	equal(t, drainAll(t, q, 100), want(5, 9))
}

// TestResumesAfterReopen: what was consumed stays consumed, mid-record too.
func TestResumesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{SegmentBytes: 500})
	for i := 0; i < 200; i += 20 {
		appendRange(t, q, i, i+20)
	}
	got := []string{}
	for len(got) < 47 { // ends mid-record
		got = append(got, readOne(t, q))
	}
	q.Close()
	q = open(t, dir, Options{SegmentBytes: 500})
	if m, _ := q.Len(); m != 153 {
		t.Fatalf("after reopen Len = %d, want 153", m)
	}
	got = append(got, drainAll(t, q, 7)...)
	equal(t, got, want(0, 200))
}

// TestTornTail: a record cut short (a crash mid-write) or with a bad CRC
// at the end of the last segment is cut off and reported; the records
// before it are read back whole, and appending goes on cleanly after it.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		harm func(t *testing.T, path string, size int64)
		lost int
	}{
		{"cut mid-payload", func(t *testing.T, p string, size int64) { os.Truncate(p, size-5) }, 10},
		{"cut mid-header", func(t *testing.T, p string, size int64) {
			os.Truncate(p, size-RecordSize(10, len(mustRun(90, 100)))+7)
		}, 0},
		{"flipped byte", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			defer f.Close()
			b := []byte{0}
			f.ReadAt(b, size-3)
			b[0] ^= 0xff
			f.WriteAt(b, size-3)
		}, 10},
		{"garbage after", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
			defer f.Close()
			f.Write([]byte("garbage that is not a record at all"))
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := NewBudget(1 << 30)
			q := open(t, dir, Options{Budget: b})
			for i := 0; i < 100; i += 10 {
				appendRange(t, q, i, i+10)
			}
			q.Close()
			segs := segFiles(t, dir)
			fi, _ := os.Stat(segs[len(segs)-1])
			tc.harm(t, segs[len(segs)-1], fi.Size())
			b2 := NewBudget(1 << 30)
			q, rep, err := Open(dir, Options{Budget: b2})
			if err != nil {
				t.Fatal(err)
			}
			if rep.TornBytes == 0 || rep.LostMsgs != tc.lost {
				t.Fatalf("repair %+v, want torn bytes and %d lost", rep, tc.lost)
			}
			keep := 100
			if tc.lost > 0 || tc.name == "cut mid-header" {
				keep = 90
			}
			if m, by := q.Len(); m != int64(keep) || by != b2.Used() {
				t.Fatalf("Len %d, %d bytes (budget %d), want %d messages", m, by, b2.Used(), keep)
			}
			appendRange(t, q, 1000, 1005)
			equal(t, drainAll(t, q, 4), append(want(0, keep), want(1000, 1005)...))
		})
	}
}

func mustRun(from, to int) []byte { r, _ := batch(from, to); return r }

// TestBudgets: a queue never holds more than its own bound nor more than
// the node's budget; what is refused is not written; space comes back
// when messages are consumed or the queue is removed.
func TestBudgets(t *testing.T) {
	node := NewBudget(3000)
	a := open(t, t.TempDir(), Options{MaxBytes: 2000, Budget: node, SegmentBytes: 700})
	b := open(t, t.TempDir(), Options{MaxBytes: 2000, Budget: node, SegmentBytes: 700})
	full := func(q *Queue, from int) int {
		n := 0
		for i := from; ; i += 5 {
			run, lens := batch(i, i+5)
			if err := q.Append(run, lens, 0, 0); err != nil {
				if err != ErrFull {
					t.Fatal(err)
				}
				return n
			}
			n += 5
		}
	}
	na := full(a, 0)
	if _, by := a.Len(); by > 2000 || by < 1500 {
		t.Fatalf("queue a holds %d bytes, bound 2000", by)
	}
	nb := full(b, 0)
	if node.Used() > 3000 {
		t.Fatalf("node budget exceeded: %d", node.Used())
	}
	if _, by := b.Len(); by+mustLen(a) > 3000 {
		t.Fatalf("queue b holds %d bytes: more than the node has left", by)
	}
	if na == 0 || nb == 0 {
		t.Fatal("nothing was written")
	}
	// reservations count too
	if a.Reserve(2000 - mustLen(a) + 1) {
		t.Fatal("a reserved beyond its bound")
	}
	equal(t, drainAll(t, a, 1000), want(0, na))
	if node.Used() != mustLen(b) {
		t.Fatalf("node budget %d after a was emptied, b holds %d", node.Used(), mustLen(b))
	}
	if !a.Reserve(500) {
		t.Fatal("no room after emptying a")
	}
	a.Unreserve(500)
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if node.Used() != 0 {
		t.Fatalf("node budget %d after removing b", node.Used())
	}
}

func mustLen(q *Queue) int64 { _, b := q.Len(); return b }

// TestReadAhead: Read goes on after what was read before, Consume and
// Rewind work across records and segments, and what was read but not
// consumed when the queue is closed is read again after reopening.
func TestReadAhead(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{SegmentBytes: 300})
	for i := 0; i < 100; i += 5 {
		appendRange(t, q, i, i+5)
	}
	_, lens, _, _ := q.Read(200)
	first := len(lens)
	_, lens, _, _ = q.Read(200)
	if first < 5 || len(lens) < 5 {
		t.Fatalf("Read gave %d then %d messages", first, len(lens))
	}
	q.Consume(first + 2) // into the second read
	q.Rewind()
	equal(t, []string{readOne(t, q)}, want(first+2, first+3))
	q.Close()
	q = open(t, dir, Options{SegmentBytes: 300})
	equal(t, drainAll(t, q, 4), want(first+3, 100))
}

// TestBudgetCountsFilesOnOpen: a reopened queue's files count in the budget.
func TestBudgetCountsFilesOnOpen(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{})
	appendRange(t, q, 0, 50)
	_, by := q.Len()
	q.Close()
	node := NewBudget(1 << 20)
	q = open(t, dir, Options{Budget: node})
	if node.Used() != by {
		t.Fatalf("budget %d, files %d", node.Used(), by)
	}
	q.Remove()
	if node.Used() != 0 {
		t.Fatalf("budget %d after Remove", node.Used())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory left after Remove: %v", err)
	}
}

// TestPrepend: a record prepended is read first, also after a partial
// consume and a reopen.
func TestPrepend(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{SegmentBytes: 400})
	for i := 100; i < 200; i += 10 {
		appendRange(t, q, i, i+10)
	}
	var got []string
	for range 13 {
		got = append(got, readOne(t, q))
	}
	equal(t, got, want(100, 113))
	run, lens := batch(0, 100)
	if err := q.Prepend(run, lens, 0); err != nil {
		t.Fatal(err)
	}
	if m, _ := q.Len(); m != 187 {
		t.Fatalf("Len %d, want 187", m)
	}
	q.Close()
	q = open(t, dir, Options{SegmentBytes: 400})
	equal(t, drainAll(t, q, 9), append(want(0, 100), want(113, 200)...))
}

// TestAppendFailsCleanly: an unwritable directory refuses the record and
// the queue holds nothing.
func TestAppendFailsCleanly(t *testing.T) {
	// A full disk, for real: the segment the queue will create is a
	// symbolic link to /dev/full, whose writes fail with ENOSPC (no mount,
	// no root needed; a read-only directory would not stop root).
	dir := t.TempDir()
	node := NewBudget(1 << 20)
	q := open(t, dir, Options{Budget: node})
	if err := os.Symlink("/dev/full", q.segPath(firstSeq)); err != nil {
		t.Fatal(err)
	}
	run, lens := batch(0, 10)
	if err := q.Append(run, lens, 0, 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append to a full disk: %v, want ENOSPC", err)
	}
	if m, b := q.Len(); m != 0 || b != 0 || node.Used() != 0 {
		t.Fatalf("after a failed append: Len %d, %d bytes, budget %d", m, b, node.Used())
	}
	if run, lens, _, err := q.Read(1 << 20); err != nil || len(lens) != 0 || len(run) != 0 {
		t.Fatalf("read after a failed append: %d messages, %v", len(lens), err)
	}
}

// BenchmarkAppend is the spill write throughput: records of 256 messages
// of 120 bytes (a drain's overflow batch), under each fsync policy; every
// 1 024 records it reads everything back (deleting the segments), so the
// figure includes reading.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []Sync{SyncSegment, SyncAlways, SyncNever} {
		b.Run([]string{"fsync=segment", "fsync=always", "fsync=never"}[sync], func(b *testing.B) {
			q, _, err := Open(b.TempDir(), Options{Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Remove()
			const n = 256
			run := make([]byte, 0, n*120)
			lens := make([]uint32, n)
			for i := range lens {
				run = append(run, strings.Repeat("m", 120)...)
				lens[i] = 120
			}
			b.SetBytes(int64(len(run)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := q.Append(run, lens, 0, 0); err != nil {
					b.Fatal(err)
				}
				if i%1024 == 1023 { // keep the disk use bounded (32 MiB, two segments): read it all back
					for {
						_, l, _, _ := q.Read(1 << 20)
						if len(l) == 0 {
							break
						}
						q.Consume(len(l))
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// TestChunkedReads: records read through the segment chunk (a catch-up of
// one-message records) come back whole and in order across chunk
// boundaries, with a record larger than a chunk among them, while appends
// go on behind the reader; a record damaged after it was written is still
// found by its CRC.
func TestChunkedReads(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{SegmentBytes: 4 << 20})
	var exp []string
	add := func(m string) {
		if err := q.Append([]byte(m), []uint32{uint32(len(m))}, 1, 0); err != nil {
			t.Fatal(err)
		}
		exp = append(exp, m)
	}
	for i := range 6000 { // ~ 3 chunks of one-message records
		add(fmt.Sprintf("m%d-%s", i, strings.Repeat("y", i%97)))
	}
	add(strings.Repeat("B", chunkSize+1000)) // larger than a chunk
	var got []string
	for i := 0; ; i++ {
		if i == 10 { // appends behind a reader whose chunk ends at the old size
			for k := range 50 {
				add(fmt.Sprintf("late%d", k))
			}
		}
		run, lens, _, err := q.Read(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(lens) == 0 {
			break
		}
		off := 0
		for _, l := range lens {
			got = append(got, string(run[off:off+int(l)]))
			off += int(l)
		}
		q.Consume(len(lens))
	}
	equal(t, got, exp)

	// damage inside a chunk is still a CRC error
	q2dir := t.TempDir()
	q2 := open(t, q2dir, Options{})
	for i := range 100 {
		m := fmt.Sprintf("d%d", i)
		if err := q2.Append([]byte(m), []uint32{uint32(len(m))}, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := q2.Sync(); err != nil {
		t.Fatal(err)
	}
	seg := segFiles(t, q2dir)[0]
	b, _ := os.ReadFile(seg)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := q2.Read(1 << 20); err == nil {
		t.Fatal("a damaged record read without error")
	}
}

package bench

import (
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram over nanoseconds: values below
// 2^subBits land in their own bucket; above, each power of two is split in
// 2^subBits buckets, so a bucket is at most 1/32 (about 3 %) of its value
// wide. It is not safe for concurrent use; callers merge per-goroutine
// histograms under their own lock.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	subBits     = 5
	subCount    = 1 << subBits
	histBuckets = 48 * subCount // up to 2^52 ns (52 days), then clamped
)

// bucketOf returns the bucket index of v (v < 0 counts as 0).
func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [32, 64)
	i := (e+1)*subCount + int(uint64(v)>>e) - subCount
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// bucketMid is the middle of bucket i's range, the value a percentile
// falling in it reports.
func bucketMid(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subCount - 1
	lo := int64(i%subCount+subCount) << e
	return lo + (int64(1)<<e)/2
}

// Record adds one value in nanoseconds.
func (h *Histogram) Record(v int64) {
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values fall; 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketMid(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Reset clears h.
func (h *Histogram) Reset() { *h = Histogram{} }

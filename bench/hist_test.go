package bench

import (
	"math"
	"testing"
	"time"
)

func TestBucketsAreContiguousAndNarrow(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 1000, 1 << 20, 123456789, 1 << 40} {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, below the previous %d", v, i, prev)
		}
		prev = i
		mid := bucketMid(i)
		if err := math.Abs(float64(mid-v)) / math.Max(float64(v), 1); v >= subCount && err > 1.0/subCount {
			t.Errorf("value %d reported as %d: %.1f%% off", v, mid, err*100)
		}
	}
	for v := int64(0); v < 5000; v++ { // every bucket boundary is hit in order
		if bucketOf(v+1) < bucketOf(v) || bucketOf(v+1) > bucketOf(v)+1 {
			t.Fatalf("buckets jump between %d and %d", v, v+1)
		}
	}
	if bucketOf(-5) != 0 || bucketOf(math.MaxInt64) != histBuckets-1 {
		t.Errorf("out-of-range values are not clamped")
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 {
		t.Fatal("empty histogram has a p99")
	}
	for v := 1; v <= 100000; v++ { // 1 µs .. 100 ms, uniform
		h.Record(int64(v) * int64(time.Microsecond))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 99900 * time.Microsecond}, {1, 100 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.035 {
			t.Errorf("q%.3f = %v, want %v ± 3.5%%", c.q, got, c.want)
		}
	}
	if h.Max() != 100*time.Millisecond || h.Count() != 100000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	var o Histogram
	o.Record(int64(time.Second))
	h.Merge(&o)
	if h.Count() != 100001 || h.Max() != time.Second || h.Quantile(1) != time.Second {
		t.Errorf("after merge: count %d max %v q1 %v", h.Count(), h.Max(), h.Quantile(1))
	}
}

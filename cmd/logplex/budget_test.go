package main

import (
	"math"
	"testing"
)

// TestBuffersBudget: the flag, at most half of GOMEMLIMIT when that is set;
// 0 stays none.
func TestBuffersBudget(t *testing.T) {
	for _, c := range []struct{ flag, limit, want int64 }{
		{1 << 30, math.MaxInt64, 1 << 30},
		{1 << 30, 1 << 30, 1 << 29},
		{1 << 20, 1 << 30, 1 << 20},
		{0, 1 << 30, 0},
	} {
		if got := buffersBudget(c.flag, c.limit); got != c.want {
			t.Errorf("buffersBudget(%d, %d) = %d, want %d", c.flag, c.limit, got, c.want)
		}
	}
}

package main

import (
	"math"
	"testing"
)

// TestBuffersBudget: the flag, at most its part of GOMEMLIMIT when that is
// set; 0 stays none.
func TestBuffersBudget(t *testing.T) {
	for _, c := range []struct{ flag, limit, part, want int64 }{
		{1 << 30, math.MaxInt64, 2, 1 << 30},
		{1 << 30, 1 << 30, 2, 1 << 29},
		{1 << 30, 1 << 30, 4, 1 << 28},
		{1 << 20, 1 << 30, 2, 1 << 20},
		{0, 1 << 30, 2, 0},
	} {
		if got := buffersBudget(c.flag, c.limit, c.part); got != c.want {
			t.Errorf("buffersBudget(%d, %d, %d) = %d, want %d", c.flag, c.limit, c.part, got, c.want)
		}
	}
}

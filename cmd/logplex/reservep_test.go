package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// reserveP leaves one P more than the event loops: by raising GOMAXPROCS
// when it is not set in the environment, by running one loop fewer when it
// is.
func TestReserveP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		env              string // GOMAXPROCS in the environment
		procs, loopsFlag int    // GOMAXPROCS before, --event-loops
		loops, after     int    // event loops returned, GOMAXPROCS after
	}{
		{"", 2, 0, 2, 3},
		{"", 2, 4, 4, 5},
		{"", 4, 1, 1, 4}, // already a P to spare
		{"3", 3, 0, 2, 3},
		{"1", 1, 0, 1, 1}, // nothing to spare: one loop, as told
		{"2", 2, 4, 4, 2}, // --event-loops is obeyed
	} {
		t.Setenv("GOMAXPROCS", c.env)
		runtime.GOMAXPROCS(c.procs)
		if loops := reserveP(c.loopsFlag, log); loops != c.loops || runtime.GOMAXPROCS(0) != c.after {
			t.Errorf("GOMAXPROCS=%q (%d), --event-loops %d: %d loops, GOMAXPROCS %d; want %d and %d",
				c.env, c.procs, c.loopsFlag, loops, runtime.GOMAXPROCS(0), c.loops, c.after)
		}
	}
}

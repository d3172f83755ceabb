package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// reserveP leaves one P more than the event loops, unless GOMAXPROCS is
// set in the environment.
func TestReserveP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("GOMAXPROCS", "")
	runtime.GOMAXPROCS(2)
	if loops := reserveP(0, log); loops != 2 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("default: %d loops, GOMAXPROCS %d; want 2 and 3", loops, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(2)
	if loops := reserveP(4, log); loops != 4 || runtime.GOMAXPROCS(0) != 5 {
		t.Errorf("--event-loops 4: %d loops, GOMAXPROCS %d; want 4 and 5", loops, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(4)
	if loops := reserveP(1, log); loops != 1 || runtime.GOMAXPROCS(0) != 4 {
		t.Errorf("fewer loops than Ps: %d loops, GOMAXPROCS %d; want 1 and 4 (unchanged)", loops, runtime.GOMAXPROCS(0))
	}
	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3)
	if loops := reserveP(0, log); loops != 2 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("GOMAXPROCS=3 set: %d loops, GOMAXPROCS %d; want 2 and 3 (kept)", loops, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(1)
	if loops := reserveP(0, log); loops != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS=1 set: %d loops, GOMAXPROCS %d; want 1 and 1", loops, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(2)
	if loops := reserveP(4, log); loops != 4 || runtime.GOMAXPROCS(0) != 2 {
		t.Errorf("GOMAXPROCS=2 set, --event-loops 4: %d loops, GOMAXPROCS %d; want 4 and 2 (as told)", loops, runtime.GOMAXPROCS(0))
	}
}

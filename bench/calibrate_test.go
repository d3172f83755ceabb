package bench

import (
	"strings"
	"testing"
)

// TestCalibrate checks that the machine's calibration measures every
// figure in its unit (the bounds are a thousand times wider than any
// machine's: they catch a figure not measured or in the wrong unit, not a
// slow machine) and that a result's notes carry both calibrations.
func TestCalibrate(t *testing.T) {
	c := calibrate()
	for _, f := range []struct {
		name      string
		v, lo, hi float64
	}{
		{"syscall ns", c.SyscallNs, 5, 1e6},
		{"loopback 4 KiB µs", c.Loopback4KUs, 0.05, 1e5},
		{"sha256 MB/s", c.SHA256MBps, 1, 1e6},
	} {
		if !(f.v >= f.lo && f.v <= f.hi) {
			t.Errorf("%s = %g, want within [%g, %g]", f.name, f.v, f.lo, f.hi)
		}
	}
	t.Logf("%s", c)
	after := c
	after.SHA256MBps /= 2
	r := &Result{MachineBefore: &c, MachineAfter: &after}
	notes := resultNotes(r)
	if !strings.Contains(notes, "machine before: "+c.String()+"; after: "+after.String()) {
		t.Errorf("notes %q lack the calibrations", notes)
	}
}

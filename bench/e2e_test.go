package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bin is the logplex binary TestMain builds for the end-to-end test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "logplex")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/logplex")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestTinyScenarioEndToEnd runs tcp-to-http-drain for one second at a low
// rate against the real binary and expects every message at the sink, in
// order, intact.
func TestTinyScenarioEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Options{Bin: bin, Scenarios: []string{"tcp-to-http-drain@2000"}, Duration: time.Second,
		Quick: true, Settle: 5 * time.Second, QuietWait: -1, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Error != "" || r.Skipped != "" {
		t.Fatalf("error %q skipped %q notes %v", r.Error, r.Skipped, r.Notes)
	}
	c := r.SinkCounts
	if r.Sent < 1000 || r.Delivered != r.Expected || r.Expected != r.Sent || r.RouterDropped != 0 ||
		c.OutOfOrder+c.Corrupt+c.Misrouted != 0 {
		t.Errorf("sent %d expected %d delivered %d router dropped %d sink %+v", r.Sent, r.Expected, r.Delivered, r.RouterDropped, c)
	}
	if r.P99Ms <= 0 || r.RSSPeakMiB <= 0 || r.RouterCPUSeconds <= 0 {
		t.Errorf("p99 %v ms, RSS %v MiB, CPU %v s: not measured", r.P99Ms, r.RSSPeakMiB, r.RouterCPUSeconds)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("took %v; must stay under 15 s", el)
	}
}

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// runQuick runs scenarios at their --quick size against the real binary
// and returns the report (a result per scenario), failing t on an error of
// the run.
func runQuick(t *testing.T, timeout time.Duration, o Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	o.Bin, o.Quick, o.QuietWait, o.WorkDir = bin, true, -1, t.TempDir()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(o.Scenarios) {
		t.Fatalf("%d results for %d scenarios", len(rep.Results), len(o.Scenarios))
	}
	return rep
}

// TestTinyScenarioEndToEnd runs tcp-to-http-drain for one second at a low
// rate against the real binary and expects every message at the sink, in
// order, intact.
func TestTinyScenarioEndToEnd(t *testing.T) {
	start := time.Now()
	r := runQuick(t, 60*time.Second, Options{Scenarios: []string{"tcp-to-http-drain@2000"}, Duration: time.Second,
		Settle: 5 * time.Second}).Results[0]
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

// TestPlatformScenarioSmall runs the platform scenario at its --quick size
// (200 channels, 600 tokens, 40 HTTP and 4 syslog drains written straight
// into a real redis-server, 2 000 msgs/s, 10 config-change probes, resync
// every second) against the real binary and checks that every figure the
// scenario reports was measured: nothing lost, every probe's change
// observed at the probe sink, full loads seen while idle.
func TestPlatformScenarioSmall(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found (make deps installs it)")
		}
		t.Skip("redis-server not found (make deps installs it)")
	}
	rep := runQuick(t, 3*time.Minute, Options{Scenarios: []string{"platform"}, Duration: 2 * time.Second,
		Settle: 10 * time.Second})
	r := rep.Results[0]
	if r.Error != "" || r.Skipped != "" {
		t.Fatalf("error %q skipped %q notes %v", r.Error, r.Skipped, r.Notes)
	}
	p := r.Platform
	if p == nil {
		t.Fatal("no platform figures in the result")
	}
	t.Logf("%+v", *p)
	c := r.SinkCounts
	if r.Sent < 1000 || r.Expected == 0 || r.Expected >= r.Sent || r.Delivered != r.Expected || r.RouterDropped != 0 ||
		c.OutOfOrder+c.Corrupt+c.Misrouted != 0 {
		t.Errorf("sent %d expected %d delivered %d router dropped %d sink %+v", r.Sent, r.Expected, r.Delivered, r.RouterDropped, c)
	}
	if p.Channels != 200 || p.Tokens != 600 || p.HTTPDrains != 40 || p.SyslogDrains != 4 {
		t.Errorf("layout %d channels %d tokens %d+%d drains, want 200, 600, 40+4", p.Channels, p.Tokens, p.HTTPDrains, p.SyslogDrains)
	}
	// 200 channels + 600 tokens + 44 drains, then the probes' 10 channels,
	// 5 drains and 5 tokens
	if p.ConfigKeys != 844 || p.ConfigBytes <= 0 || p.RedisMemoryMiB <= 0 || p.LoadSeconds <= 0 || p.AllDrainsSeconds <= 0 {
		t.Errorf("config %d keys, %d bytes, %.3f MiB in Redis, loaded in %.3f s, drains in %.3f s", p.ConfigKeys, p.ConfigBytes, p.RedisMemoryMiB, p.LoadSeconds, p.AllDrainsSeconds)
	}
	if p.HTTPDelivered == 0 || p.SyslogDelivered == 0 || p.HTTPDelivered+p.SyslogDelivered != r.Delivered ||
		p.HTTPRequests == 0 || p.SyslogReads == 0 || p.ReqsPerMsgHTTP <= 0 || p.ReqsPerMsgHTTP > 1 || p.ReadsPerMsgTCP <= 0 {
		t.Errorf("sinks: http %d msgs %d requests (%.3f), syslog %d msgs %d reads (%.3f)", p.HTTPDelivered, p.HTTPRequests, p.ReqsPerMsgHTTP,
			p.SyslogDelivered, p.SyslogReads, p.ReadsPerMsgTCP)
	}
	ch := p.Changes
	if ch.Probes < 2 || ch.Observed != ch.Probes || ch.Errors != 0 || ch.RoutingP99 <= 0 || ch.DeliveryP99 < ch.RoutingP50 || ch.APIP50 <= 0 {
		t.Errorf("config-change probes: %+v", ch)
	}
	// every probe's write is a feed entry the router applied and timed
	if p.FeedApplied < ch.Probes || p.FeedDelayP50 <= 0 || p.FeedDelayP99 < p.FeedDelayP50 {
		t.Errorf("the router's feed delay: %d entries for %d probes, p50 %g ms, p99 %g ms", p.FeedApplied, ch.Probes, p.FeedDelayP50, p.FeedDelayP99)
	}
	rs := p.Resync
	if rs.IntervalSeconds != 1 || rs.FullLoads+rs.Checks < 1 || rs.WindowSeconds < 2 || rs.CPUSeconds < 0 || rs.IdlePerMinute < 0 {
		t.Errorf("resync: %+v", rs)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config changes under load", "requests per message", "per resync", "the router's feed"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestDrainOutageScenarios runs drain-outage and drain-outage-nospill
// quick (buffers of 100 messages) with a 2 s outage against the real
// binary: with the spill the down drain gets every message in order; without
// it, what it lost is exactly what its L10 notices report.
func TestDrainOutageScenarios(t *testing.T) {
	for _, r := range runQuick(t, 120*time.Second, Options{Scenarios: []string{"drain-outage", "drain-outage-nospill"},
		Knobs: []string{"outage=2s"}, Settle: 10 * time.Second}).Results {
		o := r.Outage
		if r.Error != "" || o == nil {
			t.Fatalf("%s: error %q, outage %+v, notes %v", r.Scenario, r.Error, o, r.Notes)
		}
		t.Logf("%s: %+v", r.Scenario, *o)
		switch {
		case o.Spill && (o.Delivered != o.Sent || o.Reported != 0 || o.OutOfOrder != 0 || o.SpilledMessages == 0):
			t.Errorf("%s: with the spill: %+v", r.Scenario, *o)
		case !o.Spill && (o.Delivered+o.Reported != o.Sent || o.Reported == 0):
			t.Errorf("%s: without the spill: %+v", r.Scenario, *o)
		}
		if r.SinkCounts.OutOfOrder+r.SinkCounts.Corrupt+r.SinkCounts.Misrouted != 0 {
			t.Errorf("%s: sink %+v", r.Scenario, r.SinkCounts)
		}
	}
}

// TestSweepBin: --sweep bin=A,B,A runs every scenario once per value, with
// that router binary (an A/B of two builds in one invocation), tags each
// result with its binary and the version that binary reports; a value swept
// again runs afresh (its own data dir: the embedded store's bootstrap
// credential is printed again) and keeps its own profile.
func TestSweepBin(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "b-ran")
	b := filepath.Join(dir, "logplex-b")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = all ]; then touch %q; fi\nexec %q \"$@\"\n", mark, bin)
	if err := os.WriteFile(b, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profiles := t.TempDir()
	rep, err := Run(ctx, Options{Bin: bin, Quick: true, QuietWait: -1, WorkDir: t.TempDir(), Duration: time.Second,
		Settle: 5 * time.Second, Scenarios: []string{"tcp-to-http-drain@2000"}, Sweep: "bin=" + bin + "," + b + "," + bin,
		ProfileDir: profiles})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 || rep.Results[0].Sweep != "bin="+bin || rep.Results[1].Sweep != "bin="+b || rep.Results[2].Sweep != "bin="+bin {
		t.Fatalf("results %d, sweeps %q", len(rep.Results), func() (s []string) {
			for _, r := range rep.Results {
				s = append(s, r.Sweep)
			}
			return
		}())
	}
	for _, r := range rep.Results {
		if r.Error != "" || r.Delivered != r.Expected || r.Expected == 0 {
			t.Errorf("%s: error %q, delivered %d of %d", r.Sweep, r.Error, r.Delivered, r.Expected)
		}
		if want := binVersion(bin); r.RouterVersion == "" || r.RouterVersion != want {
			t.Errorf("%s: router version %q, want %q", r.Sweep, r.RouterVersion, want)
		}
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the second binary never ran as the router: %v", err)
	}
	if ps, _ := filepath.Glob(filepath.Join(profiles, "*.pprof")); len(ps) != len(rep.Results) {
		t.Errorf("profiles %q: want one per run (%d)", ps, len(rep.Results))
	}
	if _, err := Run(ctx, Options{Bin: bin, Scenarios: []string{"tcp-to-http-drain"}, Sweep: "bin=" + filepath.Join(dir, "none")}); err == nil {
		t.Error("a missing binary in --sweep bin=… was accepted")
	}
}

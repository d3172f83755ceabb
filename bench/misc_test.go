package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func TestParseStat(t *testing.T) {
	line := []byte("4242 (log plex) (x) S 1 2 3 0 -1 4194560 823 0 0 0 150 25 0 0 20 0 9 0 487638 1906528256 3181 18446744073709551615")
	cpu, sys, err := parseStatCPU(line)
	if err != nil || cpu != 1750*time.Millisecond || sys != 250*time.Millisecond {
		t.Errorf("cpu %v, sys %v, err %v; want 1.75s, 0.25s", cpu, sys, err)
	}
	status := []byte("Name:\tlogplex\nVmHWM:\t   12984 kB\nVmRSS:\t   12000 kB\n")
	if statusKB(status, "VmRSS:") != 12000 || statusKB(status, "VmHWM:") != 12984 || statusKB(status, "VmSwap:") != 0 {
		t.Error("statusKB")
	}
	s, err := ReadProc(os.Getpid())
	if err != nil || s.RSS <= 0 || s.HWM < s.RSS {
		t.Errorf("ReadProc(self) = %+v, %v", s, err)
	}
}

func TestParseSystemCPU(t *testing.T) {
	busy, total, err := parseSystemCPU([]byte("cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || busy != 1670*time.Millisecond || total != 11870*time.Millisecond {
		t.Errorf("busy %v total %v err %v", busy, total, err)
	}
	if _, _, err := parseSystemCPU([]byte("intr 1 2 3")); err == nil {
		t.Error("a bad line was accepted")
	}
	if b, tot, err := SystemCPU(); err != nil || b <= 0 || tot < b {
		t.Errorf("SystemCPU() = %v, %v, %v", b, tot, err)
	}
}

func TestParseMetrics(t *testing.T) {
	page := "# HELP x\n# TYPE x counter\nlogplex_drain_dropped_total 12\nlogplex_x{drain=\"1\"} 3\nlogplex_x{drain=\"2\",a=\"b c\"} 4.5\nprocess_cpu_seconds_total 1.5e+00\n"
	m, err := ParseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if m["logplex_drain_dropped_total"] != 12 || m["logplex_x"] != 7.5 || m["process_cpu_seconds_total"] != 1.5 {
		t.Errorf("parsed %v", m)
	}
	if Delta(Metrics{"a": 1}, m, "logplex_x") != 7.5 {
		t.Error("Delta")
	}
}

// A histogram rendered by the router's metrics library (two series, by a
// label) gives the bucket that holds a quantile of what was observed
// between two scrapes.
func TestHistogramQuantile(t *testing.T) {
	set := metrics.NewSet()
	bounds := []float64{0.001, 0.01, 0.05, 0.1, 1}
	a := set.NewPrometheusHistogramExt(`delay_seconds{node="a"}`, bounds)
	b := set.NewPrometheusHistogramExt(`delay_seconds{node="b"}`, bounds)
	scrape := func() Metrics {
		var page bytes.Buffer
		set.WritePrometheus(&page)
		m, err := ParseMetrics(&page)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a.Update(5) // before: not counted
	m0 := scrape()
	for range 90 {
		a.Update(0.005)
	}
	for range 9 {
		b.Update(0.07)
	}
	b.Update(3)
	m1 := scrape()
	for _, c := range []struct{ q, want float64 }{{0.5, 0.01}, {0.95, 0.1}, {0.99, 0.1}, {1, math.Inf(1)}} {
		if got, n := HistogramQuantile(m0, m1, "delay_seconds", c.q); got != c.want || n != 100 {
			t.Errorf("quantile %g: bound %g of %g observations, want %g of 100", c.q, got, n, c.want)
		}
	}
	if got, n := HistogramQuantile(m1, m1, "delay_seconds", 0.99); got != 0 || n != 0 {
		t.Errorf("nothing observed: %g of %g", got, n)
	}
}

func TestScenarios(t *testing.T) {
	for _, set := range [][]string{DefaultScenarios, QuickScenarios} {
		for _, name := range set {
			s, err := LookupScenario(name, true)
			if err != nil {
				t.Fatal(err)
			}
			if s.Channels <= 0 || s.Conns <= 0 || s.Input == "" || s.Drain == "" {
				t.Errorf("%s: defaults not set: %+v", name, s)
			}
		}
	}
	if s, _ := LookupScenario("many-connections", false); s.Conns != 10000 || s.Rate != 50000 {
		t.Errorf("many-connections: %d conns at %v", s.Conns, s.Rate)
	}
	if s, _ := LookupScenario("tcp-to-http-drain@sustained", false); !s.Sustained {
		t.Error("@sustained not parsed")
	}
	if _, err := LookupScenario("nope", false); err == nil {
		t.Error("unknown scenario accepted")
	}
	for in, want := range map[string]float64{"50000": 50000, "50k": 50000, "1M": 1e6, "1.5m": 1.5e6} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRate("fast"); err == nil {
		t.Error("ParseRate accepted a word")
	}
	ks, err := parseKnobs([]string{"gogc=200", "event-loops=2", "batch=8", "--read-buffer-cap=1024"})
	if err != nil || len(ks.env) != 1 || ks.env[0] != "GOGC=200" || ks.gen["batch"] != "8" ||
		strings.Join(ks.flags, " ") != "--event-loops=2 --read-buffer-cap=1024" {
		t.Errorf("parseKnobs: %+v %v", ks, err)
	}
}

// svgText renders f and checks that it is well-formed XML; it returns the
// text of the document (element contents, markup stripped).
func svgText(t *testing.T, f *Figure) string {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	var txt strings.Builder
	dec := xml.NewDecoder(&b)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			txt.Write(cd)
			txt.WriteByte('\n')
		}
	}
	return txt.String()
}

// TestSVGShowsEveryScenarioAndMetric: a plain run has a row per scenario
// with the five metrics, and a failed or skipped scenario keeps its row
// with the reason; a sweep has a panel per metric and every scenario in the
// legend, a failed point included.
func TestSVGShowsEveryScenarioAndMetric(t *testing.T) {
	plain := &Report{Results: []Result{
		{Scenario: "x & y", Sent: 1, InMsgsPerSec: 5000, OutMsgsPerSec: 4000, CPUPerMillion: 0.42, P99Ms: 1.62, RSSPeakMiB: 88, Lost: 7},
		{Scenario: "broken", Error: "router exited: signal: killed"},
		{Scenario: "nohist", Skipped: "redis-server not found"},
		{Scenario: "idle", Idle: true},
	}}
	txt := svgText(t, plain.Plot())
	for _, want := range []string{"x & y", "4k (in 5k)", "0.42", "1.62", "88", "7",
		"broken", "FAILED: router exited: signal: killed", "skipped: redis-server not found",
		"delivered", "router CPU", "latency p99", "RSS peak", "lost"} {
		if !strings.Contains(txt, want) {
			t.Errorf("plain plot lacks %q", want)
		}
	}
	if strings.Contains(txt, "idle") {
		t.Error("the idle measurement is not a scenario row")
	}
	sweep := &Report{Results: []Result{ // two scenarios with equal figures: both must be drawn
		{Scenario: "a<b", Sweep: "http-drain-target-bytes=16384", Sent: 1, OutMsgsPerSec: 1e6, P99Ms: 2},
		{Scenario: "a<b", Sweep: "http-drain-target-bytes=65536", Sent: 1, OutMsgsPerSec: 1.5e6, P99Ms: 3},
		{Scenario: "same", Sweep: "http-drain-target-bytes=16384", Sent: 1, OutMsgsPerSec: 1e6, P99Ms: 2},
		{Scenario: "same", Sweep: "http-drain-target-bytes=65536", Error: "timeout"},
	}}
	var b bytes.Buffer
	if err := sweep.Plot().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if n := strings.Count(svg, "<polyline"); n != 2*len(plotMetrics) {
		t.Errorf("%d lines, want one per scenario per metric (%d)", n, 2*len(plotMetrics))
	}
	if !strings.Contains(svg, `stroke-width="4"`) || !strings.Contains(svg, `stroke-width="2"`) {
		t.Error("series of equal value are not drawn with different widths")
	}
	if !strings.Contains(svg, `stroke="#c00"`) {
		t.Error("the failed sweep point is not marked")
	}
	txt = svgText(t, sweep.Plot())
	for _, want := range []string{"a<b", "same", "sweep of http-drain-target-bytes", "16384", "65536"} {
		if !strings.Contains(txt, want) {
			t.Errorf("sweep plot lacks %q", want)
		}
	}
	svgText(t, (&Report{}).Plot())
	if niceStep(0.3) != 0.5 || niceStep(7) != 10 || niceStep(120000) != 200000 || humanNum(1500000) != "1.5M" {
		t.Errorf("niceStep / humanNum")
	}
}

func TestReportTable(t *testing.T) {
	rep := &Report{Results: []Result{
		{Scenario: "tcp-to-http-drain@sustained", Sent: 100, InMsgsPerSec: 1e6, OutMsgsPerSec: 1e6, CPUPerMillion: 0.4, Knobs: map[string]string{"conns": "4", "router --x": "1", "env GOGC": "100"}},
		{Scenario: "relay-baseline", Sent: 100, InMsgsPerSec: 4e6, OutMsgsPerSec: 4e6},
		{Scenario: "idle", Idle: true, RSSEndMiB: 13},
		{Scenario: "with-tails", Skipped: "tails not available"},
	}}
	rep.Checks = Checks(rep.Results)
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"| tcp-to-http-drain@sustained | 1 000 000 |", "skipped: tails not available",
		"0.25 (1 000 000 / 4 000 000 msgs/s) | MISSED", "idle RSS of logplex all <= 64 MiB | idle | 13.0 MiB | met",
		"conns=4 env GOGC=100 router --x=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCPUList(t *testing.T) {
	cases := []struct {
		in   string
		want []int
	}{{"0", []int{0}}, {"0-0", []int{0}}}
	if runtime.NumCPU() >= 2 {
		cases = append(cases, []struct {
			in   string
			want []int
		}{{"1", []int{1}}, {"0-1", []int{0, 1}}, {"1, 0", []int{0, 1}}}...)
	}
	for _, c := range cases {
		got, err := cpuList(c.in)
		if err != nil || len(got) != len(c.want) {
			t.Errorf("cpuList(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		for _, cpu := range c.want {
			if !got[cpu] {
				t.Errorf("cpuList(%q) = %v, want %v", c.in, got, c.want)
			}
		}
	}
	for _, bad := range []string{"", "x", "-1", "1-0", "0-", strconv.Itoa(runtime.NumCPU())} {
		if _, err := cpuList(bad); err == nil {
			t.Errorf("cpuList(%q): no error", bad)
		}
	}
	if cmd := command("1", "/bin/true", "a"); strings.Join(cmd.Args, " ") != "taskset -c 1 /bin/true a" {
		t.Errorf("command with CPUs: %q", cmd.Args)
	}
	if cmd := command("", "/bin/true", "a"); strings.Join(cmd.Args, " ") != "/bin/true a" {
		t.Errorf("command without CPUs: %q", cmd.Args)
	}
}

// A router that could not bind because a port was taken between FreeAddr
// and its start ("address already in use") is started again on other
// ports, three times at most; any other failure is reported at once. The
// router here is a script that fails as told and counts its starts.
func TestStartRouterRetriesTakenPorts(t *testing.T) {
	for _, c := range []struct {
		stderr string
		starts int
	}{
		{"listen tcp 127.0.0.1:40000: bind: address already in use", 3},
		{"invalid --admin-addr", 1},
	} {
		dir := t.TempDir()
		count := filepath.Join(dir, "starts")
		bin := filepath.Join(dir, "router")
		script := "#!/bin/sh\necho x >> " + count + "\necho '" + c.stderr + "' >&2\nexit 1\n"
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := startRouter(bin, "", dir, nil, nil, 5*time.Second); err == nil {
			t.Fatalf("%q: a router that exits started", c.stderr)
		}
		b, _ := os.ReadFile(count)
		if got := strings.Count(string(b), "x"); got != c.starts {
			t.Errorf("%q: started %d times, want %d", c.stderr, got, c.starts)
		}
	}
}

// TestProfileNames: every run of a suite gets a profile of its own, also
// when a scenario is listed twice or a sweep value comes again.
func TestProfileNames(t *testing.T) {
	for _, c := range []struct {
		label, scenario string
		nth             int
		want            string
	}{
		{"", "tcp-to-history", 1, "tcp-to-history.pprof"},
		{"", "tcp-to-history", 2, "tcp-to-history-2.pprof"},
		{"", "tcp-to-history@50k", 1, "tcp-to-history_at_50k.pprof"},
		{"bin_A", "platform", 1, "bin_A-platform.pprof"},
		{"bin_A-2", "platform", 3, "bin_A-2-platform-3.pprof"},
	} {
		if got := profileName(c.label, c.scenario, c.nth); got != c.want {
			t.Errorf("profileName(%q, %q, %d) = %q, want %q", c.label, c.scenario, c.nth, got, c.want)
		}
	}
}

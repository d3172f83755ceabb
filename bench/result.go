package bench

import (
	"fmt"
	"strings"
)

// Result is what one scenario run measured. Rates are per second of the
// send window; CPU and memory are the router process's (the relay's for
// the baseline), read from /proc.
type Result struct {
	Scenario string `json:"scenario"`
	Desc     string `json:"description"`
	Idle     bool   `json:"idle,omitempty"` // the idle measurement (no load)
	Skipped  string `json:"skipped,omitempty"`
	Error    string `json:"error,omitempty"`
	Sweep    string `json:"sweep,omitempty"` // "knob=value" of a --sweep run
	// RouterVersion is the version (commit) of the router binary that ran
	// (`logplex version`): --bin's, or the swept one's with --sweep bin=….
	RouterVersion string `json:"router_version,omitempty"`

	Knobs map[string]string `json:"knobs"` // every setting this run used

	Sent          int64     `json:"sent"`                     // messages accepted by the router (written, or 204)
	SentBytes     int64     `json:"sent_bytes"`               // wire bytes of those
	Rejected      int64     `json:"rejected"`                 // HTTP: messages in requests not answered 204
	SendSeconds   float64   `json:"send_seconds"`             // length of the send window
	InMsgsPerSec  float64   `json:"in_msgs_per_sec"`          // Sent / send window
	InMBPerSec    float64   `json:"in_mb_per_sec"`            // wire MB (10^6) / s in
	TargetRate    float64   `json:"target_rate"`              // msgs/s asked for; 0: as fast as possible
	Expected      int64     `json:"expected"`                 // deliveries expected at the drains
	Delivered     int64     `json:"delivered"`                // deliveries counted at the drains
	OutMsgsPerSec float64   `json:"out_msgs_per_sec"`         // Delivered / (last delivery - start)
	Lost          int64     `json:"lost"`                     // Expected - Delivered
	RouterDropped int64     `json:"router_dropped"`           // logplex_drain_dropped_total increase
	Reported      int64     `json:"reported_in_l10"`          // drops announced in L10/L11 lines
	SinkCounts    EndCounts `json:"sink"`                     // order / integrity / routing checks at the drains
	DrainRequests int64     `json:"drain_requests,omitempty"` // HTTP drain POSTs the sink served

	TailExpected  int64   `json:"tail_expected,omitempty"`
	TailDelivered int64   `json:"tail_delivered,omitempty"`
	TailP99Ms     float64 `json:"tail_p99_ms,omitempty"`

	// IngestBatchMsgs and HistoryFlushMsgs are the router's mean messages
	// per ingest batch (one read or request) and per history flush, from its
	// histograms (0: not reported).
	IngestBatchMsgs  float64 `json:"ingest_batch_msgs,omitempty"`
	HistoryFlushMsgs float64 `json:"history_flush_msgs,omitempty"`

	HistoryWritten int64 `json:"history_written,omitempty"` // logplex_history_written_total increase
	HistoryDropped int64 `json:"history_dropped,omitempty"` // logplex_history_dropped_total increase

	RouterCPUSeconds float64 `json:"router_cpu_seconds"`      // utime+stime over the window
	RouterSysSeconds float64 `json:"router_sys_seconds"`      // of which stime: in the kernel (system calls, network stack)
	CPUPerMillion    float64 `json:"cpu_seconds_per_million"` // router CPU seconds per million messages in
	RouterCores      float64 `json:"router_cores"`            // average cores busy in the window
	BenchCPUSeconds  float64 `json:"bench_cpu_seconds"`       // the suite's own CPU (generator + sinks)
	RedisCPUSeconds  float64 `json:"redis_cpu_seconds,omitempty"`
	// OtherCPUSeconds is the machine's busy CPU time in the window not
	// charged to the router, the suite or Redis: other processes (a busy
	// machine skews every figure) and uncharged kernel work.
	OtherCPUSeconds float64 `json:"other_cpu_seconds"`
	WindowSeconds   float64 `json:"window_seconds"` // send window + settling

	P50Ms  float64 `json:"latency_p50_ms"`
	P99Ms  float64 `json:"latency_p99_ms"`
	P999Ms float64 `json:"latency_p999_ms"`
	MaxMs  float64 `json:"latency_max_ms"`

	RSSConfiguredMiB float64 `json:"rss_configured_mib"` // VmRSS after setup, before any traffic
	RSSStartMiB      float64 `json:"rss_start_mib"`      // VmRSS when the measured window starts (after warm-up)
	RSSPeakMiB       float64 `json:"rss_peak_mib"`       // largest VmRSS sampled in the window
	RSSEndMiB        float64 `json:"rss_end_mib"`
	HWMMiB           float64 `json:"rss_hwm_mib"` // VmHWM: peak over the process's life

	SetupSeconds float64 `json:"setup_seconds"`
	// MachineBefore and MachineAfter calibrate the machine just before the
	// scenario and just after it (calibrate.go): figures of runs whose
	// calibrations differ were taken on machines of different speed.
	MachineBefore *Calibration    `json:"machine_before,omitempty"`
	MachineAfter  *Calibration    `json:"machine_after,omitempty"`
	Platform      *PlatformResult `json:"platform,omitempty"` // the platform scenario's own figures
	Notes         []string        `json:"notes,omitempty"`

	Outage *OutageResult `json:"outage,omitempty"` // drain-outage scenarios (outage.go)
}

// Loss is every message that did not arrive: missing at the drains,
// dropped from history, damaged or misrouted.
func (r *Result) Loss() int64 {
	return max(r.Lost, 0) + r.HistoryDropped + r.SinkCounts.Corrupt + r.SinkCounts.Misrouted
}

// Check is one of the suite's performance targets (listed in Checks)
// evaluated on a run.
type Check struct {
	Target   string `json:"target"`
	Scenario string `json:"scenario"`
	Got      string `json:"got"`
	Met      bool   `json:"met"`
}

// Checks evaluates the targets on the runs that measure them. Scenarios not
// run give no check.
func Checks(rs []Result) []Check {
	by := map[string]*Result{}
	for i := range rs {
		r := &rs[i]
		if r.Skipped == "" && r.Error == "" && r.Sweep == "" {
			by[r.Scenario] = r
		}
	}
	var cs []Check
	add := func(scn, target, got string, met bool) {
		cs = append(cs, Check{Target: target, Scenario: scn, Got: got, Met: met})
	}
	outageChecks(by, add)
	for _, name := range []string{"tcp-to-http-drain@sustained", "tcp-to-http-drain"} {
		if r := by[name]; r != nil {
			add(name, "router CPU <= 0.5 core-s per million msgs (history off)",
				fmt.Sprintf("%.3f s/M at %s msgs/s", r.CPUPerMillion, count(r.InMsgsPerSec)), r.CPUPerMillion <= 0.5)
		}
	}
	for i := range rs {
		if r := &rs[i]; by[r.Scenario] == r && strings.HasPrefix(r.Scenario, "tcp-to-http-drain@") {
			add(r.Scenario, "zero loss (history off)", lossText(r), lossless(r))
		}
	}
	if r := by["tcp-to-history@1M"]; r != nil {
		add(r.Scenario, ">= 1 000 000 msgs/s sustained with Redis history, zero loss",
			fmt.Sprintf("%s msgs/s in, %s", count(r.InMsgsPerSec), lossText(r)), r.InMsgsPerSec >= 0.99e6 && lossless(r))
	}
	if r := by["tcp-to-history@sustained"]; r != nil {
		add(r.Scenario, ">= 1 000 000 msgs/s sustained with Redis history, zero loss",
			fmt.Sprintf("highest lossless rate %s msgs/s (%s)", count(r.InMsgsPerSec), lossText(r)), r.InMsgsPerSec >= 0.99e6 && lossless(r))
	}
	if r := by["tcp-to-http-drain@50k"]; r != nil {
		add(r.Scenario, "p99 <= 10 ms at 50 000 msgs/s, HTTP drain", fmt.Sprintf("p99 %.2f ms", r.P99Ms), r.P99Ms <= 10 && r.P99Ms > 0)
	}
	if r := by["tcp-to-syslog-drain@50k"]; r != nil {
		add(r.Scenario, "p99 <= 5 ms at 50 000 msgs/s, TCP syslog drain", fmt.Sprintf("p99 %.2f ms", r.P99Ms), r.P99Ms <= 5 && r.P99Ms > 0)
	}
	if b := by["relay-baseline"]; b != nil && b.InMsgsPerSec > 0 {
		if r := by["tcp-to-http-drain@sustained"]; r != nil {
			ratio := r.InMsgsPerSec / b.InMsgsPerSec
			add(r.Scenario, "throughput >= 0.5 x relay baseline (lossless rate / relay rate)",
				fmt.Sprintf("%.2f (%s / %s msgs/s)", ratio, count(r.InMsgsPerSec), count(b.InMsgsPerSec)), ratio >= 0.5 && lossless(r))
		}
		if r := by["tcp-to-http-drain"]; r != nil {
			ratio := r.OutMsgsPerSec / b.OutMsgsPerSec
			add(r.Scenario, "throughput >= 0.5 x relay baseline (delivered at max / relay delivered)",
				fmt.Sprintf("%.2f (%s / %s msgs/s; %d dropped)", ratio, count(r.OutMsgsPerSec), count(b.OutMsgsPerSec), r.RouterDropped), ratio >= 0.5)
		}
	}
	if r := by["many-connections"]; r != nil && r.Knobs["conns"] == "10000" {
		add(r.Scenario, "RSS <= 256 MiB with 10 000 connections", fmt.Sprintf("peak %.1f MiB", r.RSSPeakMiB), r.RSSPeakMiB <= 256)
	}
	platformChecks(by, add)
	oneCoreChecks(by, add)
	if r := by["idle"]; r != nil {
		add(r.Scenario, "idle RSS of logplex all <= 64 MiB", fmt.Sprintf("%.1f MiB", r.RSSEndMiB), r.RSSEndMiB <= 64)
	}
	return cs
}

// oneCoreChecks are issue 15's targets for the router on a core of its
// own (--router-cpus with one CPU) at its default settings (no --knob).
func oneCoreChecks(by map[string]*Result, add func(scn, target, got string, met bool)) {
	oneCore := func(r *Result) bool {
		cpus, err := cpuList(r.Knobs["router_cpus"])
		return r.Knobs["router_cpus"] != "" && err == nil && len(cpus) == 1 && r.Knobs["router_settings"] == "default"
	}
	if r := by["tcp-to-history@50k"]; r != nil && oneCore(r) {
		perPOST := 0.0
		if r.DrainRequests > 0 {
			perPOST = float64(r.Delivered) / float64(r.DrainRequests)
		}
		add(r.Scenario, "one router core, default settings: <= 15 % of the core, p99 <= 50 ms, >= 20 messages per POST",
			fmt.Sprintf("%.2f of the core, p99 %.2f ms, %.1f messages per POST", r.RouterCores, r.P99Ms, perPOST),
			r.RouterCores <= 0.15 && r.P99Ms > 0 && r.P99Ms <= 50 && perPOST >= 20)
	}
	if r := by["tcp-to-history"]; r != nil && oneCore(r) && r.RouterCores > 0 {
		perCore := r.InMsgsPerSec / r.RouterCores
		// Messages dropped cost the router less than messages delivered:
		// a rate with losses does not count.
		add(r.Scenario, "one router core, default settings: >= 2 000 000 msgs/s per router core, nothing lost (100 HTTP drains + history)",
			fmt.Sprintf("%s msgs/s per core (%s msgs/s at %.2f cores; %s)", count(perCore), count(r.InMsgsPerSec), r.RouterCores, lossText(r)),
			perCore >= 2e6 && r.Loss() == 0 && r.RouterDropped == 0)
	}
}

func lossText(r *Result) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("lost %d of %d", max(r.Lost, 0), r.Expected))
	if r.RouterDropped > 0 {
		parts = append(parts, fmt.Sprintf("router dropped %d", r.RouterDropped))
	}
	if r.HistoryDropped > 0 {
		parts = append(parts, fmt.Sprintf("history dropped %d", r.HistoryDropped))
	}
	if c := r.SinkCounts; c.Corrupt+c.Misrouted+c.OutOfOrder > 0 {
		parts = append(parts, fmt.Sprintf("corrupt %d misrouted %d out-of-order %d", c.Corrupt, c.Misrouted, c.OutOfOrder))
	}
	return strings.Join(parts, ", ")
}

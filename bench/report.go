package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteTable writes the report as Markdown: the results table, the targets,
// then every run's knobs and notes.
func (rep *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	m := rep.Machine
	ew.printf("logplex bench: version %s, %d CPUs (%s), %.1f GiB, Linux %s, %s\n", orDash(rep.Version), m.CPUs, m.Model,
		m.MemGiB, m.Kernel, m.GoVersion)
	if rep.Command != "" {
		ew.printf("command: `%s`\n", rep.Command)
	}
	ew.printf("\n| scenario | in msgs/s | in MB/s | out msgs/s | router CPU s/M msgs | router cores | p50 ms | p99 ms | p999 ms | RSS peak MiB | lost | router drops | notes |\n")
	ew.printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		name := r.Scenario
		if r.Sweep != "" {
			name += " [" + r.Sweep + "]"
		}
		switch {
		case r.Skipped != "":
			ew.printf("| %s | | | | | | | | | | | | skipped: %s |\n", name, r.Skipped)
			continue
		case r.Error != "":
			ew.printf("| %s | | | | | | | | | | | | error: %s |\n", name, oneLine(r.Error))
			continue
		case r.Idle:
			ew.printf("| %s | | | | | %.3f | | | | %.1f | | | RSS now %.1f MiB, CPU %.2f s over %.0f s |\n", name,
				r.RouterCores, r.RSSPeakMiB, r.RSSEndMiB, r.RouterCPUSeconds, r.WindowSeconds)
			continue
		}
		ew.printf("| %s | %s | %.1f | %s | %.3f | %.2f | %.2f | %.2f | %.2f | %.1f | %d | %d | %s |\n", name,
			count(r.InMsgsPerSec), r.InMBPerSec, count(r.OutMsgsPerSec), r.CPUPerMillion, r.RouterCores,
			r.P50Ms, r.P99Ms, r.P999Ms, r.RSSPeakMiB, max(r.Lost, 0), r.RouterDropped, resultNotes(r))
	}
	if len(rep.Checks) > 0 {
		ew.printf("\n| target | scenario | measured | |\n|---|---|---|---|\n")
		for _, c := range rep.Checks {
			verdict := "MISSED"
			if c.Met {
				verdict = "met"
			}
			ew.printf("| %s | %s | %s | %s |\n", c.Target, c.Scenario, c.Got, verdict)
		}
	}
	ew.printf("\nKnobs per run (router flags and environment as started; \"router --x\" without a value set by the run is the router's default):\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		name := r.Scenario
		if r.Sweep != "" {
			name += " [" + r.Sweep + "]"
		}
		ew.printf("- %s: %s\n", name, describeKnobs(r.Knobs))
		for _, n := range r.Notes {
			ew.printf("  - note: %s\n", oneLine(n))
		}
	}
	return ew.err
}

// resultNotes summarises the checks and extras of a run in the table.
func resultNotes(r *Result) string {
	var p []string
	if r.TargetRate > 0 && r.InMsgsPerSec < 0.97*r.TargetRate {
		p = append(p, fmt.Sprintf("asked %s msgs/s", count(r.TargetRate)))
	}
	c := r.SinkCounts
	if c.Corrupt > 0 {
		p = append(p, fmt.Sprintf("corrupt %d", c.Corrupt))
	}
	if c.Misrouted > 0 {
		p = append(p, fmt.Sprintf("misrouted %d", c.Misrouted))
	}
	if c.OutOfOrder > 0 {
		p = append(p, fmt.Sprintf("out of order %d", c.OutOfOrder))
	}
	if r.Reported > 0 {
		p = append(p, fmt.Sprintf("L10/L11 reported %d", r.Reported))
	}
	if r.Rejected > 0 {
		p = append(p, fmt.Sprintf("rejected (503) %d", r.Rejected))
	}
	if r.Lost < 0 {
		p = append(p, fmt.Sprintf("%d extra deliveries", -r.Lost))
	}
	if r.HistoryWritten > 0 || r.HistoryDropped > 0 {
		p = append(p, fmt.Sprintf("history written %d dropped %d", r.HistoryWritten, r.HistoryDropped))
	}
	if r.IngestBatchMsgs > 0 {
		p = append(p, fmt.Sprintf("%.1f msgs per ingest batch", r.IngestBatchMsgs))
	}
	if r.HistoryFlushMsgs > 0 {
		p = append(p, fmt.Sprintf("%.0f msgs per history flush", r.HistoryFlushMsgs))
	}
	if r.DrainRequests > 0 {
		p = append(p, fmt.Sprintf("%.1f msgs per drain POST", float64(r.Delivered)/float64(r.DrainRequests)))
	}
	if r.TailExpected > 0 {
		p = append(p, fmt.Sprintf("tails %d of %d, p99 %.2f ms", r.TailDelivered, r.TailExpected, r.TailP99Ms))
	}
	if r.RouterCPUSeconds > 0 {
		p = append(p, fmt.Sprintf("router CPU %.0f %% in the kernel", 100*r.RouterSysSeconds/r.RouterCPUSeconds))
	}
	if r.RedisCPUSeconds > 0 {
		p = append(p, fmt.Sprintf("redis CPU %.2f s", r.RedisCPUSeconds))
	}
	if r.Platform != nil {
		p = append(p, r.Platform.notes()...)
	}
	p = append(p, fmt.Sprintf("RSS configured %.1f, warmed up %.1f MiB", r.RSSConfiguredMiB, r.RSSStartMiB))
	p = append(p, fmt.Sprintf("suite CPU %.1f s, other %.1f s", r.BenchCPUSeconds, r.OtherCPUSeconds))
	if r.SetupSeconds > 3 {
		p = append(p, fmt.Sprintf("setup %.0f s", r.SetupSeconds))
	}
	if strings.HasPrefix(r.Sweep, "bin=") && r.RouterVersion != "" {
		p = append(p, "router "+r.RouterVersion)
	}
	if r.MachineBefore != nil && r.MachineAfter != nil {
		p = append(p, fmt.Sprintf("machine before: %s; after: %s", r.MachineBefore, r.MachineAfter))
	}
	return strings.Join(p, "; ")
}

// count renders a rate with thousands separators.
func count(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

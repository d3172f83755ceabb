package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestJSONLogsAreAllJSON: with --log-format json the stats lines are JSON
// records too (numbers as numbers, ids as strings) and durations are
// strings ("1.5s"), not integer nanoseconds.
func TestJSONLogsAreAllJSON(t *testing.T) {
	var buf bytes.Buffer
	log, _, err := newLogger("info", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	s := settings{statsLog: true, logFormat: "json"}
	w := statsWriter(&s, log)
	fmt.Fprintf(w, "m=logplex_stats ts=1700000040 message_received=12 message_processed=10 message_received_malformed=0 unknown_token=2 unknown_channel=0\n")
	fmt.Fprintf(w, "m=logplex_stats ts=1700000040 channel_id=1 drain_id=7 drain_type=tcpsyslog drain_delivered=12 drain_dropped=3 drain_buffered=4\n")
	log.Info("shutting down", "timeout", 1500*time.Millisecond)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	var recs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		recs = append(recs, m)
	}
	if recs[0]["msg"] != "logplex_stats" || recs[0]["message_received"] != float64(12) || recs[0]["ts"] != float64(1700000040) {
		t.Errorf("stats line: %v", recs[0])
	}
	if recs[1]["channel_id"] != "1" || recs[1]["drain_id"] != "7" || recs[1]["drain_type"] != "tcpsyslog" || recs[1]["drain_dropped"] != float64(3) {
		t.Errorf("drain stats line: %v", recs[1])
	}
	if recs[2]["timeout"] != "1.5s" {
		t.Errorf("duration written as %v (%T), want \"1.5s\"", recs[2]["timeout"], recs[2]["timeout"])
	}
	// text format: the stats lines stay Logplex's own lines on stderr
	if w := statsWriter(&settings{statsLog: true, logFormat: "text"}, log); w != os.Stderr {
		t.Errorf("text format: stats writer %T, want os.Stderr", w)
	}
}

// TestMetricsExpositionHasHelpEverywhere: every family this process
// registers has a HELP text, the renamed and retyped library families are
// written as promtool wants them, and `promtool check metrics` (when
// installed; under CI it must be) finds nothing.
func TestMetricsExpositionHasHelpEverywhere(t *testing.T) {
	var b bytes.Buffer
	writeMetrics(&b)
	page := b.String()
	checkExposition(t, page)
}

func checkExposition(t *testing.T, page string) {
	t.Helper()
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "# HELP ") && (len(strings.Fields(l)) < 4 || strings.Contains(l, "(no help text")) {
			t.Errorf("no help text: %q", l)
		}
		for old := range renamed {
			if strings.HasPrefix(l, old) || strings.Contains(l, " "+old+" ") {
				t.Errorf("library name %s still written: %q", old, l)
			}
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing under CI (scripts/install-deps.sh installs it with CI=true)")
		}
		t.Log("promtool not installed: HELP texts checked, promtool check metrics skipped")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// writeLibraryMetrics writes the metrics library's Go and process
// families as /metrics exposes them (writeMetrics renames a few).
func writeLibraryMetrics(w *bytes.Buffer) {
	var raw bytes.Buffer
	metrics.WriteProcessMetrics(&raw)
	for line := range bytes.Lines(raw.Bytes()) {
		w.Write(appendExposed(nil, line))
	}
}

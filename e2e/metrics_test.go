package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promSample matches one sample line of the Prometheus text format:
// name, optional {labels}, a float value, optional timestamp.
var promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(\s*[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)( -?\d+)?$`)
var promMeta = regexp.MustCompile(`^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)( (counter|gauge|histogram|summary|untyped))?`)

// parseProm checks a scrape against the text format (every line a sample
// or a HELP/TYPE comment, values parse as floats, at most one TYPE per
// family, a family's samples contiguous) and returns the samples.
func parseProm(t *testing.T, page string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	seenFamily := map[string]bool{}
	last := ""
	for i, l := range strings.Split(strings.TrimRight(page, "\n"), "\n") {
		if strings.HasPrefix(l, "#") {
			m := promMeta.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("line %d: bad comment %q", i+1, l)
			}
			if m[1] == "TYPE" {
				if typed[m[2]] {
					t.Fatalf("line %d: second TYPE line for %s", i+1, m[2])
				}
				typed[m[2]] = true
			}
			continue
		}
		m := promSample.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %d: not a sample: %q", i+1, l)
		}
		v, err := strconv.ParseFloat(m[5], 64)
		if err != nil && m[5] != "+Inf" && m[5] != "-Inf" && m[5] != "NaN" {
			t.Fatalf("line %d: value %q", i+1, m[5])
		}
		fam := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if fam != last && seenFamily[fam] {
			t.Fatalf("line %d: samples of %s are not contiguous", i+1, fam)
		}
		seenFamily[fam], last = true, fam
		out[m[1]+m[2]] = v
	}
	return out
}

func scrape(t *testing.T, p *Proc) map[string]float64 {
	t.Helper()
	r := Do(t, "GET", "http://"+p.Adm+"/metrics", "", "", nil, nil)
	if r.Status != 200 {
		t.Fatalf("/metrics: %d", r.Status)
	}
	return parseProm(t, r.Body)
}

// TestMetricsMove is issue 10's acceptance 1: the admin page parses as
// Prometheus text, holds Logplex's counters, and they move as messages are
// received, processed, malformed, unknown, delivered and dropped.
func TestMetricsMove(t *testing.T) {
	sink := StartHTTPSink(t)
	sink.SetStatus(func(n int) int {
		if n == 1 {
			return 404 // the first batch is dropped (permanent failure)
		}
		return 200
	})
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-status-interval", "50ms")
	ch, tok := createChannel(t, p, "app")
	addRunningDrain(t, p, ch, sink.URL)
	before := scrape(t, p)
	names := []string{"logplex_message_received_total", "logplex_message_processed_total",
		"logplex_message_received_malformed_total", "logplex_unknown_token_total", "logplex_unknown_channel_total",
		"logplex_drain_delivered_total", "logplex_drain_dropped_total"}
	for _, n := range names {
		if _, ok := before[n]; !ok {
			t.Errorf("/metrics lacks %s", n)
		}
	}
	sendTCP(t, p.Syslog, tok, 0, 5, nil) // 5 received + processed; the first POST gets 404: dropped
	writeAndClose(t, p.Syslog, []byte("garbage line\n"+Frame("<1>1 t h t.00000000-0000-4000-8000-000000000000 p - - x")))
	Eventually(t, 5*time.Second, "dropped batch", func() bool {
		return scrape(t, p)["logplex_drain_dropped_total"] > before["logplex_drain_dropped_total"]
	})
	sendTCP(t, p.Syslog, tok, 5, 8, nil) // delivered (with the L10 notice)
	Eventually(t, 5*time.Second, "delivered", func() bool {
		return scrape(t, p)["logplex_drain_delivered_total"] > before["logplex_drain_delivered_total"]
	})
	after := scrape(t, p)
	delta := func(n string) float64 { return after[n] - before[n] }
	want := map[string]float64{"logplex_message_received_total": 8, "logplex_message_processed_total": 8,
		"logplex_message_received_malformed_total": 1, "logplex_unknown_token_total": 1}
	for n, v := range want {
		if delta(n) != v {
			t.Errorf("%s moved by %v, want %v", n, delta(n), v)
		}
	}
	if delta("logplex_drain_dropped_total")+delta("logplex_drain_delivered_total") != 8 {
		t.Errorf("drain delivered %v + dropped %v != 8 sent", delta("logplex_drain_delivered_total"), delta("logplex_drain_dropped_total"))
	}
	t.Logf("%d series; deltas: received %v processed %v malformed %v unknown token %v delivered %v dropped %v",
		len(after), delta(names[0]), delta(names[1]), delta(names[2]), delta(names[3]), delta(names[5]), delta(names[6]))
}

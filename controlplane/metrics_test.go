package controlplane_test

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func counterValue(t *testing.T, name string) int {
	var b bytes.Buffer
	metrics.WritePrometheus(&b, false)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindSubmatch(b.Bytes())
	if m == nil {
		t.Fatalf("metric %s not exported", name)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func TestRequestCounters(t *testing.T) {
	p := newPlane(t, nil)
	ok := `logplex_api_requests_total{api="v3",endpoint="channels",code="2xx"}`
	notFound := `logplex_api_requests_total{api="legacy",endpoint="unknown",code="4xx"}`
	ok0, nf0 := counterValue(t, ok), counterValue(t, notFound)
	p.channel("metrics-ch")
	p.do("GET", p.v3+"/v3/channels/metrics-ch", "", authH)
	p.do("GET", p.api+"/nowhere", "", nil)
	if d := counterValue(t, ok) - ok0; d != 2 {
		t.Fatalf("v3 channels 2xx grew by %d, want 2", d)
	}
	if d := counterValue(t, notFound) - nf0; d != 1 {
		t.Fatalf("legacy unknown 4xx grew by %d, want 1", d)
	}
}

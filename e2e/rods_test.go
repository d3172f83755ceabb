package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// TestControlRods: a rod set on one node's admin address applies there; set
// with scope=cluster it applies on every node through the config store; the
// gauges show it.
func TestControlRods(t *testing.T) {
	rs := redistest.Start(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
	_, tok := c.createChannel(t)
	msg := "<134>1 2012-12-10T03:00:48Z h " + tok + " web.1 - - rod"
	dp0, dp1 := c.dps[0], c.dps[1]
	for _, dp := range c.dps {
		Eventually(t, 2*time.Second, "channel routes on "+dp.Logs, func() bool { return postLogs(t, dp, tok, msg) == 204 })
	}

	if r := Do(t, "POST", "http://"+dp0.Adm+"/control-rods/deny_logs_ingress", "", "", nil, nil); r.Status != 200 ||
		!strings.Contains(r.Body, `"deny_logs_ingress":"on"`) {
		t.Fatalf("set rod: %d %s", r.Status, r.Body)
	}
	if st := postLogs(t, dp0, tok, msg); st != 503 {
		t.Fatalf("node rod: /logs on the node answered %d, want 503", st)
	}
	if st := postLogs(t, dp1, tok, msg); st != 204 {
		t.Fatalf("node rod leaked to another node: %d", st)
	}
	if g := Metric(t, dp0.Adm, `logplex_control_rod{rod="deny_logs_ingress",state="on"}`); g != 1 {
		t.Fatalf("gauge %v, want 1", g)
	}
	Do(t, "POST", "http://"+dp0.Adm+"/control-rods/allow_logs_ingress", "", "", nil, nil)
	if st := postLogs(t, dp0, tok, msg); st != 204 {
		t.Fatalf("after allow: %d", st)
	}

	if r := Do(t, "POST", "http://"+dp1.Adm+"/control-rods/deny_logs_ingress?scope=cluster", "", "", nil, nil); r.Status != 200 {
		t.Fatalf("cluster rod: %d %s", r.Status, r.Body)
	}
	Eventually(t, 2*time.Second, "cluster rod reaches the other data plane", func() bool {
		return postLogs(t, dp0, tok, msg) == 503
	})
	if r := Do(t, "POST", "http://"+c.cp.Adm+"/control-rods/set_api_read_only?scope=cluster", "", "", nil, nil); r.Status != 200 {
		t.Fatalf("api rod: %d %s", r.Status, r.Body)
	}
	Eventually(t, 2*time.Second, "v3 API read-only", func() bool {
		return Do(t, "PUT", "http://"+c.cp.V3+"/v3/channels/rodtest", "", "", map[string]string{
			"Authorization": "Basic " + c.key, "Content-Type": "application/json"}, []byte(`{}`)).Status == 503
	})
	if r := Do(t, "POST", "http://"+c.cp.Adm+"/control-rods/no_such_rod", "", "", nil, nil); r.Status != 404 {
		t.Fatalf("unknown rod: %d", r.Status)
	}
}

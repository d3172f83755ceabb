package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// waitDrainRunning polls the drain status extension until nodes data
// planes report the drain (a node reports only the drains it runs).
func waitDrainRunning(t *testing.T, v3, ch string, drainID int64, header map[string]string, user, pass string, nodes int) {
	t.Helper()
	Eventually(t, 10*time.Second, "drain running on every data plane", func() bool {
		r := Do(t, "GET", fmt.Sprintf("http://%s/v3/channels/%s/drains/%d/status", v3, ch, drainID), user, pass, header, nil)
		var st struct{ Nodes []struct{} }
		return r.Status == 200 && json(r, &st) && len(st.Nodes) == nodes
	})
}

// addRunningDrain adds a drain of url to channel ch of the all-in-one p
// and waits until the data plane runs it: the first messages sent after it
// returns find the drain in the snapshot (before that, a message goes to
// history alone). It returns the drain's id.
func addRunningDrain(t *testing.T, p *Proc, ch, url string) int64 {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/v2/channels/"+ch+"/drains", p.User, p.Pass, nil, []byte(`{"url":"`+url+`"}`))
	if r.Status != 201 {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	var d struct{ ID int64 }
	JSON(t, r, &d)
	waitDrainRunning(t, p.V3, ch, d.ID, nil, p.User, p.Pass, 1)
	return d.ID
}

// TestDrainEndpointMisbehaves is fault scenario 2 through the real binary:
// under a steady load the drain endpoint is slow (2 s), answers 500s, 429s
// and 404s, then recovers. Every message is delivered or reported in an L10
// notice: sent = delivered + reported-dropped, exactly.
func TestDrainEndpointMisbehaves(t *testing.T) {
	sink := StartHTTPSink(t)
	sink.SetStatus(func(n int) int {
		switch {
		case n == 2:
			time.Sleep(2 * time.Second) // slow
		case n >= 3 && n < 6:
			return 500
		case n >= 6 && n < 9:
			return 429
		case n >= 9 && n < 11:
			return 404
		}
		return 200
	})
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--http-drain-buffer-size", "300",
		"--http-drain-target-bytes", "4096", "--http-reconnect-time", "1", "--drain-status-interval", "50ms")
	ch, tok := createChannel(t, p, "app")
	addRunningDrain(t, p, ch, sink.URL)
	const n = 3000
	for i := 0; i < n; i += 100 { // a steady load: 100 messages every 10 ms
		sendTCP(t, p.Syslog, tok, i, i+100, nil)
		time.Sleep(10 * time.Millisecond)
	}
	marker := 1_000_000 // messages after the storm carry the last L10 notice
	var delivered, dups, reported int
	Eventually(t, 30*time.Second, "every message delivered or reported", func() bool {
		sendTCP(t, p.Syslog, tok, marker, marker+1, nil)
		marker++
		delivered, dups = sink.CountRange(0, n)
		reported = sink.Reported()
		return delivered+reported >= n
	})
	t.Logf("account: sent %d = delivered %d + reported dropped %d (duplicates from retries: %d)", n, delivered, reported, dups)
	if delivered+reported != n {
		t.Fatalf("sent %d != delivered %d + reported %d", n, delivered, reported)
	}
	if reported == 0 {
		t.Fatal("404s, exhausted retries and overflow must have dropped something: the faults did not happen")
	}
}

// TestControlPlaneKilled is fault scenario 3: with the control plane killed,
// data planes keep routing to drains and history on their snapshot; after it
// restarts, the API works again and shows what was written meanwhile.
func TestControlPlaneKilled(t *testing.T) {
	rs := redistest.Start(t)
	sink := StartHTTPSink(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()}, "--allow-private-drains", "--drain-status-interval", "50ms",
		"--http-drain-buffer-size", "10000", "--log-history", "5000")
	ch, tok := c.createChannel(t)
	r := Do(t, "POST", "http://"+c.cp.API+"/v2/channels/"+ch+"/drains", "", "", c.header, []byte(`{"url":"`+sink.URL+`"}`))
	var d struct{ ID int64 }
	JSON(t, r, &d)
	waitDrainRunning(t, c.cp.V3, ch, d.ID, c.header, "", "", 2)
	if err := c.cp.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.cp.done
	const n = 2000
	for i, dp := range c.dps {
		sendTCP(t, dp.Syslog, tok, i*n, (i+1)*n, nil)
	}
	Eventually(t, 20*time.Second, "both data planes deliver with the control plane dead", func() bool {
		got, _ := sink.CountRange(0, 2*n)
		return got == 2*n
	})
	c.cp.Restart()
	var h []string
	Eventually(t, 10*time.Second, "history complete after the control plane restarts", func() bool {
		h = c.history(t, ch, 5000)
		return len(h) == 2*n
	})
	t.Logf("control plane killed: drain got %d of %d, history %d of %d", 2*n, 2*n, len(h), 2*n)
}

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMFlushesDrains is fault scenario 4: a data plane sent SIGTERM
// stops accepting and delivers every message it acknowledged (204) to a slow
// drain within --shutdown-timeout, then exits 0; restarted, it routes again.
func TestSIGTERMFlushesDrains(t *testing.T) {
	sink := StartHTTPSink(t)
	sink.SetStatus(func(int) int { time.Sleep(20 * time.Millisecond); return 200 }) // a slow endpoint
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--shutdown-timeout", "20s",
		"--http-drain-buffer-size", "100000", "--http-drain-target-bytes", "2048")
	ch, tok := createChannel(t, p, "app")
	r := Do(t, "POST", "http://"+p.API+"/v2/channels/"+ch+"/drains", p.User, p.Pass, nil, []byte(`{"url":"`+sink.URL+`"}`))
	if r.Status != 201 {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	acked := 0
	for batch := range 20 {
		var body strings.Builder
		for i := range 500 {
			body.WriteString(Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - seq=%d", tok, batch*500+i)))
		}
		st := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok,
			map[string]string{"Content-Type": "application/logplex-1"}, []byte(body.String())).Status
		if st != 204 {
			t.Fatalf("POST /logs: %d", st)
		}
		acked += 500
	}
	if d, _, _ := sink.Counts(); d >= acked {
		t.Fatalf("the drain already had everything (%d): the test proves nothing; slow the sink", d)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit within 30 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Output())
	}
	d, dups, l10 := sink.Counts()
	t.Logf("SIGTERM: %d acknowledged, %d delivered (%d duplicates, %d reported dropped), exit after %v", acked, d, dups, l10, time.Since(start))
	if d != acked || l10 != 0 {
		t.Fatalf("lost acknowledged messages on shutdown: %v", sink.Missing(acked, 10))
	}
	if _, err := http.Get("http://" + p.Logs + "/healthcheck"); err == nil {
		t.Fatal("still listening after exit")
	}
	p.Restart()
	if st := postLogs(t, p, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" web.1 - - seq=999999"); st != 204 {
		t.Fatalf("after restart: %d", st)
	}
	Eventually(t, 5*time.Second, "drain works after restart", func() bool {
		d, _, _ := sink.Counts()
		return d == acked+1
	})
}

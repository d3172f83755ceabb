package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFrameIDDedup is issue 10's acceptance 2 (second half): the same body
// posted twice with one Logplex-Frame-Id appears once in history and in the
// drain; with different ids, twice.
func TestFrameIDDedup(t *testing.T) {
	sink := StartHTTPSink(t)
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-status-interval", "50ms")
	ch, tok := createChannel(t, p, "app")
	addRunningDrain(t, p, ch, sink.URL)
	post := func(seq int, frameID string) {
		t.Helper()
		body := Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - seq=%d", tok, seq))
		st := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok, map[string]string{
			"Content-Type": "application/logplex-1", "Logplex-Frame-Id": frameID}, []byte(body)).Status
		if st != 204 {
			t.Fatalf("POST /logs: %d", st)
		}
	}
	post(1, "A1B2C3D4E5F60718293A4B5C6D7E8F90")
	post(1, "A1B2C3D4E5F60718293A4B5C6D7E8F90") // the retry
	post(2, "00000000000000000000000000000001")
	post(2, "00000000000000000000000000000002") // same body, another frame: routed again
	Eventually(t, 5*time.Second, "drain has seq 1 once and seq 2 twice", func() bool {
		n1, d1 := sink.CountRange(1, 2)
		n2, d2 := sink.CountRange(2, 3)
		return n1 == 1 && d1 == 0 && n2 == 1 && d2 == 1
	})
	h := session(t, p, `{"channel_id":"`+ch+`"}`).Body
	if c1, c2 := strings.Count(h, "seq=1\n"), strings.Count(h, "seq=2\n"); c1 != 1 || c2 != 2 {
		t.Fatalf("history has seq=1 %d times (want 1) and seq=2 %d times (want 2):\n%s", c1, c2, h)
	}
	if m := Metric(t, p.Adm, "logplex_logs_duplicate_frames_total"); m != 1 {
		t.Fatalf("duplicate frames counter %v, want 1", m)
	}
}

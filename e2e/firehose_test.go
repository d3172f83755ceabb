package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFirehose is docs/logplex.md §10 case 88: with FIREHOSE_CHANNEL_IDS=F and
// FIREHOSE_FILTER_TOKENS=heroku, messages sent with a token named heroku
// reach F's drain raw (the t. token still in APP-NAME); messages with
// another token name do not; messages posted to F itself are not duplicated.
func TestFirehose(t *testing.T) {
	sink := StartHTTPSink(t)
	p := Start(t, binPath, "all", t.TempDir(), []string{"FIREHOSE_CHANNEL_IDS=1", "FIREHOSE_FILTER_TOKENS=heroku"},
		"--allow-private-drains", "--drain-status-interval", "50ms")
	f, fTok := createChannel(t, p, "heroku") // the first channel is id 1: the firehose
	if f != "1" {
		t.Fatalf("firehose channel id %s, want 1", f)
	}
	addRunningDrain(t, p, f, sink.URL)
	_, heroku := createChannel(t, p, "heroku")
	r := Do(t, "POST", "http://"+p.API+"/v2/channels/2/tokens", p.User, p.Pass, nil, []byte(`{"name":"app"}`))
	var app struct{ Token string }
	JSON(t, r, &app)
	line := func(tok string, seq int) string {
		return fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - seq=%d", tok, seq)
	}
	for i, tok := range []string{heroku, app.Token, fTok} {
		if st := postLogs(t, p, tok, line(tok, i)); st != 204 {
			t.Fatalf("post %d: %d", i, st)
		}
	}
	Eventually(t, 5*time.Second, "firehose drain got the heroku message", func() bool {
		n, _ := sink.CountRange(0, 1)
		return n == 1
	})
	got := fmt.Sprint(sink.Missing(3, 3))
	// seq 1 (token named app) never; seq 2 (posted to F with its own heroku
	// token) exactly once: as F's own drain message, not again as firehose
	Eventually(t, 5*time.Second, "F's own message delivered once", func() bool {
		n, dups := sink.CountRange(2, 3)
		return n == 1 && dups == 0
	})
	if n, _ := sink.CountRange(1, 2); n != 0 {
		t.Fatalf("a message of a token not in the filter reached the firehose (missing seqs: %s)", got)
	}
	raw := sink.Raw()
	if !strings.Contains(raw, heroku+" web.1 - seq=0") {
		t.Fatalf("firehose message was not raw (token id expected in APP-NAME):\n%s", raw)
	}
	if m := Metric(t, p.Adm, `logplex_firehose_post_total{channel="1"}`); m != 1 {
		t.Fatalf("firehose post counter %v, want 1", m)
	}
}

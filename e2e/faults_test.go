package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// sendTCP writes messages seq from..to-1 for tok over one connection, in
// chunks, calling between(i) before message i (for fault injection).
func sendTCP(t *testing.T, addr, tok string, from, to int, between func(i int)) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 64<<10)
	for i := from; i < to; i++ {
		if between != nil {
			between(i)
		}
		fmt.Fprint(w, Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z host %s web.1 - - load seq=%d", tok, i)))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// channelWithDrain creates a channel with a token "app" and an HTTP drain
// to url through the legacy API (authenticated by hdr), and returns the
// channel id and the token once the data plane runs the drain.
func channelWithDrain(t *testing.T, p *Proc, hdr map[string]string, url string) (id, tok string) {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/channels", "", "", hdr, []byte(`{"tokens":["app"]}`))
	var ch struct {
		ChannelID int               `json:"channel_id"`
		Tokens    map[string]string `json:"tokens"`
	}
	JSON(t, r, &ch)
	id, tok = fmt.Sprint(ch.ChannelID), ch.Tokens["app"]
	r = Do(t, "POST", "http://"+p.API+"/v2/channels/"+id+"/drains", "", "", hdr, []byte(`{"url":"`+url+`"}`))
	if r.Status != 201 {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	var d struct{ ID int64 }
	JSON(t, r, &d)
	waitDrainRunning(t, p.V3, id, d.ID, hdr, "", "", 1)
	return id, tok
}

// TestRedisKilledUnderLoad is issue 4's acceptance 3 (and fault scenario 1
// of the fault suite): Redis is killed while 100 000 messages flow to a data
// plane with an HTTP drain. The drain gets every message (routing never
// depended on Redis), history written + dropped accounts for every message,
// and after Redis is back new messages reach history again.
func TestRedisKilledUnderLoad(t *testing.T) {
	rs := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	sink := StartHTTPSink(t)
	key := "fault-key"
	p := Start(t, binPath, "all", t.TempDir(),
		[]string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL(), "LOGPLEX_AUTH_KEY=" + key},
		"--allow-private-drains", "--http-drain-buffer-size", "200000", "--drain-status-interval", "100ms")
	hdr := map[string]string{"Authorization": "Basic " + key}
	id, tok := channelWithDrain(t, p, hdr, sink.URL)
	written0 := Metric(t, p.Adm, "logplex_history_written_total")
	dropped0 := Metric(t, p.Adm, "logplex_history_dropped_total")
	const n = 100_000
	sendTCP(t, p.Syslog, tok, 0, n, func(i int) {
		switch i {
		case n / 4:
			rs.Stop()
		case 3 * n / 4:
			rs.Restart()
		}
	})
	Eventually(t, 30*time.Second, "drain received all messages", func() bool {
		d, _, _ := sink.Counts()
		return d == n
	})
	if d, dups, l10 := sink.Counts(); dups != 0 || l10 != 0 {
		t.Fatalf("drain: %d distinct, %d duplicates, %d reported dropped", d, dups, l10)
	}
	var written, dropped float64
	Eventually(t, 15*time.Second, "history written + dropped = sent", func() bool {
		written = Metric(t, p.Adm, "logplex_history_written_total") - written0
		dropped = Metric(t, p.Adm, "logplex_history_dropped_total") - dropped0
		return written+dropped == n
	})
	t.Logf("sent %d: drain got %d; history written %.0f + dropped %.0f", n, n, written, dropped)
	if dropped == 0 {
		t.Fatal("Redis was down for half the run yet no history write was dropped: the fault did not happen")
	}
	sendTCP(t, p.Syslog, tok, n, n+10, nil)
	Eventually(t, 10*time.Second, "history works again after Redis is back", func() bool {
		r := Do(t, "POST", "http://"+p.API+"/v2/sessions", "", "", hdr, []byte(`{"channel_id":"`+id+`","num":"5"}`))
		if r.Status == 503 {
			return false // the first call on a connection Redis dropped fails once: "retry later"
		}
		var s struct{ URL string }
		JSON(t, r, &s)
		body := Do(t, "GET", strings.Replace(s.URL, "localhost", "127.0.0.1", 1), "", "", nil, nil).Body
		return strings.Contains(body, fmt.Sprintf("seq=%d\n", n+9))
	})
}

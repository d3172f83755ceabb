//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// openTailSession creates a tail session of channel ch and returns the path
// to GET.
func openTailSession(t *testing.T, p *Proc, ch string) string {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/v2/sessions", p.User, p.Pass, nil,
		[]byte(fmt.Sprintf(`{"channel_id":"%s","num":"0","tail":true}`, ch)))
	if r.Status != 201 {
		t.Fatalf("POST /v2/sessions: %d %s", r.Status, r.Body)
	}
	var s struct{ URL string }
	JSON(t, r, &s)
	return s.URL[strings.Index(s.URL, "/sessions/"):]
}

// TestAbuseTailsThatNeverRead: 50 tail sessions whose clients send the
// request and never read the answer, on channels sent 10 KB messages,
// would hold 1 024 messages each in their buffers and as many in hand
// (814 MiB of RSS without a budget); with --tail-buffers-max-bytes
// the node keeps them within the budget, counts what it sheds, and a
// session of another channel that reads gets every message and no L11.
func TestAbuseTailsThatNeverRead(t *testing.T) {
	const budget = 64 << 20
	p := StartAll(t, binPath, t.TempDir(), "--tail-buffers-max-bytes", fmt.Sprint(budget), "--log-history", "10",
		"--shutdown-timeout", "1s")
	const chans = 50
	var toks []string
	for range chans {
		ch, tok := createChannel(t, p, "app")
		c, err := net.Dial("tcp", p.API)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetReadBuffer(4096) // the server's writes block soon
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", openTailSession(t, p, ch))
		toks = append(toks, tok)
	}
	ch, tok := createChannel(t, p, "app")
	res, err := http.Get("http://" + p.API + openTailSession(t, p, ch))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got, l11 atomic.Int64
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.Contains(line, "Error L11"):
				l11.Add(1)
			case strings.Contains(line, "seq="):
				got.Add(1)
			}
		}
	}()
	Eventually(t, 10*time.Second, "every tail session is live", func() bool {
		return Metric(t, p.Adm, "logplex_tail_sessions") == chans+1
	})

	stop := make(chan struct{})
	peak := peakRSS(p, stop)
	const n = 2200 // two sessions' worth: the buffer, and the batch in hand
	sendBigAndSmall(t, p, n, toks, tok)
	Eventually(t, 30*time.Second, "the session that reads got every message", func() bool {
		return got.Load() == n
	})
	time.Sleep(time.Second) // sample the RSS a second longer
	close(stop)
	rss := <-peak

	if l11.Load() != 0 {
		t.Errorf("the session that reads saw %d L11 lines; want none", l11.Load())
	}
	// each session may overshoot its share by the message that arrived
	// last; without the budget the process reaches 814 MiB, with it a few
	// times the budget (the Go heap's growth between collections)
	checkBudget(t, p, "tail", budget, budget+(chans+1)*10_300, rss, 300<<20)
}

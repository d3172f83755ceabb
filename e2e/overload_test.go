package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOverloadSheds is fault scenario 6: more /logs traffic than the router
// takes. It answers 503 with Retry-After instead of growing past its memory
// bound (GOMEMLIMIT), never another 5xx, and serves again afterwards.
func TestOverloadSheds(t *testing.T) {
	p := Start(t, binPath, "all", t.TempDir(), []string{"GOMEMLIMIT=96MiB"},
		"--max-inflight-logs-bytes", "16000000", "--http-log-input-max-connections", "256")
	_, tok := createChannel(t, p, "app")
	var body bytes.Buffer
	for i := 0; body.Len() < 4<<20; i++ {
		body.WriteString(Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - flood %d %s", tok, i, strings.Repeat("x", 900))))
	}
	payload := body.Bytes()
	var ok, shed, other, noRetryAfter atomic.Int64
	var maxRSS atomic.Int64
	stop := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				req, _ := http.NewRequest("POST", "http://"+p.Logs+"/logs", bytes.NewReader(payload))
				req.SetBasicAuth("token", tok)
				req.Header.Set("Content-Type", "application/logplex-1")
				res, err := client.Do(req)
				if err != nil {
					continue // a refused request may be closed before the whole body is sent
				}
				res.Body.Close()
				switch {
				case res.StatusCode == 204:
					ok.Add(1)
				case res.StatusCode == 503:
					shed.Add(1)
					if res.Header.Get("Retry-After") == "" {
						noRetryAfter.Add(1)
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	for time.Now().Before(stop) {
		if r := int64(Metric(t, p.Adm, "process_resident_memory_bytes")); r > maxRSS.Load() {
			maxRSS.Store(r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("flood: %d accepted (204), %d shed (503), %d other; max RSS %.0f MiB", ok.Load(), shed.Load(), other.Load(), float64(maxRSS.Load())/(1<<20))
	if shed.Load() == 0 {
		t.Fatal("nothing was shed: the flood did not overload the router, the test proves nothing")
	}
	if other.Load() != 0 || noRetryAfter.Load() != 0 {
		t.Fatalf("%d answers were neither 204 nor 503; %d 503s lacked Retry-After", other.Load(), noRetryAfter.Load())
	}
	if maxRSS.Load() > 256<<20 {
		t.Fatalf("RSS reached %d MiB under GOMEMLIMIT=96MiB", maxRSS.Load()>>20)
	}
	Eventually(t, 20*time.Second, "serves again after the flood", func() bool {
		return postLogs(t, p, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" web.1 - - after") == 204
	})
}

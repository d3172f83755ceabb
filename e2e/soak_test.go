//go:build soak

package e2e

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestSoak (make soak; not in CI) runs the real binary for SOAK_MINUTES
// (10) at SOAK_RATE messages/s (800 000: half the highest lossless rate
// `logplex bench --scenarios tcp-to-http-drain@sustained` measured on the
// 2-core dev machine, 1.62 M) over 4 connections and 10 channels
// with an HTTP drain each, sampling RSS and goroutines every 10 s. It passes
// when RSS after warm-up stays within 10%, goroutines do not grow, and
// sent = delivered + reported-dropped exactly.
func TestSoak(t *testing.T) {
	minutes, rate := envInt("SOAK_MINUTES", 10), envInt("SOAK_RATE", 800_000)
	sink := StartHTTPSink(t)
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--http-drain-buffer-size", "20000",
		"--drain-status-interval", "100ms", "--stats-log=false")
	var toks []string
	for range 10 {
		ch, tok := createChannel(t, p, "app")
		addRunningDrain(t, p, ch, sink.URL)
		toks = append(toks, tok)
	}
	end := time.Now().Add(time.Duration(minutes) * time.Minute)
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", p.Syslog)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			w := bufio.NewWriterSize(conn, 64<<10)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			per := rate / 4 / 100 // messages per tick per connection
			var msg, frame []byte
			for seq := c * 1_000_000_000; time.Now().Before(end); <-tick.C {
				for range per {
					msg = append(append(append(msg[:0], "<134>1 2012-12-10T03:00:48.123456Z h "...), toks[seq%10]...), " web.1 - - soak seq="...)
					msg = strconv.AppendInt(msg, int64(seq), 10)
					frame = append(append(strconv.AppendInt(frame[:0], int64(len(msg)), 10), ' '), msg...)
					w.Write(frame)
					seq++
				}
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent += per
				mu.Unlock()
			}
		}()
	}
	var rss, gor []float64
	for time.Now().Before(end) {
		time.Sleep(10 * time.Second)
		rss = append(rss, Metric(t, p.Adm, "process_resident_memory_bytes")/(1<<20))
		gor = append(gor, Metric(t, p.Adm, "go_goroutines"))
		mu.Lock()
		t.Logf("t=%3ds sent=%d rss=%.1f MiB goroutines=%.0f", len(rss)*10, sent, rss[len(rss)-1], gor[len(gor)-1])
		mu.Unlock()
	}
	wg.Wait()
	t.Logf("sent %d in %d min: %.0f msgs/s (asked %d)", sent, minutes, float64(sent)/float64(minutes*60), rate)
	var delivered, reported int
	Eventually(t, 60*time.Second, "drains settle", func() bool {
		delivered, _, reported = sink.Counts()
		return delivered+reported >= sent
	})
	t.Logf("account: sent %d = delivered %d + reported dropped %d", sent, delivered, reported)
	if delivered+reported != sent {
		t.Fatalf("unexplained loss: sent %d, delivered %d, reported %d", sent, delivered, reported)
	}
	if len(rss) >= 9 {
		warm := avg(rss[len(rss)/3 : len(rss)/3+3])
		last := avg(rss[len(rss)-3:])
		t.Logf("RSS after warm-up %.1f MiB, at the end %.1f MiB (%+.1f%%)", warm, last, 100*(last-warm)/warm)
		if last > warm*1.10 {
			t.Errorf("RSS grew more than 10%% after warm-up")
		}
		if gor[len(gor)-1] > gor[len(gor)/3]+5 {
			t.Errorf("goroutines grew: %v -> %v", gor[len(gor)/3], gor[len(gor)-1])
		}
	}
}

func avg(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

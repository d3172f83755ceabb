package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// spillDrain creates a channel with a token "app" and an HTTP drain to url
// with "buffer":"disk", and returns the channel, the token and the drain id
// once the data plane runs it.
func spillDrain(t *testing.T, p *Proc, url string) (ch, tok string, id int64) {
	t.Helper()
	ch, tok = createChannel(t, p, "app")
	r := Do(t, "POST", "http://"+p.API+"/v2/channels/"+ch+"/drains", p.User, p.Pass, nil,
		[]byte(`{"url":"`+url+`","buffer":"disk"}`))
	if r.Status != 201 || !strings.Contains(r.Body, `"buffer":"disk"`) {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	var d struct{ ID int64 }
	JSON(t, r, &d)
	waitDrainRunning(t, p.V3, ch, d.ID, nil, p.User, p.Pass, 1)
	return ch, tok, d.ID
}

// drainBuffered is the drain's "buffered" in the status endpoint (the
// messages it holds: ring, disk spill and frame in hand).
func drainBuffered(t *testing.T, p *Proc, ch string, id int64) int {
	r := Do(t, "GET", fmt.Sprintf("http://%s/v3/channels/%s/drains/%d/status", p.V3, ch, id), p.User, p.Pass, nil, nil)
	var st struct {
		Buffered int `json:"buffered"`
	}
	if r.Status != 200 || !json(r, &st) {
		return -1
	}
	return st.Buffered
}

// seqOrder returns the seq= numbers of the sink's accepted bodies in the
// order they arrived.
func seqOrder(raw string) []int {
	var out []int
	b := []byte(raw)
	for len(b) > 0 {
		if b[0] == '\n' {
			b = b[1:]
			continue
		}
		sp := strings.IndexByte(string(b[:min(len(b), 12)]), ' ')
		if sp < 0 {
			return out
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil || sp+1+n > len(b) {
			return out
		}
		if seq, ok := seqOf(b[sp+1 : sp+1+n]); ok {
			out = append(out, seq)
		}
		b = b[sp+1+n:]
	}
	return out
}

// TestSpillThroughRestarts is issue 19's end-to-end test: the receiver of
// a drain with a disk buffer (a ring of 100 messages) is down (503) while
// the data plane is stopped with SIGTERM and later killed with SIGKILL.
// After SIGTERM nothing is lost: the ring and the frame in hand go to disk.
// After SIGKILL nothing is lost either once the spill has written what it
// took (a spilling drain's ring stays empty: its messages go straight to
// disk), and no message is delivered twice. Once the receiver is back,
// everything arrives, in order: delivered = sent, exactly.
func TestSpillThroughRestarts(t *testing.T) {
	sink, down := downSink(t)
	spillDir := t.TempDir()
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-spill-dir", spillDir,
		"--http-drain-buffer-size", "100", "--shutdown-timeout", "2s", "--drain-status-interval", "100ms",
		"--http-reconnect-time", "1")
	ch, tok, id := spillDrain(t, p, sink.URL)
	const nA, nB, nC = 5000, 5000, 1000

	// A: the outage; SIGTERM once the drain holds every message
	sendTCP(t, p.Syslog, tok, 0, nA, nil)
	Eventually(t, 20*time.Second, "the drain to hold phase A", func() bool { return drainBuffered(t, p, ch, id) == nA })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.Output())
	}
	// B: restarted, still down; SIGKILL once the new overflow is written
	p.Restart()
	waitDrainRunning(t, p.V3, ch, id, nil, p.User, p.Pass, 1)
	sendTCP(t, p.Syslog, tok, nA, nA+nB, nil)
	Eventually(t, 20*time.Second, "phase B written to the spill", func() bool {
		return Metric(t, p.Adm, "logplex_drain_spill_spilled_total") == nB
	})
	if used := Metric(t, p.Adm, "logplex_drain_spill_bytes"); used <= 0 || used > 256<<20 {
		t.Fatalf("logplex_drain_spill_bytes %v during the outage", used)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	// C: restarted, the receiver back
	p.Restart()
	down.Store(false)
	sendTCP(t, p.Syslog, tok, nA+nB, nA+nB+nC, nil)
	total := nA + nB + nC
	Eventually(t, 30*time.Second, "delivery after the outage", func() bool {
		d, _, _ := sink.Counts()
		return d >= total
	})
	d, dups, l10 := sink.Counts()
	t.Logf("sent %d: delivered %d (%d duplicates), L10 %d", total, d, dups, l10)
	if d != total || dups != 0 || l10 != 0 {
		t.Fatalf("delivered %d (%d duplicates, L10 %d), want all %d once each; missing %v", d, dups, l10, total, sink.Missing(total, 10))
	}
	seqs := seqOrder(sink.Raw())
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("message %d delivered after %d", seqs[i], seqs[i-1])
		}
	}
	Eventually(t, 10*time.Second, "the spill to empty", func() bool {
		segs, _ := filepath.Glob(filepath.Join(spillDir, "*", "*.seg"))
		return len(segs) == 0 && Metric(t, p.Adm, "logplex_drain_spill_bytes") == 0
	})
}

// TestSpillBudgetAndDiskFailure: a spill whose budget is tiny never holds
// more than it (the metric and the files), and what does not fit is
// dropped and reported by L10 as without a spill; a spill directory that
// cannot be made is counted and the node runs without it. Either way:
// delivered + reported = sent, exactly, and the process keeps running.
func TestSpillBudgetAndDiskFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		full bool // the budget runs out (else: the spill is off with an error)
	}{
		{"tiny budget", func(t *testing.T) string { return t.TempDir() }, true},
		{"unwritable directory", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(f, "spill") // below a regular file: fails for root too
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const budget = 64 << 10
			sink, down := downSink(t)
			dir := tc.dir(t)
			p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-spill-dir", dir,
				"--drain-spill-max-bytes", strconv.Itoa(budget), "--drain-spill-drain-max-bytes", strconv.Itoa(budget),
				"--http-drain-buffer-size", "100", "--drain-status-interval", "100ms", "--http-reconnect-time", "1")
			_, tok, _ := spillDrain(t, p, sink.URL)
			const n = 4000
			for i := 0; i < n; i += 200 {
				sendTCP(t, p.Syslog, tok, i, i+200, nil)
				if used := Metric(t, p.Adm, "logplex_drain_spill_bytes"); used > budget {
					t.Fatalf("the spill holds %v bytes, budget %d", used, budget)
				}
				var files int64
				filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
					if err == nil && strings.HasSuffix(fi.Name(), ".seg") {
						files += fi.Size()
					}
					return nil
				})
				if files > budget {
					t.Fatalf("spill files of %d bytes, budget %d", files, budget)
				}
			}
			if tc.full {
				Eventually(t, 10*time.Second, "the budget to run out", func() bool {
					return Metric(t, p.Adm, "logplex_drain_spill_full_total") > 0
				})
			} else if e := Metric(t, p.Adm, "logplex_drain_spill_errors_total"); e < 1 {
				t.Fatalf("logplex_drain_spill_errors_total %v: the failure was not counted", e)
			}
			down.Store(false)
			sendTCP(t, p.Syslog, tok, n, n+1, nil) // carries the L10 of what is left
			Eventually(t, 30*time.Second, "every message delivered or reported", func() bool {
				d, _, l10 := sink.Counts()
				return d+l10 >= n+1
			})
			d, dups, l10 := sink.Counts()
			t.Logf("sent %d: delivered %d (%d duplicates), L10 reported %d", n+1, d, dups, l10)
			if d+l10 != n+1 || dups != 0 || l10 == 0 {
				t.Fatalf("delivered %d + reported %d (duplicates %d), want %d with some lost", d, l10, dups, n+1)
			}
			select {
			case <-p.done:
				t.Fatalf("the process ended\n%s", p.Output())
			default:
			}
		})
	}
}

// downSink is an HTTP sink that answers 503 until down is set false.
func downSink(t *testing.T) (*HTTPSink, *atomic.Bool) {
	sink := StartHTTPSink(t)
	down := new(atomic.Bool)
	down.Store(true)
	sink.SetStatus(func(int) int {
		if down.Load() {
			return 503
		}
		return 200
	})
	return sink, down
}

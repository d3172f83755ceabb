package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// shardLoad posts numbered messages to every channel through whichever data
// plane answers, and remembers which were accepted (204).
type shardLoad struct {
	toks  []string
	dps   []*Proc
	mu    sync.Mutex
	acked []map[int]bool // per channel
	sent  atomic.Int64   // rounds done
	stop  atomic.Bool
	done  chan struct{}
}

func (l *shardLoad) run(t *testing.T) {
	defer close(l.done)
	tick := time.NewTicker(3 * time.Millisecond) // load shaping, not synchronisation
	defer tick.Stop()
	for round := 0; round < 20000 && !l.stop.Load(); round++ {
		<-tick.C
		for c, tok := range l.toks {
			ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
			msg := fmt.Sprintf("<134>1 %s h %s web.1 - - seq=%d", ts, tok, round)
			for k := range l.dps {
				dp := l.dps[(round+k)%len(l.dps)]
				if postLogsQuiet(dp, tok, msg) == 204 {
					l.mu.Lock()
					l.acked[c][round] = true
					l.mu.Unlock()
					break
				}
			}
		}
		l.sent.Add(1)
	}
}

// postLogsQuiet is postLogs that reports a refused connection (a data
// plane restarting) as status 0 instead of failing the test.
func postLogsQuiet(dp *Proc, tok, msg string) int {
	req, err := http.NewRequest("POST", "http://"+dp.Logs+"/logs", strings.NewReader(Frame(msg)))
	if err != nil {
		return 0
	}
	req.SetBasicAuth("token", tok)
	req.Header.Set("Content-Type", "application/logplex-1")
	res, err := shardsClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

var shardsClient = &http.Client{Timeout: 5 * time.Second}

var seqRe = regexp.MustCompile(`seq=(\d+)$`)

// seqs returns the sequence numbers a session prints for ch, newest last.
func (c *splitCluster) seqs(t *testing.T, ch string, num int) []int {
	out, _ := c.seqsAndOthers(t, ch, num)
	return out
}

// seqsAndOthers is seqs and the number of other lines the session printed
// (the routing probes: they take history slots too).
func (c *splitCluster) seqsAndOthers(t *testing.T, ch string, num int) (out []int, others int) {
	for _, l := range c.history(t, ch, num) {
		if m := seqRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		} else {
			others++
		}
	}
	return out, others
}

func runShards(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binPath, append([]string{"shards"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("logplex shards %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("logplex shards %s: %s", args[0], strings.TrimSpace(string(out)))
	return string(out)
}

// TestShardsRollingMigration: issue 18 item 5. One control plane and two
// data planes keep history on shard A; a shard B is added. Under load:
// migrate, roll the nodes to the new list one by one (control plane
// first: it serves the sessions), migrate again. Every session during the
// roll shows history, and at the end each channel's history holds every
// accepted message not older than the trim, in order.
func TestShardsRollingMigration(t *testing.T) {
	const hist, maxSwap = 600, 100 // fewer than the messages sent: the trim works
	cfg, b := redistest.Start(t), redistest.Start(t)
	oldList := cfg.URL() + "/#1"
	newList := oldList + "," + b.URL() + "/#2"
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + cfg.URL(), "LOGPLEX_SHARD_URLS=" + oldList},
		"--log-history", strconv.Itoa(hist))
	newSorted := []string{oldList, b.URL() + "/#2"}

	// channels: 3 that move to B, 1 that stays on A
	var chans, toks []string
	moving := 0
	for i := 0; i < 40 && (moving < 3 || len(chans)-moving < 1); i++ {
		ch, tok := c.createChannel(t)
		moves := shardOf(ch, newSorted) == 1
		if (moves && moving < 3) || (!moves && len(chans)-moving < 1) {
			chans, toks = append(chans, ch), append(toks, tok)
			if moves {
				moving++
			}
		}
	}
	if moving < 3 || len(chans) != 4 {
		t.Fatalf("could not find channels that move: %v", chans)
	}
	for i, dp := range c.dps {
		Eventually(t, 2*time.Second, fmt.Sprintf("channels route on data plane %d", i), func() bool {
			for _, tok := range toks {
				if postLogsQuiet(dp, tok, "<134>1 - h "+tok+" web.1 - - probe") != 204 {
					return false
				}
			}
			return true
		})
	}

	l := &shardLoad{toks: toks, dps: c.dps, done: make(chan struct{})}
	for range chans {
		l.acked = append(l.acked, map[int]bool{})
	}
	go l.run(t)
	defer func() { l.stop.Store(true); <-l.done }()
	waitRounds := func(n int64) {
		t.Helper()
		target := l.sent.Load() + n
		Eventually(t, 30*time.Second, fmt.Sprintf("load reaches round %d", target), func() bool { return l.sent.Load() >= target })
	}
	nonEmpty := func(when string) {
		t.Helper()
		for _, ch := range chans {
			if n := len(c.seqs(t, ch, hist)); n == 0 {
				t.Fatalf("%s: a session of channel %s shows no history", when, ch)
			}
		}
	}
	waitRounds(100)

	plan := runShards(t, "plan", "--from", oldList, "--to", newList)
	if !strings.Contains(plan, "moving 3 channels") {
		t.Errorf("plan: %s", plan)
	}
	// (1) migrate while every node writes and reads A
	runShards(t, "migrate", "--from", oldList, "--to", newList, "--log-history", strconv.Itoa(hist))
	waitRounds(30)
	// (2) roll: the control plane (sessions read B from now on), then the data planes
	for _, p := range append([]*Proc{c.cp}, c.dps...) {
		p.Stop()
		p.env = append(p.env, "LOGPLEX_SHARD_URLS="+newList)
		p.Restart()
		nonEmpty("during the roll")
		waitRounds(30)
	}
	// (3) migrate again: what the old-list nodes wrote to A meanwhile
	out := runShards(t, "migrate", "--from", oldList, "--to", newList, "--log-history", strconv.Itoa(hist), "--delete-source")
	if !strings.Contains(out, "old lists deleted 3") {
		t.Errorf("second migrate: %s", out)
	}
	waitRounds(30)
	l.stop.Store(true)
	<-l.done

	for ci, ch := range chans {
		l.mu.Lock()
		last := -1
		for s := range l.acked[ci] {
			last = max(last, s)
		}
		l.mu.Unlock()
		var got []int
		var lost []int
		var probes int // the routing probes' lines in the history: they take slots of the trim too
		// Each data plane writes history on its own: wait for every
		// accepted message past the trim edge, not only the last one.
		missing := func() []int {
			in := map[int]bool{}
			for _, s := range got {
				in[s] = true
			}
			var out []int
			for s := range l.acked[ci] {
				if len(got) > 0 && s > got[0]+maxSwap && !in[s] { // near the trim edge, swaps may have cut s
					out = append(out, s)
				}
			}
			return out
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, probes = c.seqsAndOthers(t, ch, hist)
			if lost = missing(); slices.Contains(got, last) && len(lost) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !slices.Contains(got, last) {
			t.Fatalf("channel %s: the last accepted message %d is not in history", ch, last)
		}
		// A probe posted to one data plane may be stored after the first
		// messages posted to the other, so the trim can keep a probe and
		// cut an accepted message: count the probes' lines as history.
		if len(l.acked[ci]) >= hist && len(got)+probes < hist {
			t.Errorf("channel %s: %d lines (%d probes), want %d (%d accepted)", ch, len(got)+probes, probes, hist, len(l.acked[ci]))
		}
		// Two data planes flush their batches on their own, so neighbouring
		// messages may swap; a merge that put old entries after new ones
		// would show as a wide inversion.
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1]-maxSwap {
				t.Fatalf("channel %s: history out of order at %d: %d after %d", ch, i, got[i], got[i-1])
			}
		}
		if len(lost) > 0 || (len(got)+probes < hist && len(got) < len(l.acked[ci])) {
			t.Errorf("channel %s: %d accepted, %d in history (from %d), lost within the trim: %v", ch, len(l.acked[ci]), len(got), got[0], lost)
		}
		t.Logf("channel %s: %d accepted, %d lines of history, oldest seq %d", ch, len(l.acked[ci]), len(got), got[0])
	}
}

//go:build linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// blackhole accepts connections and never reads from them nor answers: a
// drain receiver that takes nothing. It returns its address.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestAbuseDrainsThatNeverAnswer: 100 drains (HTTP and syslog) whose
// receivers take nothing (a tenant's own, or a vendor's outage), sent
// 10 KB messages, would hold the
// 1 100 sent to each (a gigabyte, twice that in their buffers' growth);
// with --drain-buffers-max-bytes the node keeps them within the budget,
// counts what it sheds, and a drain of another channel whose receiver
// keeps up gets every message and no L10.
func TestAbuseDrainsThatNeverAnswer(t *testing.T) {
	const budget = 64 << 20
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-buffers-max-bytes", fmt.Sprint(budget),
		"--max-drains-per-channel", "10", "--log-history", "10", "--drain-status-interval", "100ms",
		"--shutdown-timeout", "1s") // the hung drains cannot flush: do not wait for them
	hole := blackhole(t)
	var syslogHoles []string // a channel's drains need distinct URLs
	for range 5 {
		syslogHoles = append(syslogHoles, blackhole(t))
	}
	var hung []string
	for range 10 {
		ch, tok := createChannel(t, p, "app")
		for j := range 10 {
			url := fmt.Sprintf("http://%s/d%d", hole, j)
			if j%2 == 1 { // syslog drains share the budget
				url = "syslog://" + syslogHoles[j/2]
			}
			r := Do(t, "POST", "http://"+p.API+"/v2/channels/"+ch+"/drains", p.User, p.Pass, nil,
				[]byte(`{"url":"`+url+`"}`))
			if r.Status != 201 {
				t.Fatalf("add drain: %d %s", r.Status, r.Body)
			}
		}
		hung = append(hung, tok)
	}
	sink := StartHTTPSink(t)
	ch, tok := createChannel(t, p, "app")
	addRunningDrain(t, p, ch, sink.URL) // added last: the snapshot that runs it runs the others

	stop := make(chan struct{})
	peak := peakRSS(p, stop)
	const n = 1100
	sendBigAndSmall(t, p, n, hung, tok)
	Eventually(t, 30*time.Second, "the drain that keeps up delivered every message", func() bool {
		d, _, _ := sink.Counts()
		return d == n
	})
	time.Sleep(time.Second) // sample the RSS a second longer: the heap may grow after the last message is routed
	close(stop)
	rss := <-peak

	if _, dups, reported := sink.Counts(); dups != 0 || reported != 0 {
		t.Errorf("the drain that keeps up: %d duplicates, %d reported dropped (L10); want none", dups, reported)
	}
	// each buffer may overshoot its share by its index and the message that
	// arrived last; without the budget the buffers alone grow past 2 GiB,
	// with it the process stays within a few times the budget (the Go
	// heap's growth between collections, the frame each hung drain holds)
	checkBudget(t, p, "drain", budget, budget+101*(8<<10+10_300), rss, 400<<20)
}

// sendBigAndSmall sends on one syslog connection, n times, a 10 KB
// message for each of the tokens big and a small one, "seq=<i>", for
// small.
func sendBigAndSmall(t *testing.T, p *Proc, n int, big []string, small string) {
	t.Helper()
	c, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 256<<10)
	x := strings.Repeat("x", 10_000)
	for i := range n {
		for _, h := range big {
			fmt.Fprint(w, Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z host %s web.1 - - %d %s", h, i, x)))
		}
		fmt.Fprint(w, Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z host %s web.1 - - seq=%d", small, i)))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// checkBudget checks, after an abuse test's load, that the kind ("drain",
// "tail") of buffers of p hold at most most bytes of their budget, that
// they shed something, and that the process's peak RSS stayed within
// maxRSS.
func checkBudget(t *testing.T, p *Proc, kind string, budget, most, rss, maxRSS int64) {
	t.Helper()
	held := Metric(t, p.Adm, "logplex_"+kind+"_buffers_bytes")
	if held > float64(most) {
		t.Errorf("the %s buffers hold %.0f bytes, budget %d", kind, held, budget)
	}
	if shed := Metric(t, p.Adm, "logplex_"+kind+"_buffers_shed_total"); shed == 0 {
		t.Errorf("logplex_%s_buffers_shed_total is 0: nothing was shed", kind)
	}
	if rss > maxRSS {
		t.Errorf("peak RSS %d MiB with a %s budget of %d MiB", rss>>20, kind, budget>>20)
	}
	t.Logf("peak RSS %d MiB, %s buffers %.1f MiB (budget %d MiB)", rss>>20, kind, held/(1<<20), budget>>20)
}

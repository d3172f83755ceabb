//go:build linux

package e2e

// The control plane's abuse suite (issue 16, docs/security.md "Control plane
// and API"): the real binary, hostile clients on loopback, bounded in count
// and time.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// vmRSS is the process's resident set size in bytes (/proc/<pid>/status),
// 0 when it cannot be read.
func vmRSS(p *Proc) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakRSS samples the process's RSS every 20 ms until stop is closed and
// returns the largest value through the channel.
func peakRSS(p *Proc, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := vmRSS(p); r > peak {
				peak = r
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// raiseOwnNofile lets the test process hold n connections.
func raiseOwnNofile(n uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < n {
		rl.Cur = min(rl.Max, n)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// setNofile sets another process's open-file limit (prlimit(2)), as
// `prlimit --nofile` or `ulimit -n` in its shell would.
func setNofile(t *testing.T, pid int, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_NOFILE),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if e != 0 {
		t.Fatalf("prlimit: %v", e)
	}
}

// fillHistory posts n messages of about 10 KB to the channel of tok and
// waits until the channel's history holds want of them.
func fillHistory(t *testing.T, p *Proc, ch, tok string, n, want int) {
	t.Helper()
	pad := strings.Repeat("x", 10_000)
	for i := 0; i < n; {
		var body strings.Builder
		for j := 0; j < 100 && i < n; j, i = j+1, i+1 {
			body.WriteString(Frame(fmt.Sprintf("<134>1 2024-01-01T00:00:00Z host %s web.1 - - %05d %s", tok, i, pad)))
		}
		r := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok,
			map[string]string{"Content-Type": "application/logplex-1"}, []byte(body.String()))
		if r.Status != 204 {
			t.Fatalf("POST /logs: %d %s", r.Status, r.Body)
		}
	}
	Eventually(t, 30*time.Second, "history filled", func() bool {
		r := Do(t, "GET", "http://"+p.V3+"/v3/channels/"+ch+"/logs?num=1", p.User, p.Pass, nil, nil)
		return r.Status == 200 && historyLen(t, p, ch) >= want
	})
}

func historyLen(t *testing.T, p *Proc, ch string) int {
	r := Do(t, "GET", "http://"+p.V3+"/v3/channels/"+ch+"/logs?num=100000", p.User, p.Pass, nil, nil)
	n, _ := strconv.Atoi(r.Header.Get("Logplex-Msg-Count"))
	return n
}

// newSession creates a v2 session and returns its path.
func newSession(t *testing.T, p *Proc, body string) string {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/v2/sessions", p.User, p.Pass, nil, []byte(body))
	if r.Status != 201 {
		t.Fatalf("POST /v2/sessions: %d %s", r.Status, r.Body)
	}
	var s struct{ URL string }
	JSON(t, r, &s)
	return s.URL[strings.Index(s.URL, "/sessions/"):]
}

// stuckFetch sends GET path on a connection with a small receive buffer
// and never reads; the caller closes it.
func stuckFetch(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	return c
}

// TestAbuseAPISessionFetchesDoNotPinMemory is issue 16 case 1: 1 600
// frames of 10 KB in a channel, a num=1500 session, 60 connections that
// fetch it and never read, then the same with 60 sessions. RSS stays under
// 300 MB, another client is served meanwhile, the bounds are counted, and
// the stuck fetches are cut by the write deadline.
func TestAbuseAPISessionFetchesDoNotPinMemory(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--session-fetch-write-timeout", "5s")
	ch, tok := createChannel(t, p, "app")
	fillHistory(t, p, ch, tok, 1600, 1500)
	other, otherTok := createChannel(t, p, "other")
	fillHistory(t, p, other, otherTok, 10, 10)
	refused := func(reason string) float64 {
		return Metric(t, p.Adm, `logplex_api_refused_total{reason="`+reason+`"}`)
	}
	timeouts0 := refused("fetch_write_timeout")
	stuck := 0
	for _, tc := range []struct {
		name     string
		sessions int
		reason   string
	}{{"one session", 1, "fetches_per_session"}, {"60 sessions", 60, "session_fetches"}} {
		t.Run(tc.name, func(t *testing.T) {
			paths := make([]string, tc.sessions)
			for i := range paths {
				paths[i] = newSession(t, p, `{"channel_id":"`+ch+`","num":"1500"}`)
			}
			refused0 := refused(tc.reason)
			runtime0 := vmRSS(p)
			stop := make(chan struct{})
			var once sync.Once
			stopSampling := func() { once.Do(func() { close(stop) }) }
			defer stopSampling()
			peak := peakRSS(p, stop)
			conns := make([]net.Conn, 60)
			for i := range conns {
				conns[i] = stuckFetch(t, p.API, paths[i%len(paths)])
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			Eventually(t, 20*time.Second, "fetches beyond the bound refused", func() bool {
				return refused(tc.reason)-refused0 >= 60-8
			})
			// another client is served meanwhile
			r := Do(t, "GET", "http://"+p.API+newSession(t, p, `{"channel_id":"`+other+`","num":"10"}`), "", "", nil, nil)
			if r.Status != 200 && r.Status != 429 {
				t.Fatalf("other client's fetch: %d %s", r.Status, r.Body)
			}
			if r := Do(t, "GET", "http://"+p.API+"/healthcheck", p.User, p.Pass, nil, nil); r.Status != 200 {
				t.Fatalf("healthcheck during the attack: %d", r.Status)
			}
			admitted := 60 - int(refused(tc.reason)-refused0)
			stuck += admitted
			Eventually(t, 30*time.Second, "stuck fetches cut by the write deadline", func() bool {
				return refused("fetch_write_timeout")-timeouts0 >= float64(stuck)
			})
			stopSampling()
			max := <-peak
			t.Logf("%s: RSS %d MiB before, peak %d MiB; %d fetches admitted and cut by the write deadline",
				tc.name, runtime0>>20, max>>20, admitted)
			if max >= 300<<20 {
				t.Fatalf("peak RSS %d MiB, want under 300 MiB", max>>20)
			}
		})
	}
	// afterwards a fetch is served in full
	r := Do(t, "GET", "http://"+p.API+newSession(t, p, `{"channel_id":"`+other+`","num":"10"}`), "", "", nil, nil)
	if r.Status != 200 || strings.Count(r.Body, "\n") != 10 {
		t.Fatalf("fetch after the attack: %d, %d lines", r.Status, strings.Count(r.Body, "\n"))
	}
}

// TestAbuseAPISlowBodyFlood is issue 16 case 2 on the APIs: with the
// process limited to 300 open files, 400 unauthenticated connections send
// Content-Length: 1000 and one byte to the v3 and legacy APIs. Each is
// answered 401 at once and closed; the process keeps running, and
// legitimate API clients are served during and after the flood.
func TestAbuseAPISlowBodyFlood(t *testing.T) {
	raiseOwnNofile(4096)
	p := StartAll(t, binPath, t.TempDir())
	setNofile(t, p.cmd.Process.Pid, 300)
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	statuses := map[string]int{}
	var wg sync.WaitGroup
	for i := range 400 {
		addr, path := p.V3, "/v3/channels/x/tokens"
		if i%2 == 1 {
			addr, path = p.API, "/channels"
		}
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				statuses["dial error"]++
				mu.Unlock()
				return
			}
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", path)
			// the answer must not wait for the body: 5 s is half the
			// --api-read-timeout that would otherwise produce it
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			l, err := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			defer mu.Unlock()
			conns = append(conns, c)
			if err != nil {
				statuses["no answer"]++
				return
			}
			statuses[strings.TrimSpace(l)]++
		})
		if i == 200 { // legitimate clients during the flood
			legit(t, p, "during")
		}
	}
	wg.Wait()
	t.Logf("flood answers: %v", statuses)
	if statuses["HTTP/1.1 401 Unauthorized"] != 400 {
		t.Fatalf("flood answers %v, want 400 × 401", statuses)
	}
	legit(t, p, "after")

	// The flood's connections closed on both ends, so that only the idle
	// ones below can take the process to its limit.
	fds := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
		return len(ents)
	}
	t.Logf("the process's open files after the flood: %d", fds())
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	mu.Unlock()
	Eventually(t, 30*time.Second, "the flood's connections closed in the process", func() bool { return fds() < 100 })

	// 400 idle connections to the v3 port take the process past its 300
	// file descriptors: accepts fail with EMFILE, are counted and retried,
	// and once the connections close both APIs serve again
	accept0 := Metric(t, p.Adm, `logplex_api_accept_errors_total{api="v3"}`)
	idle := make([]net.Conn, 0, 400)
	for range 400 {
		c, err := net.Dial("tcp", p.V3) // the kernel's backlog accepts them
		if err != nil {
			break
		}
		idle = append(idle, c)
	}
	Eventually(t, 30*time.Second, "the process at its open-file limit", func() bool { return fds() >= 295 })
	for _, c := range idle {
		c.Close()
	}
	Eventually(t, 30*time.Second, "accept errors counted", func() bool {
		return Metric(t, p.Adm, `logplex_api_accept_errors_total{api="v3"}`) > accept0
	})
	t.Logf("%d idle connections; v3 accept errors: %v", len(idle), Metric(t, p.Adm, `logplex_api_accept_errors_total{api="v3"}`)-accept0)
	legit(t, p, "after fd exhaustion")
	select {
	case <-p.done:
		t.Fatalf("the process exited:\n%s", p.Output())
	default:
	}
}

// legit runs an authorised API client on both listeners.
func legit(t *testing.T, p *Proc, when string) {
	t.Helper()
	if r := Do(t, "POST", "http://"+p.API+"/channels", p.User, p.Pass, nil, []byte(`{"tokens":["app"]}`)); r.Status != 201 {
		t.Fatalf("POST /channels %s the flood: %d %s", when, r.Status, r.Body)
	}
	name := "legit-" + strings.ReplaceAll(when, " ", "-")
	r := Do(t, "PUT", "http://"+p.V3+"/v3/channels/"+name, p.User, p.Pass, map[string]string{"Content-Type": "application/json"}, []byte(`{"tokens":["app"]}`))
	if r.Status != 201 {
		t.Fatalf("PUT /v3/channels %s the flood: %d %s", when, r.Status, r.Body)
	}
}

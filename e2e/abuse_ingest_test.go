package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The data-plane half of the hostile-tenant suite (docs/security.md, "Data
// plane and admin"): each test reproduces one abuse through the real binary,
// bounded in count and time, on loopback, and asserts the bound.

// withFDLimit returns an executable that runs the logplex binary with its
// file descriptor limit (soft and hard) set to n.
func withFDLimit(t *testing.T, n int) string {
	t.Helper()
	w := filepath.Join(t.TempDir(), "logplex-ulimit")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 97\nexec %q \"$@\"\n", n, binPath)
	if err := os.WriteFile(w, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

func (p *Proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func openFDs(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

// inHistory reports whether the channel's history holds a line containing s.
func inHistory(t *testing.T, p *Proc, ch, s string) bool {
	t.Helper()
	return strings.Contains(session(t, p, `{"channel_id":"`+ch+`","num":"100"}`).Body, s)
}

func sendSyslog(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial syslog: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(Frame(msg))); err != nil {
		t.Fatalf("write syslog: %v", err)
	}
}

// TestAbuseFDExhaustion: with `ulimit -n 300`, 400 connections to the
// syslog port. The accept errors (EMFILE) are retried and counted, the
// process keeps running, and once the connections end it serves again.
// With the default --max-tcp-connections (derived from the limit) the cap
// closes the excess before descriptors run out.
func TestAbuseFDExhaustion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"cap above the fd limit", []string{"--max-tcp-connections", "100000"}},
		{"default cap", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Start(t, withFDLimit(t, 300), "all", t.TempDir(), nil, tc.extra...)
			ch, tok := createChannel(t, p, "app")
			pid := p.cmd.Process.Pid
			var conns []net.Conn
			for range 400 {
				c, err := net.DialTimeout("tcp", p.Syslog, 5*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", len(conns), err)
				}
				conns = append(conns, c)
			}
			if tc.extra != nil {
				// exhausted once an accept of the syslog listener failed for
				// want of one (EMFILE), which it logs: the count of open
				// descriptors can near the limit before the accept that fails
				// (closing the connections then proved nothing: the CI run of
				// aed1615), and the admin address may not be reachable now
				Eventually(t, 20*time.Second, "descriptors exhausted", func() bool {
					out := p.Output()
					return strings.Contains(out, "out of file descriptors") && strings.Contains(out, "listener=syslog") || !p.alive()
				})
			} else {
				Eventually(t, 20*time.Second, "excess connections refused", func() bool {
					return Metric(t, p.Adm, "logplex_tcp_connections_rejected_total") >= 400-300 || !p.alive()
				})
			}
			for _, c := range conns {
				c.Close()
			}
			if !p.alive() {
				t.Fatalf("logplex exited under fd exhaustion:\n%s", p.Output())
			}
			msg := fmt.Sprintf(spec33, tok, 1)
			Eventually(t, 20*time.Second, "syslog served after the flood", func() bool {
				sendSyslog(t, p.Syslog, msg)
				return inHistory(t, p, ch, "Logsplat test message 1")
			})
			if s := postLogs(t, p, tok, fmt.Sprintf(spec33, tok, 2)); s != 204 {
				t.Fatalf("/logs after the flood: %d", s)
			}
			errs := Metric(t, p.Adm, `logplex_accept_errors_total{listener="syslog"}`)
			rej := Metric(t, p.Adm, "logplex_tcp_connections_rejected_total")
			t.Logf("accept errors %v, rejected %v, fds %d", errs, rej, openFDs(pid))
			if tc.extra != nil && errs == 0 {
				t.Fatal("no accept error counted: the flood did not exhaust descriptors, the test proves nothing")
			}
			if tc.extra == nil && !strings.Contains(p.Output(), "max_tcp_connections=150") {
				t.Fatalf("the derived cap was not logged as 150:\n%s", p.Output())
			}
		})
	}
}

// declareLogs opens a connection that sends POST /logs headers declaring n
// body bytes (no credentials) and one body byte.
func declareLogs(t *testing.T, addr string, n int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial /logs: %v", err)
	}
	fmt.Fprintf(c, "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/logplex-1\r\nContent-Length: %d\r\n\r\nx", n)
	return c
}

func body100K(tok string) string {
	var b strings.Builder
	for i := 0; b.Len() < 100<<10; i++ {
		b.WriteString(Frame(fmt.Sprintf(spec33, tok, i) + strings.Repeat(" pad", 200)))
	}
	return b.String()
}

// TestAbuseLogsUnauthenticatedFlood: 40 unauthenticated connections that
// declare 7 999 999 bytes and send one, then 16 more each second, while
// legitimate 100 KB POSTs go on: every legitimate POST is accepted (204) and
// RSS stays bounded. (Admission reserved Content-Length before checking
// credentials: 16 of 49 were refused 503 and RSS reached 831 MB.)
func TestAbuseLogsUnauthenticatedFlood(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	_, tok := createChannel(t, p, "app")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 40 {
		conns = append(conns, declareLogs(t, p.Logs, 7_999_999))
	}
	body := body100K(tok)
	var maxRSS float64
	refused := 0
	for i := range 30 {
		if i%6 == 0 { // 16 more every 6 POSTs (about a second)
			for range 16 {
				conns = append(conns, declareLogs(t, p.Logs, 7_999_999))
			}
		}
		s := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok, map[string]string{"Content-Type": "application/logplex-1"}, []byte(body)).Status
		if s != 204 {
			refused++
		}
		maxRSS = max(maxRSS, Metric(t, p.Adm, "process_resident_memory_bytes"))
	}
	inflight := Metric(t, p.Adm, "logplex_logs_inflight_bytes")
	t.Logf("%d flood connections; %d of 30 legitimate POSTs refused; max RSS %.0f MiB; in flight %v bytes", len(conns), refused, maxRSS/(1<<20), inflight)
	if refused > 0 {
		t.Fatalf("%d legitimate POSTs refused during an unauthenticated flood", refused)
	}
	if maxRSS > 200<<20 {
		t.Fatalf("RSS %.0f MiB during the flood", maxRSS/(1<<20))
	}
}

// TestAbuseSlowSyslogSender: a sender trickling one byte at a time without
// completing a frame is cut off after --syslog-frame-timeout, counted with
// the bytes it held; a sender that completes frames is kept.
func TestAbuseSlowSyslogSender(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--syslog-frame-timeout", "1s")
	ch, tok := createChannel(t, p, "app")
	slow, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	frame := Frame(fmt.Sprintf(spec33, tok, 7))
	cut := false
	for i := 0; i < len(frame)-1 && !cut; i++ { // one byte every 100 ms: never completes within the timeout
		if _, err := slow.Write([]byte{frame[i]}); err != nil {
			cut = true
			break
		}
		_ = slow.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := slow.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			cut = true
		}
	}
	if !cut {
		t.Fatalf("a trickling sender was not cut off within %d bytes", len(frame)-1)
	}
	if Metric(t, p.Adm, "logplex_tcp_connections_frame_timeout_total") != 1 || Metric(t, p.Adm, "logplex_tcp_partial_frame_bytes_discarded_total") == 0 {
		t.Fatalf("cut-off not counted:\n%s", metricsMatching(t, p, "logplex_tcp_"))
	}
	sendSyslog(t, p.Syslog, fmt.Sprintf(spec33, tok, 8))
	Eventually(t, 10*time.Second, "other senders served", func() bool { return inHistory(t, p, ch, "Logsplat test message 8") })
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func metricsMatching(t *testing.T, p *Proc, prefix string) string {
	var out []string
	for _, l := range strings.Split(Do(t, "GET", "http://"+p.Adm+"/metrics", "", "", nil, nil).Body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAbuseUncountedInput: a /logs body without a single frame answers 204
// (as Logplex: a trailing incomplete frame is ignored) and is counted.
func TestAbuseUncountedInput(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	_, tok := createChannel(t, p, "app")
	r := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok, map[string]string{"Content-Type": "application/logplex-1"}, []byte("hello world"))
	if r.Status != 204 {
		t.Fatalf("hello world: %d", r.Status)
	}
	if Metric(t, p.Adm, "logplex_logs_requests_without_frames_total") != 1 || Metric(t, p.Adm, "logplex_logs_trailing_bytes_discarded_total") != 11 {
		t.Fatalf("not counted:\n%s", metricsMatching(t, p, "logplex_logs_"))
	}
}

// TestAbuseAdminPort: a browser page (cross-origin POST) or a rebound DNS
// name cannot set a control rod; with LOGPLEX_ADMIN_TOKEN writes need the
// token; /debug/pprof/cmdline hides --auth-key and a Redis password given
// as flags, and giving them as flags is warned about.
func TestAbuseAdminPort(t *testing.T) {
	p := Start(t, binPath, "all", t.TempDir(), []string{"LOGPLEX_ADMIN_TOKEN=adm1n"}, "--auth-key", "MASTERKEY")
	rod := "http://" + p.Adm + "/control-rods/deny_logs_ingress"
	denied := func() bool { return postLogs(t, p, "t.x", "x") == 503 }
	for name, hdr := range map[string]map[string]string{
		"cross-origin": {"Origin": "http://evil.example", "Authorization": "Bearer adm1n"},
		"no token":     {},
		"wrong token":  {"Authorization": "Bearer nope"},
	} {
		if r := Do(t, "POST", rod, "", "", hdr, nil); r.Status != 403 && r.Status != 401 || denied() {
			t.Fatalf("%s: rod write answered %d; /logs denied: %v", name, r.Status, denied())
		}
	}
	req, _ := http.NewRequest("POST", rod, nil)
	req.Host = "rebind.evil.example"
	req.Header.Set("Authorization", "Bearer adm1n")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 403 || denied() {
		t.Fatalf("rebinding Host: %v %v", res, err)
	}
	if r := Do(t, "POST", rod, "", "", map[string]string{"Authorization": "Bearer adm1n"}, nil); r.Status != 200 || !denied() {
		t.Fatalf("with the token: %d %s", r.Status, r.Body)
	}
	if n := Metric(t, p.Adm, `logplex_admin_refused_total{reason="origin"}`); n != 1 {
		t.Fatalf("origin refusals counted %v", n)
	}
	cmdline := Do(t, "GET", "http://"+p.Adm+"/debug/pprof/cmdline", "", "", nil, nil).Body
	if strings.Contains(cmdline, "MASTERKEY") || !strings.Contains(cmdline, "***") {
		t.Fatalf("cmdline: %q", cmdline)
	}
	if !strings.Contains(p.Output(), "secret given as a flag") {
		t.Fatalf("no warning for --auth-key on the command line:\n%s", p.Output())
	}
}

package e2e

import (
	"fmt"
	"net"
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
				Eventually(t, 20*time.Second, "descriptors exhausted", func() bool { return openFDs(pid) >= 295 || !p.alive() })
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

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// tailCmd is a running `logplex tail` with its stdout lines and stderr.
type tailCmd struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuf
	exited chan error
}

func startTailCmd(t *testing.T, env []string, args ...string) *tailCmd {
	t.Helper()
	tc := &tailCmd{cmd: exec.Command(binPath, append([]string{"tail"}, args...)...), lines: make(chan string, 10000),
		stderr: &syncBuf{}, exited: make(chan error, 1)}
	tc.cmd.Env = append(append(os.Environ(), "LOGPLEX_AUTH_KEY="), env...)
	stdout, err := tc.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tc.cmd.Stderr = tc.stderr
	if err := tc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			tc.lines <- sc.Text()
		}
		close(tc.lines)
		tc.exited <- tc.cmd.Wait()
	}()
	t.Cleanup(func() { _ = tc.cmd.Process.Kill() })
	return tc
}

// expect reads the next stdout lines and compares them with want.
func (tc *tailCmd) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case l := <-tc.lines:
			if l != w {
				t.Fatalf("logplex tail printed %q, want %q\nstderr:\n%s", l, w, tc.stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("logplex tail did not print %q\nstderr:\n%s", w, tc.stderr.String())
		}
	}
}

// TestTailCommandSurvivesControlPlaneKill is issue 17 item 3 (`logplex
// tail` edges of item 9): the control plane serving the tail is killed
// (SIGKILL) and restarted while messages keep flowing through a data
// plane. `logplex tail` reconnects with backoff instead of exiting
// ("stream: unexpected EOF"), resumes from the channel's history and prints
// every message exactly once, in order, saying on stderr that the history
// covered the break. A channel that does not exist ends it with exit 1.
func TestTailCommandSurvivesControlPlaneKill(t *testing.T) {
	rs := redistest.Start(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
	ch, tok := c.createChannel(t)
	env := []string{"LOGPLEX_AUTH_KEY=" + c.key}
	tc := startTailCmd(t, env, "--api", "http://"+c.cp.API, "--channel", ch, "--num", "10")
	Eventually(t, 10*time.Second, "logplex tail started streaming", func() bool {
		return strings.Contains(tc.stderr.String(), "streaming channel "+ch)
	})
	msg := func(i int) string { return fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - seq=%d", tok, i) }
	line := func(i int) string { return fmt.Sprintf("2012-12-10T03:00:48Z app[web.1]: seq=%d", i) }
	var want []string
	post := func(from, to int) {
		for i := from; i < to; i++ {
			if st := postLogs(t, c.dps[0], tok, msg(i)); st != 204 {
				t.Fatalf("POST /logs: %d", st)
			}
			want = append(want, line(i))
		}
	}
	post(0, 5)
	tc.expect(t, want...)
	if err := c.cp.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.cp.done
	Eventually(t, 10*time.Second, "logplex tail notices the control plane died", func() bool {
		return strings.Contains(tc.stderr.String(), "reconnecting in")
	})
	post(5, 10) // while no control plane runs: history only
	c.cp.Restart()
	Eventually(t, 20*time.Second, "logplex tail reconnects", func() bool {
		return strings.Contains(tc.stderr.String(), "reconnected")
	})
	post(10, 15)
	tc.expect(t, want[5:]...)
	select {
	case l := <-tc.lines:
		t.Fatalf("an extra line: %q", l)
	default:
	}
	if s := tc.stderr.String(); !strings.Contains(s, "the history covered the break") || strings.Contains(s, "may be missing") {
		t.Fatalf("stderr does not say the history covered the break:\n%s", s)
	}
	if err := tc.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-tc.exited:
		if err != nil {
			t.Fatalf("after Ctrl-C: %v\n%s", err, tc.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logplex tail did not exit within 10 s of Ctrl-C")
	}

	none := startTailCmd(t, env, "--api", "http://"+c.cp.API, "--channel", "999999")
	select {
	case err := <-none.exited:
		s := none.stderr.String()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(s, "channel 999999 does not exist") ||
			strings.Contains(s, "streaming") {
			t.Fatalf("tail of a channel that does not exist: %v\n%s", err, s)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("tail of a channel that does not exist did not exit\n%s", none.stderr.String())
	}
}

package drain

// Interop: a real rsyslogd (Debian's) receives 10 000 messages from a
// syslog:// drain over imtcp with octet-counted framing and parses each as
// RFC 5424. Configuration: e2e/rsyslog/rsyslog.conf; see e2e/rsyslog/README.md.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/testenv"
)

const rsyslogMessages = 10000

func TestRsyslogInterop(t *testing.T) {
	bin := rsyslogd(t)
	dir := t.TempDir()
	port := slFreePort(t)
	out := filepath.Join(dir, "out.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	tmpl, err := os.ReadFile("../../e2e/rsyslog/rsyslog.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("{{WORKDIR}}", filepath.Join(dir, "work"), "{{PORT}}", port, "{{OUT}}", out).Replace(string(tmpl))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", logs.String())
		}
	})
	slWaitFor(t, 10*time.Second, "rsyslogd to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	r := startSL(t, Options{TCPBufferSize: 2 * rsyslogMessages}, "syslog://127.0.0.1:"+port+"/", time.Second)
	for i := range rsyslogMessages {
		r.push(rsyslogMsg(i))
	}
	slWaitFor(t, 15*time.Second, "rsyslogd to write every message", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n")) >= rsyslogMessages
	})
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	i, bad := 0, 0
	for ; sc.Scan(); i++ {
		if got, want := sc.Text(), rsyslogLine(i); got != want && bad < 5 {
			bad++
			t.Errorf("line %d\n got %q\nwant %q", i, got, want)
		}
	}
	if i != rsyslogMessages {
		t.Errorf("rsyslogd wrote %d lines, want %d", i, rsyslogMessages)
	}
	if d := r.d.Stats.Delivered.Get(); d != rsyslogMessages {
		t.Errorf("delivered = %d, want %d", d, rsyslogMessages)
	}
}

// rsyslogMsg is the i-th cooked message: PRI, PROCID and content vary.
func rsyslogMsg(i int) []byte {
	return fmt.Appendf(nil, "<%d>1 2024-05-06T07:08:09.%06dZ host app web.%d - - message %05d: \"quoted\" [bracketed] ünïcode", rsyslogPri(i), i, i%7, i)
}

// rsyslogLine is the line the template of e2e/rsyslog/rsyslog.conf writes
// for message i: PRI|TIMESTAMP|HOSTNAME|APP-NAME|PROCID|MSGID|SD|MSG, where
// HOSTNAME is the drain token, MSGID and SD are "-" (docs/logplex.md §3.3) and the
// LF the drain adds is dropped by rsyslogd.
func rsyslogLine(i int) string {
	return fmt.Sprintf("%d|2024-05-06T07:08:09.%06dZ|%s|app|web.%d|-|-|message %05d: \"quoted\" [bracketed] ünïcode",
		rsyslogPri(i), i, slToken, i%7, i)
}

func rsyslogPri(i int) int { return (i%24)*8 + i%8 }

// rsyslogd finds the daemon, or skips (fails when CI is set) without it.
func rsyslogd(t *testing.T) string {
	return testenv.Tool(t, "install it (apt-get install -y rsyslog; see e2e/rsyslog/README.md)",
		"rsyslogd", "/usr/sbin/rsyslogd", "/sbin/rsyslogd")
}

// slFreePort returns a loopback port that was free a moment ago.
func slFreePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// Package e2e drives the real logplex binary over real sockets: it builds
// the binary once, starts processes on free loopback ports, and talks to
// them exactly as a user would (curl-like HTTP calls, raw TCP syslog).
//
// e2e imports only the standard library; nothing imports e2e.
package e2e

import (
	"bytes"
	jsonpkg "encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/readyz"
	"github.com/logplex/logplex/internal/testenv"
)

// BuildBinary builds ./cmd/logplex into dir and returns its path.
func BuildBinary(dir string) (string, error) {
	bin := filepath.Join(dir, "logplex")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/logplex")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

func repoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Proc is a running logplex process.
type Proc struct {
	t                          testing.TB
	cmd                        *exec.Cmd
	API, V3, Logs, Syslog, Adm string // host:port of each listener
	User, Pass                 string // the bootstrap credential from the banner
	out                        *testenv.Buffer
	stdouts                    []string // a file per launch: what the process printed
	done                       chan struct{}
	bin, role, dataDir         string
	env, extra                 []string
}

var credLine = regexp.MustCompile(`credential \(full_api, any_channel\): ([0-9A-F]+):([0-9A-F]+)`)

// StartAll starts `logplex all` with dataDir and extra flags on free ports
// and waits until it is ready (GET /readyz on its admin address answers
// 200). It is stopped at test cleanup.
func StartAll(t testing.TB, bin, dataDir string, extra ...string) *Proc {
	t.Helper()
	return Start(t, bin, "all", dataDir, nil, extra...)
}

// Start starts `logplex <role>` on free ports with extra environment
// variables and flags, waits until it is ready (/readyz), and stops it at
// test cleanup. A bootstrap credential the process printed (the banner's
// line) is in User and Pass.
func Start(t testing.TB, bin, role, dataDir string, env []string, extra ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, out: &testenv.Buffer{}, done: make(chan struct{}), bin: bin, role: role, dataDir: dataDir, env: env}
	p.extra = extra
	// A test that failed shows the end of what the process logged to
	// stderr (after its stop, registered later, so run earlier; stdout is
	// the banner): a failure in CI can then be read without running it
	// again.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logplex %s: the last %d lines of its log:\n%s", p.role, failureLogLines, lastLines(p.out.String(), failureLogLines))
		}
	})
	// A port that was free a moment ago can be taken meanwhile (by any
	// connection's ephemeral port): then the process says "address already
	// in use" and exits, and it starts again on other ports.
	for attempt := 1; ; attempt++ {
		p.API = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		p.V3 = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		p.Logs = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		p.Syslog = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		p.Adm = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		err := p.tryLaunch()
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(p.Output(), "address already in use") {
			t.Fatalf("logplex %s did not start: %v\noutput:\n%s", p.role, err, p.Output())
		}
		t.Logf("logplex %s: a port was taken meanwhile; starting again on others", p.role)
		p.out, p.stdouts = &testenv.Buffer{}, nil
	}
}

// launch starts the process with p's settings (again, after Stop).
func (p *Proc) launch() {
	p.t.Helper()
	if err := p.tryLaunch(); err != nil {
		p.t.Fatalf("logplex %s did not start: %v\noutput:\n%s", p.role, err, p.Output())
	}
}

// tryLaunch is launch that returns why the process did not become ready.
func (p *Proc) tryLaunch() error {
	t := p.t
	t.Helper()
	p.done = make(chan struct{})
	args := append([]string{p.role, "--data-dir", p.dataDir, "--api-addr", p.API, "--api-v3-addr", p.V3,
		"--http-input-addr", p.Logs, "--syslog-addr", p.Syslog, "--admin-addr", p.Adm}, p.extra...)
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Env = append(os.Environ(), "LOGPLEX_AUTH_KEY=", "LOGPLEX_CONFIG_REDIS_URL=")
	p.cmd.Env = append(p.cmd.Env, p.env...)
	// stdout goes to a file, not a pipe: whatever the process printed
	// before /readyz said ok is in the file when the harness reads it
	stdout, err := os.CreateTemp(t.TempDir(), "stdout-*")
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	p.stdouts = append(p.stdouts, stdout.Name())
	p.cmd.Stdout = stdout
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, done := p.cmd, p.done
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(p.Stop)
	if err := readyz.Wait(p.Adm, done, 20*time.Second); err != nil {
		return err
	}
	b, _ := os.ReadFile(stdout.Name())
	if m := credLine.FindSubmatch(b); m != nil {
		p.User, p.Pass = string(m[1]), string(m[2])
	}
	if p.User == "" { // a later start names the credential's file instead of printing it
		if data, err := os.ReadFile(filepath.Join(p.dataDir, "bootstrap-credential")); err == nil {
			p.User, p.Pass, _ = strings.Cut(strings.TrimSpace(string(data)), ":")
		}
	}
	return nil
}

// Restart starts a stopped process again with the same ports and settings.
func (p *Proc) Restart() { p.launch() }

// Stop sends SIGTERM and waits (killing after 10 s).
func (p *Proc) Stop() {
	if p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("logplex did not stop within 10s of SIGINT")
	}
}

// failureLogLines is how much of a process's log a failed test shows.
const failureLogLines = 80

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// Output is what the process wrote so far (stderr, and stdout lines).
func (p *Proc) Output() string {
	var b strings.Builder
	b.WriteString(p.out.String())
	for _, f := range p.stdouts {
		out, _ := os.ReadFile(f)
		for _, l := range strings.SplitAfter(string(out), "\n") {
			if l != "" {
				b.WriteString("stdout: " + l)
			}
		}
	}
	return b.String()
}

// Resp is an HTTP answer.
type Resp struct {
	Status int
	Reason string
	Header http.Header
	Body   string
}

// Do sends an HTTP request; user/pass empty means no Authorization header.
func Do(t testing.TB, method, url, user, pass string, headers map[string]string, body []byte) Resp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	reason := strings.TrimSpace(strings.TrimPrefix(res.Status, strconv.Itoa(res.StatusCode)))
	return Resp{Status: res.StatusCode, Reason: reason, Header: res.Header, Body: string(b)}
}

// JSON decodes a response body into v.
func JSON(t testing.TB, r Resp, v any) {
	t.Helper()
	if err := jsonpkg.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", r.Status, r.Body, err)
	}
}

// Frame returns msg octet-counted.
func Frame(msg string) string { return strconv.Itoa(len(msg)) + " " + msg }

// Metric reads one counter from a Prometheus text page (0 when absent).
func Metric(t testing.TB, adminAddr, name string) float64 {
	t.Helper()
	r := Do(t, "GET", "http://"+adminAddr+"/metrics", "", "", nil, nil)
	for _, l := range strings.Split(r.Body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return 0
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// json decodes r's body into v and reports whether it could.
func json(r Resp, v any) bool { return jsonpkg.Unmarshal([]byte(r.Body), v) == nil }

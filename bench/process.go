package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/logplex/logplex/internal/readyz"
)

// Router is a logplex process the suite started (or a running cluster given
// with --target, then Cmd is nil and PID is --target-pid or 0).
type Router struct {
	API, Logs, Syslog, Admin string // host:port (Logs is the /logs URL)
	User, Pass               string // credential (full_api, any_channel)
	PID                      int
	Args, Env                []string // what it was started with (knobs)

	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var credLine = regexp.MustCompile(`credential \(full_api, any_channel\): ([0-9A-F]+):([0-9A-F]+)`)

// StartRouter starts `bin all` on free loopback ports with extra flags and
// environment, in dataDir, on the CPUs cpus lists ("": any; see cpus.go),
// and waits until it is ready (GET /readyz on its admin address answers
// 200). Its stderr goes to dataDir/router.log, its stdout (the banner, with
// the bootstrap credential) to dataDir/router.stdout.
func StartRouter(bin, cpus, dataDir string, extra, env []string) (*Router, error) {
	return startRouter(bin, cpus, dataDir, extra, env, 30*time.Second)
}

// startRouter is StartRouter with a longer wait for /readyz (a large config
// takes a while to load). A port another process took between FreeAddr and
// the router's bind ("address already in use") is not the router's failure:
// it starts again on other ports, up to three times.
func startRouter(bin, cpus, dataDir string, extra, env []string, readyWithin time.Duration) (*Router, error) {
	for try := 1; ; try++ {
		r, err := startRouterOnce(bin, cpus, dataDir, extra, env, readyWithin)
		if err == nil || try == 3 || !strings.Contains(string(readFile(filepath.Join(dataDir, "router.log"))), "address already in use") {
			return r, err
		}
	}
}

func startRouterOnce(bin, cpus, dataDir string, extra, env []string, readyWithin time.Duration) (*Router, error) {
	r := &Router{done: make(chan struct{})}
	addrs := make([]string, 5)
	for i := range addrs {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	r.API, r.Logs, r.Syslog, r.Admin = addrs[0], "http://"+addrs[2]+"/logs", addrs[3], addrs[4]
	r.Args = append([]string{"all", "--data-dir", filepath.Join(dataDir, "data"),
		"--api-addr", addrs[0], "--api-v3-addr", addrs[1], "--http-input-addr", addrs[2],
		"--syslog-addr", addrs[3], "--admin-addr", addrs[4], "--allow-private-drains"}, extra...)
	r.Env = env
	r.cmd = command(cpus, bin, r.Args...) // taskset execs bin: the same pid
	r.cmd.Env = append(cleanEnv(), env...)
	logf, err := os.Create(filepath.Join(dataDir, "router.log"))
	if err != nil {
		return nil, err
	}
	r.logf = logf
	r.cmd.Stderr = logf
	// a file, not a pipe: what the process printed before /readyz said ok
	// is in it when it is read
	stdout, err := os.Create(filepath.Join(dataDir, "router.stdout"))
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	r.cmd.Stdout = stdout
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	r.PID = r.cmd.Process.Pid
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	if err := readyz.Wait(r.Admin, r.done, readyWithin); err != nil {
		r.Stop()
		return nil, fmt.Errorf("logplex did not start: %w (see %s)", err, logf.Name())
	}
	if m := credLine.FindSubmatch(readFile(stdout.Name())); m != nil {
		r.User, r.Pass = string(m[1]), string(m[2])
	}
	return r, nil
}

func readFile(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}

// cleanEnv is the environment without LOGPLEX_* and Go runtime knobs, so
// only what a scenario sets applies.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LOGPLEX_") || k == "GOMAXPROCS" || k == "GOGC" || k == "GOMEMLIMIT" ||
			k == "GODEBUG" || k == "API_STATUS" || k == "LEGACY_API_STATUS" || strings.HasPrefix(k, "DENY_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Alive reports whether the process is still running.
func (r *Router) Alive() bool {
	if r.cmd == nil {
		return true
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGINT and waits (SIGKILL after 20 s).
func (r *Router) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	stopProcess(r.cmd, r.done, os.Interrupt, 20*time.Second)
	if r.logf != nil {
		r.logf.Close()
	}
}

// Redis is a redis-server the suite started for history (and config).
type Redis struct {
	Addr string
	PID  int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server on a free loopback port, without
// persistence, and waits until it answers PING.
func StartRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (make deps installs it): %w", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no")
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r := &Redis{Addr: addr, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if redisPing(addr) == nil {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	return nil, fmt.Errorf("redis-server on %s did not answer PING within 10 s", addr)
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Stop terminates redis-server and waits.
func (r *Redis) Stop() {
	stopProcess(r.cmd, r.done, syscall.SIGTERM, 10*time.Second)
}

// RelayProc is the relay baseline running as `bin bench relay`.
type RelayProc struct {
	Addr string
	PID  int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRelay starts the relay process forwarding to dest, on the CPUs cpus
// lists ("": any).
func StartRelay(bin, cpus, dest string) (*RelayProc, error) {
	cmd := command(cpus, bin, "bench", "relay", "--listen", "127.0.0.1:0", "--to", dest)
	cmd.Env = cleanEnv()
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &RelayProc{PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case line <- sc.Text():
			default:
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "relay listening on ")
		if !ok {
			p.Stop()
			return nil, fmt.Errorf("relay: unexpected output %q", l)
		}
		p.Addr = addr
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("relay exited at start (does %s have `bench relay`?)", bin)
	case <-time.After(10 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("relay did not start within 10 s")
	}
}

// Stop ends the relay and waits.
func (p *RelayProc) Stop() {
	stopProcess(p.cmd, p.done, os.Interrupt, 10*time.Second)
}

// stopProcess sends sig, waits for done (closed when cmd.Wait returned),
// and kills the process if it is still running after grace.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, sig os.Signal, grace time.Duration) {
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

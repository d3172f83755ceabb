// Package redistest starts real redis-server processes for tests: a single
// server on a free loopback port (Start), a Redis Cluster of several
// masters (StartCluster), or a redis-sentinel watching a master
// (StartSentinel). Servers keep nothing on disk (no snapshots,
// no append-only file), work in a temporary directory and are killed when the
// test ends. Do sends raw commands over a minimal RESP client of its own, so
// tests can write keys exactly as another tool (e.g. Logplex) would.
//
// Without redis-server on PATH the test is skipped, or fails when the
// environment variable CI is set (internal/testenv).
//
// redistest imports the standard library and internal/testenv only.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/testenv"
)

// Server is one redis-server process on 127.0.0.1.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	cluster bool
	extra   []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd exits
}

// Start runs a fresh redis-server on a free loopback port; extra arguments
// are appended to its command line. It is stopped at t.Cleanup.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startIn(t, t.TempDir(), false, extra)
}

func startIn(t testing.TB, dir string, cluster bool, extra []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: lookBin(t, "redis-server"), dir: dir, cluster: cluster, extra: extra}
	var err error
	for range 10 { // another process may take the port between pick and bind
		if s.port, err = freePort(cluster); err != nil {
			continue
		}
		if err = s.run(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redistest: could not start redis-server: %v", err)
	return nil
}

// lookBin finds a redis binary or skips (fails when CI is set) the test.
func lookBin(t testing.TB, name string) string {
	t.Helper()
	return testenv.Tool(t, "install it (Debian/Ubuntu: apt-get install redis-server redis-tools, or make deps)", name)
}

// freePort returns a loopback port that was free a moment ago; for cluster
// nodes port+10000 (the cluster bus) must be free too.
func freePort(cluster bool) (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	defer l.Close()
	if !cluster {
		return port, nil
	}
	if port+10000 > 65535 {
		return 0, errors.New("bus port out of range")
	}
	bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
	if err != nil {
		return 0, err
	}
	bus.Close()
	return port, nil
}

// run starts the process on s.port and waits until it answers PING.
func (s *Server) run() error {
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "redis-" + strconv.Itoa(s.port) + ".log"},
		s.extra...)
	if s.cluster { // one config file per node, named after its port
		args = append(args, "--cluster-enabled", "yes", "--cluster-node-timeout", "5000",
			"--cluster-config-file", "nodes-"+strconv.Itoa(s.port)+".conf")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	return s.await(cmd)
}

// await watches the started cmd and waits until it answers PING.
func (s *Server) await(cmd *exec.Cmd) error {
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	s.mu.Lock()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exit:
			return fmt.Errorf("redis-server on port %d exited at start (see %s)", s.port, s.logPath())
		default:
		}
		if v, err := s.Do("PING"); err == nil && v == "PONG" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on port %d did not answer PING within 10s", s.port)
}

func (s *Server) logPath() string {
	return s.dir + "/redis-" + strconv.Itoa(s.port) + ".log"
}

// Addr is "127.0.0.1:<port>".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is "redis://127.0.0.1:<port>".
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Stop kills the server (SIGKILL, like a crash) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exit
}

// Restart stops the server if it runs and starts it again, empty, on the
// same port. Call it from the goroutine of the test that started s.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port can be briefly unavailable
		if err = s.run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart on port %d: %v", s.port, err)
}

// Do sends one command on a new connection and returns the reply: string,
// int64, nil, []any, or an error for a Redis error reply.
func (s *Server) Do(args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return roundTrip(c, args)
}

// MustDo is Do that fails t on any error.
func (s *Server) MustDo(t testing.TB, args ...string) any {
	t.Helper()
	v, err := s.Do(args...)
	if err != nil {
		t.Fatalf("redistest: %s: %v", strings.Join(args, " "), err)
	}
	return v
}

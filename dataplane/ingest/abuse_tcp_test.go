package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
)

// startTCP runs a syslog listener with opts on loopback until the test ends.
// The returned channel is closed when Run returns; *runErr is its result.
func startTCP(t *testing.T, opts TCPOptions) (s *TCP, done <-chan struct{}, runErr *error) {
	t.Helper()
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
	}, false, "1-0")
	router := route.New(func() *config.Snapshot { return snap }, nil, nil)
	opts.Addr, opts.EventLoops = "127.0.0.1:0", 1
	s = NewTCP(opts, router, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	d := make(chan struct{})
	runErr = new(error)
	go func() { *runErr = s.Run(ctx); close(d) }()
	t.Cleanup(func() { cancel(); <-d })
	select {
	case <-s.Ready():
	case <-d:
		t.Fatalf("listener: %v", *runErr)
	case <-time.After(5 * time.Second):
		t.Fatal("tcp listener not ready")
	}
	return s, d, runErr
}

// closedByServer waits (at most 5 s) for the server to close c.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// A sender trickling an incomplete frame is cut off after FrameTimeout and
// the bytes it held are counted as discarded; an idle connection is closed
// after IdleTimeout.
func TestTCPFrameAndIdleTimeouts(t *testing.T) {
	s, _, _ := startTCP(t, TCPOptions{FrameTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour})
	frames, partial := tcpFrameTimeouts.Get(), tcpPartialBytes.Get()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("100 <134>1 2012")); err != nil {
		t.Fatal(err)
	}
	if !closedByServer(t, c) {
		t.Fatal("a connection holding an incomplete frame was not closed")
	}
	waitFor(t, "counters", func() bool { return tcpFrameTimeouts.Get() == frames+1 && tcpPartialBytes.Get() == partial+15 })

	s2, _, _ := startTCP(t, TCPOptions{IdleTimeout: 300 * time.Millisecond})
	idle := tcpIdleClosed.Get()
	c2, err := net.Dial("tcp", s2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !closedByServer(t, c2) {
		t.Fatal("an idle connection was not closed")
	}
	waitFor(t, "idle counter", func() bool { return tcpIdleClosed.Get() == idle+1 })
}

// By default (Logplex) an idle connection is kept: only the frame timeout
// applies.
func TestTCPIdleKeptByDefault(t *testing.T) {
	s, _, _ := startTCP(t, TCPOptions{})
	if s.opts.IdleTimeout != 0 || s.opts.FrameTimeout != 30*time.Second {
		t.Fatalf("defaults: idle %v frame %v", s.opts.IdleTimeout, s.opts.FrameTimeout)
	}
}

// The event engine stopping by itself is an error (the process must exit
// non-zero), not a clean end.
func TestTCPEngineStopIsAnError(t *testing.T) {
	s, done, runErr := startTCP(t, TCPOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.eng.Stop(ctx)
	select {
	case <-done:
		if *runErr == nil {
			t.Fatal("Run returned nil when the engine stopped by itself")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the engine stopped")
	}
}

// flakyListener fails Accept with err n times, then accepts for real.
type flakyListener struct {
	net.Listener
	n   int
	err error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.n > 0 {
		l.n--
		return nil, l.err
	}
	return l.Listener.Accept()
}

// An accept error (EMFILE) is retried with backoff and counted; only a
// closed listener ends Accept.
func TestRetryListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := metrics.NewSet().NewCounter("test_accept_errors_total")
	ln := newRetryListener(&flakyListener{Listener: inner, n: 3, err: &net.OpError{Op: "accept", Err: syscall.EMFILE}},
		"test", errs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	c.Close()
	if errs.Get() != 3 {
		t.Fatalf("accept errors counted %d, want 3", errs.Get())
	}
	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

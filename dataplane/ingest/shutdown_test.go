package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store/embedded"
)

// countUnread sees what gnet held and what the kernel still holds, and
// counts the complete frames across the two.
func TestCountUnread(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if err := syscall.SetNonblock(fds[1], true); err != nil {
		t.Fatal(err)
	}
	held := "5 hello3 a" // one frame and the start of a second
	kernel := "bc4 abcd9 partial"
	if _, err := syscall.Write(fds[0], []byte(kernel)); err != nil {
		t.Fatal(err)
	}
	bytes, frames := countUnread([]byte(held), fds[1])
	if bytes != len(held)+len(kernel) || frames != 3 {
		t.Fatalf("countUnread = %d bytes, %d frames; want %d, 3", bytes, frames, len(held)+len(kernel))
	}
	if b, f := countUnread(nil, fds[1]); b != 0 || f != 0 {
		t.Fatalf("the kernel buffer was not emptied: %d bytes, %d frames", b, f)
	}
}

// A connection that never goes quiet is closed at DrainTimeout; one opened
// during the shutdown is closed at once and counted.
func TestTCPShutdownBusyAndNewConnections(t *testing.T) {
	snap := config.Build(nil, false, "1-0")
	router := route.New(func() *config.Snapshot { return snap }, nil, nil)
	s := NewTCP(TCPOptions{Addr: "127.0.0.1:0", EventLoops: 1, DrainIdle: time.Hour, DrainTimeout: 300 * time.Millisecond},
		router, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	busy, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a trickle of half a frame, a byte every 2 ms: never quiet
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		_, _ = busy.Write([]byte("9999 "))
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := busy.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.open.Load() != 1 || tcpBytesRead.Get() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the busy connection was not served")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	for !s.draining.Load() {
		if time.Now().After(deadline) {
			t.Fatal("not draining")
		}
		time.Sleep(time.Millisecond)
	}
	late, err := net.Dial("tcp", s.Addr().String())
	if err == nil {
		_ = late.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := late.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection opened during the shutdown was served")
		}
		late.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return: the busy connection kept it draining past DrainTimeout")
	}
	d := s.Discarded()
	if d.Conns.Load() != 1 || d.Bytes.Load() < 5 || d.Frames.Load() != 0 {
		t.Fatalf("discarded: %d connections, %d bytes, %d frames; want 1, >= 5, 0", d.Conns.Load(), d.Bytes.Load(), d.Frames.Load())
	}
}

// Syslog over TLS: frames written after the shutdown began, on a
// connection open before, are read and routed; a partial frame left is
// counted as discarded.
func TestTLSShutdownReadsOpenConnections(t *testing.T) {
	certFile, keyFile, cert := writeCert(t, t.TempDir(), "c")
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
	}, false, "1-0")
	sp := embedded.NewSpool(1000, 0)
	router := route.New(func() *config.Snapshot { return snap }, sp, nil)
	s, err := NewTLS(TLSOptions{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, DrainIdle: 500 * time.Millisecond},
		router, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := c.Write([]byte(octet(msg(i)))); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	}
	write(0, 100)
	r := &rig{spool: sp}
	waitLen(t, r, "1", 100)
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for !s.draining.Load() {
		if time.Now().After(deadline) {
			t.Fatal("not draining")
		}
		time.Sleep(time.Millisecond)
	}
	write(100, 200)
	if _, err := c.Write([]byte("99 <134>1 partial")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if h := r.history(t, "1"); len(h) != 200 {
		t.Fatalf("history holds %d of 200 messages", len(h))
	}
	if b := s.Discarded().Bytes.Load(); b != int64(len("99 <134>1 partial")) {
		t.Fatalf("discarded %d bytes, want the partial frame's %d", b, len("99 <134>1 partial"))
	}
}

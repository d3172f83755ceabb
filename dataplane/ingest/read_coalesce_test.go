package ingest

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// fdConn is a gnet.Conn of which only Fd is used (setLowat, lowerQuiet).
type fdConn struct {
	gnet.Conn
	fd int
}

func (c fdConn) Fd() int { return c.fd }

// socketPair returns the accepted side's descriptor of a loopback TCP
// connection and the dialing side.
func socketPair(t *testing.T) (int, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	f, err := a.(*net.TCPConn).File() // a duplicate descriptor, closed with f
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return int(f.Fd()), c
}

func lowat(t *testing.T, fd int) int {
	t.Helper()
	v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReadCoalesceMeasures, on a coarse clock the test gives: a connection
// gets a mark of what it sends per window, measured over coalesceWindows
// windows; one that sends less than minLowat a window keeps 1; a change
// within a factor of two makes no syscall; OnTick's lowerQuiet lowers the
// mark of a connection unread for two windows and of no other.
func TestReadCoalesceMeasures(t *testing.T) {
	const w = int64(2 * time.Millisecond)
	s := NewTCP(TCPOptions{ReadCoalesce: time.Duration(w)}, nil, nil)
	fd, _ := socketPair(t)
	st := &tcpConn{c: fdConn{fd: fd}}
	s.conns[st] = struct{}{}
	now := time.Now().Add(time.Hour).UnixNano() // ahead of the lowering timer's clock: only the test lowers
	read := func(bytesPerWindow int) {
		for range coalesceWindows {
			s.observe(st, bytesPerWindow, 0, now)
			now += w
		}
		s.observe(st, 0, 0, now) // the span is complete
	}
	base := coalescingConns.Load() // the counter is the process's
	coalescing := func() int64 { return coalescingConns.Load() - base }
	read(100) // starts the span
	read(3000)
	if got := lowat(t, fd); got != 3000 || coalescing() != 1 {
		t.Fatalf("3000 bytes a window: mark %d (%d coalescing), want 3000", got, coalescing())
	}
	changes := lowatChanges.Get()
	read(4000) // within 2x: left alone
	if got := lowat(t, fd); got != 3000 || lowatChanges.Get() != changes {
		t.Fatalf("4000 bytes a window: mark %d after %d changes, want 3000 and none", got, lowatChanges.Get()-changes)
	}
	read(100 << 10) // bounded by maxLowat
	if got := lowat(t, fd); got != maxLowat {
		t.Fatalf("100 KiB a window: mark %d, want %d", got, maxLowat)
	}
	st.readAt.Store(now)
	s.lowerQuiet(now + w) // read a window ago: still coalescing
	if got := lowat(t, fd); got != maxLowat {
		t.Fatalf("read one window ago: mark %d, want it kept", got)
	}
	s.lowerQuiet(now + 2*w)
	if got := lowat(t, fd); got != 1 || coalescing() != 0 {
		t.Fatalf("unread for two windows: mark %d (%d coalescing), want 1", got, coalescing())
	}
	read(3000)
	read(minLowat / 2) // sends little: the kernel's default again
	if got := lowat(t, fd); got != 1 || coalescing() != 0 {
		t.Fatalf("%d bytes a window: mark %d (%d coalescing), want 1", minLowat/2, got, coalescing())
	}
}

// TestReadCoalesceQuietIsRead: a connection whose mark is above what it
// sends last still has those bytes routed: the lowering timer lowers the
// mark once the connection is quiet, which wakes its event loop; with no
// mark left raised the timer stops.
func TestReadCoalesceQuietIsRead(t *testing.T) {
	r := newRigTCP(t, TCPOptions{ReadCoalesce: 5 * time.Millisecond})
	c := r.dialSyslog(t)
	if _, err := c.Write([]byte(octet(msg(0)))); err != nil {
		t.Fatal(err)
	}
	waitLen(t, r, "1", 1)
	r.tcp.connsMu.Lock()
	var st *tcpConn
	for st = range r.tcp.conns {
	}
	r.tcp.connsMu.Unlock()
	quiet := lowatQuietLowered.Get()
	r.tcp.setLowat(st, 8192) // as if it had sent 8 KiB a window
	if _, err := c.Write([]byte(octet(msg(1)))); err != nil {
		t.Fatal(err)
	}
	if h := waitLen(t, r, "1", 2); !strings.HasSuffix(h[1], "message 1") {
		t.Fatalf("history %q", h)
	}
	if lowatQuietLowered.Get() == quiet || coalescingConns.Load() != 0 {
		t.Fatalf("read without the quiet connection's mark lowered (%d coalescing)", coalescingConns.Load())
	}
	// no mark raised: the lowering timer stops (an idle listener wakes for nothing)
	waitFor(t, "the lowering timer stopped with no mark raised", func() bool {
		r.tcp.connsMu.Lock()
		defer r.tcp.connsMu.Unlock()
		return !r.tcp.lowerArmed
	})
}

// TestReadCoalesceStream: a connection that writes a steady stream of
// small frames gets its mark raised (fewer, fuller reads), and every frame
// is routed, the last ones too.
func TestReadCoalesceStream(t *testing.T) {
	r := newRigTCP(t, TCPOptions{ReadCoalesce: 10 * time.Millisecond})
	c := r.dialSyslog(t)
	changes, reads := lowatChanges.Get(), tcpReads.Get()
	pad := strings.Repeat("x", 300)
	const frames = 400
	raised := false
	for i := range frames {
		if _, err := c.Write([]byte(octet(msg(i) + pad))); err != nil {
			t.Fatal(err)
		}
		raised = raised || coalescingConns.Load() > 0
		time.Sleep(500 * time.Microsecond) // the sender's pace (about 800 bytes a millisecond), not synchronisation
	}
	last := "message " + strconv.Itoa(frames-1) + pad
	waitFor(t, "the last frame routed", func() bool {
		h := r.history(t, "1")
		return len(h) > 0 && strings.HasSuffix(h[len(h)-1], last)
	})
	if !raised || lowatChanges.Get() == changes {
		t.Fatalf("a steady stream of %d frames never had its mark raised (%d reads)", frames, tcpReads.Get()-reads)
	}
	t.Logf("%d frames in %d reads", frames, tcpReads.Get()-reads)
}

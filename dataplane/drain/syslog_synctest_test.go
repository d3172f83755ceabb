package drain

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logplex/logplex/ringbuf"
)

// pipeWrite is what the endpoint side of a net.Pipe read, and when (on the
// bubble's clock).
type pipeWrite struct {
	at   time.Time
	data string
}

// startSLPipe runs a syslog sender inside the current synctest bubble,
// connected to an in-memory endpoint whose reads arrive on the returned
// channel.
func startSLPipe(t *testing.T, o Options) (*slRun, <-chan pipeWrite) {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() }) // after the sender has stopped (cleanups run last-in first-out)
	o.Logger = slog.New(slog.DiscardHandler)
	r := newSLDrain(t, o, "syslog://logs.example.com:601/", time.Second)
	r.s.dialContext = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	writes := make(chan pipeWrite, 64)
	go func() {
		defer close(writes)
		buf := make([]byte, 1<<20)
		for {
			n, err := server.Read(buf)
			if err != nil {
				return
			}
			writes <- pipeWrite{time.Now(), string(buf[:n])}
		}
	}()
	r.start()
	return r, writes
}

// readFrames collects endpoint reads until want frames arrived and returns
// the time of the read that completed them.
func readFrames(t *testing.T, writes <-chan pipeWrite, want int) time.Time {
	t.Helper()
	got := 0
	for w := range writes {
		got += strings.Count(w.data, " <134>1 ")
		if got >= want {
			return w.at
		}
	}
	t.Fatalf("endpoint closed after %d frames, want %d", got, want)
	return time.Time{}
}

// TestSyslogBatchAgeClock: under testing/synctest's clock, with
// TCPBatchAge a syslog drain writes at once after an idle spell, then holds
// what arrives for exactly the age after that write; with the target bytes
// buffered it writes without waiting. Exact times, no wall-clock window.
func TestSyslogBatchAgeClock(t *testing.T) {
	const age = 2 * time.Second
	synctest.Test(t, func(t *testing.T) {
		r, writes := startSLPipe(t, Options{TCPBatchAge: age, TCPTargetBytes: 1 << 20})
		start := time.Now()
		r.push(slMsg(0))
		if at := readFrames(t, writes, 1); !at.Equal(start) {
			t.Fatalf("first write %v after the push, want at once", at.Sub(start))
		}
		r.push(slMsg(1), slMsg(2), slMsg(3))
		if at := readFrames(t, writes, 3); at.Sub(start) != age {
			t.Fatalf("second write %v after the first, want exactly the age %v", at.Sub(start), age)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		one := len(slFrame(0))
		r, writes := startSLPipe(t, Options{TCPBatchAge: time.Hour, TCPTargetBytes: 2 * one})
		start := time.Now()
		r.push(slMsg(0))
		readFrames(t, writes, 1)
		for i := 1; i <= 10; i++ { // more than the target bytes
			r.push(slMsg(i))
		}
		if at := readFrames(t, writes, 2); !at.Equal(start) {
			t.Fatalf("with the target bytes buffered the write waited %v, want none", at.Sub(start))
		}
	})
}

// pipeEndpoint is an in-memory syslog endpoint for a sender in a synctest
// bubble: each dial is a new net.Pipe, refused while the endpoint is down.
// Times are the bubble's clock.
type pipeEndpoint struct {
	mu      sync.Mutex
	down    bool
	conns   []net.Conn // server ends
	accepts []time.Time
	data    strings.Builder
}

func (e *pipeEndpoint) dial(context.Context, string, string) (net.Conn, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		return nil, errors.New("connection refused")
	}
	client, server := net.Pipe()
	e.conns = append(e.conns, server)
	e.accepts = append(e.accepts, time.Now())
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.data.Write(buf[:n])
			e.mu.Unlock()
		}
	}()
	return client, nil
}

// stop closes every connection and refuses new ones; start accepts again.
func (e *pipeEndpoint) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = true
	for _, c := range e.conns {
		c.Close()
	}
	e.conns = nil
}

func (e *pipeEndpoint) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = false
}

func (e *pipeEndpoint) frames() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Count(e.data.String(), " <134>1 ")
}

func (e *pipeEndpoint) lastAccept() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepts[len(e.accepts)-1]
}

// startSLEndpoint runs a syslog sender in the current bubble against e.
func startSLEndpoint(t *testing.T, o Options, e *pipeEndpoint, base time.Duration) *slRun {
	t.Helper()
	t.Cleanup(e.stop) // after the sender has stopped (cleanups run last-in first-out)
	o.Logger = slog.New(slog.DiscardHandler)
	r := newSLDrain(t, o, "syslog://logs.example.com:601/", base)
	r.s.dialContext = e.dial
	r.start()
	return r
}

// docs/logplex.md §10 case 83 on a 50 ms unit, on synctest's clock: the endpoint goes
// away after a delivered message and comes back after 1.5, 3.5 and 7.5
// units; a message posted meanwhile arrives at exactly the 2-, 6- and
// 14-unit reconnects (2^F units after each failure, F counting the refused
// dials).
func TestSyslogBackoffClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const u = 50 * time.Millisecond
		e := &pipeEndpoint{}
		r := startSLEndpoint(t, Options{TCPBackoffMax: time.Hour}, e, u)
		r.push(slMsg(0))
		synctest.Wait()
		if e.frames() != 1 {
			t.Fatalf("%d frames, want 1", e.frames())
		}
		downs := []float64{1.5, 3.5, 7.5}
		expect := []time.Duration{2 * u, 6 * u, 14 * u}
		for k, down := range downs {
			t0 := time.Now()
			e.stop()
			synctest.Wait() // the sender has seen the close
			r.push(slMsg(k + 1))
			time.Sleep(time.Duration(down * float64(u))) // the scenario: downtime, on the bubble's clock
			e.start()
			time.Sleep(expect[k]) // long past the expected reconnect
			synctest.Wait()
			if e.frames() != k+2 {
				t.Fatalf("round %d: %d frames, want %d", k, e.frames(), k+2)
			}
			if w := e.lastAccept().Sub(t0); w != expect[k] {
				t.Errorf("round %d: reconnected %v after the close, want exactly %v", k, w, expect[k])
			}
		}
	})
}

// frameList cuts what the endpoint read into octet-counted frames
// ("<len> <msg>"), as slEndpoint.Frames returns them.
func (e *pipeEndpoint) frameList(t *testing.T) []string {
	t.Helper()
	e.mu.Lock()
	s := e.data.String()
	e.mu.Unlock()
	var out []string
	for s != "" {
		ls, _, ok := strings.Cut(s, " ")
		n, err := strconv.Atoi(ls)
		if !ok || err != nil || len(ls)+1+n > len(s) {
			t.Fatalf("endpoint read a broken frame at %q", s[:min(len(s), 40)])
		}
		out, s = append(out, s[:len(ls)+1+n]), s[len(ls)+1+n:]
	}
	return out
}

// docs/logplex.md §10 case 84, on synctest's clock: size 100, shrink after 1 failure,
// 200 messages while the endpoint is down → on reconnect the endpoint gets
// the L10 line, then exactly the 10 newest messages, and nothing more
// (synctest.Wait: the sender is idle, not merely slow).
func TestSyslogShrinkClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &pipeEndpoint{down: true}
		r := startSLEndpoint(t, Options{TCPBufferSize: 100, TCPShrinkAfter: 1, TCPBackoffMax: time.Hour}, e, 20*time.Millisecond)
		for i := range 200 {
			r.push(slMsg(i))
		}
		capacity := func() (c int) {
			r.d.Buf.With(func(rg *ringbuf.Ring) { c = rg.Cap() })
			return c
		}
		for i := 0; capacity() != syslogShrunkSize; i++ { // refused dials until F > 1
			if i == 100 {
				t.Fatalf("buffer of %d after 100 backoff units, want shrunk to %d", capacity(), syslogShrunkSize)
			}
			time.Sleep(20 * time.Millisecond)
			synctest.Wait()
		}
		e.start()
		time.Sleep(time.Minute) // past any backoff reached here
		synctest.Wait()
		got := e.frameList(t)
		if len(got) != 11 {
			t.Fatalf("got %d frames, want 11", len(got))
		}
		if !strings.Contains(got[0], "Error L10 ") || !strings.Contains(got[0], ": 190 messages dropped since ") {
			t.Errorf("first frame = %q, want an L10 for 190 messages", got[0])
		}
		for i, f := range got[1:] {
			if f != slFrame(190+i) {
				t.Errorf("frame %d = %q, want %q", i+1, f, slFrame(190+i))
			}
		}
		if c := capacity(); c != 100 {
			t.Errorf("buffer size after reconnect = %d, want 100", c)
		}
	})
}

package drain

// Test fixtures for syslog drains: a TCP/TLS endpoint that reads
// octet-counted frames and records connections, and a helper that runs one
// syslog sender.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

const slToken = "d.fc6b856b-3332-4546-93de-7d0ee272c3bd"

// slEndpoint is a syslog endpoint on 127.0.0.1 that can stop and start
// again on the same port.
type slEndpoint struct {
	t      *testing.T
	tlsCfg *tls.Config
	delay  time.Duration // pause after each frame (a slow reader)
	hold   atomic.Bool   // accept but do not read
	gone   atomic.Bool   // stopped: held connections give up

	mu       sync.Mutex
	addr     string
	ln       net.Listener
	conns    map[net.Conn]bool
	frames   []string
	accepts  []time.Time
	closes   []time.Time
	accepted atomic.Int64
	wg       sync.WaitGroup
}

func newSLEndpoint(t *testing.T, tlsCfg *tls.Config) *slEndpoint {
	e := &slEndpoint{t: t, tlsCfg: tlsCfg, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start listens on the endpoint's address (the same port after a stop).
func (e *slEndpoint) start() {
	e.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", e.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the port may still be held briefly
	}
	if err != nil {
		e.t.Fatalf("endpoint listen %s: %v", e.addr, err)
	}
	e.mu.Lock()
	e.ln, e.addr = ln, ln.Addr().String()
	e.mu.Unlock()
	e.wg.Add(1)
	go e.accept(ln)
}

// stop closes the listener and every connection, and waits for them.
func (e *slEndpoint) stop() {
	e.gone.Store(true)
	defer e.gone.Store(false)
	e.mu.Lock()
	if e.ln != nil {
		e.ln.Close()
		e.ln = nil
	}
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *slEndpoint) accept(ln net.Listener) {
	defer e.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		e.accepted.Add(1)
		e.mu.Lock()
		if e.ln != ln { // stopped meanwhile
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = true
		e.accepts = append(e.accepts, time.Now())
		e.mu.Unlock()
		e.wg.Add(1)
		go e.read(c)
	}
}

func (e *slEndpoint) read(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		c.Close()
		e.mu.Lock()
		delete(e.conns, c)
		e.closes = append(e.closes, time.Now())
		e.mu.Unlock()
	}()
	var r io.Reader = c
	if e.tlsCfg != nil {
		r = tls.Server(c, e.tlsCfg)
	}
	if tc, ok := c.(*net.TCPConn); ok && e.hold.Load() {
		tc.SetReadBuffer(4096) // fill up sooner
	}
	for e.hold.Load() {
		if e.gone.Load() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	br := bufio.NewReader(r)
	for {
		f, err := slReadFrame(br)
		if err != nil {
			return
		}
		e.mu.Lock()
		e.frames = append(e.frames, f)
		e.mu.Unlock()
		if e.delay > 0 {
			time.Sleep(e.delay)
		}
	}
}

// slReadFrame reads "<len> SP <msg>" and returns it whole.
func slReadFrame(br *bufio.Reader) (string, error) {
	head, err := br.ReadString(' ')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(head[:len(head)-1])
	if err != nil || n < 0 || n > 1<<20 {
		return "", fmt.Errorf("bad frame length %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	return head + string(body), nil
}

func (e *slEndpoint) Frames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.frames...)
}

func (e *slEndpoint) Accepts() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Time(nil), e.accepts...)
}

func (e *slEndpoint) Closes() []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Time(nil), e.closes...)
}

func (e *slEndpoint) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

var slL10Re = regexp.MustCompile(`Error L10 \(output buffer overflow\): (\d+) messages dropped since`)

// slCount returns the messages among frames and the losses their L10
// notices report.
func slCount(frames []string) (msgs, reported int) {
	for _, f := range frames {
		if m := slL10Re.FindStringSubmatch(f); m != nil {
			n, _ := strconv.Atoi(m[1])
			reported += n
		} else {
			msgs++
		}
	}
	return msgs, reported
}

// slMsg is a cooked message as the router hands it to drains.
func slMsg(i int) []byte {
	return fmt.Appendf(nil, "<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - message %05d", i)
}

// slFrame is slMsg(i) as a syslog drain frames it.
func slFrame(i int) string {
	m := fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z %s app console.1 - - message %05d\n", slToken, i)
	return strconv.Itoa(len(m)) + " " + m
}

// slRun is one syslog sender under test.
type slRun struct {
	s     *syslogSender
	d     *Drain
	stop  func(grace time.Duration)
	start func()
}

// newSLDrain builds a sender for url with o (defaults filled) and a backoff
// unit of base; the caller may adjust s, then calls start (or startSL does).
func newSLDrain(t testing.TB, o Options, url string, base time.Duration) *slRun {
	t.Helper()
	o.AllowPrivateDrains = true // every test endpoint is on loopback
	o.setDefaults()
	u, err := config.ParseDrainURL(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	d := &Drain{Config: &config.Drain{ID: 900000 + slNextID.Add(1), ChannelID: "app-ch", Token: slToken, URL: url}, URL: u}
	snd, err := newSyslogSender(&o, d)
	if err != nil {
		t.Fatalf("newSyslogSender: %v", err)
	}
	s := snd.(*syslogSender)
	s.base = base
	var once, startOnce sync.Once
	r := &slRun{s: s, d: d}
	d.made = func(n sender) { // a sender let go is made again: with this one's test hooks
		ns := n.(*syslogSender)
		ns.base, ns.dialContext, ns.clock = s.base, s.dialContext, s.clock
	}
	r.start = func() { startOnce.Do(func() { d.begin(s) }) }
	r.stop = func(grace time.Duration) {
		once.Do(func() {
			r.start()
			d.stop(grace)
		})
	}
	t.Cleanup(func() { r.stop(time.Second) })
	return r
}

var slNextID atomic.Int64

func startSL(t testing.TB, o Options, url string, base time.Duration) *slRun {
	r := newSLDrain(t, o, url, base)
	r.start()
	return r
}

func (r *slRun) push(msgs ...[]byte) {
	for _, m := range msgs {
		r.d.Buf.Push(m, time.Now().UnixNano())
	}
}

// waitFor polls cond until it holds or timeout passes.
func slWaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func slURL(scheme string, e *slEndpoint) string { return scheme + "://" + e.Addr() + "/" }

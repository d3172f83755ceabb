package drain

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

// specInput is the cooked message of docs/logplex.md §5.7.
const specInput = "<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - Logsplat test message 1"

// docs/logplex.md §5.7, byte for byte.
const (
	specSyslogFrame = "116 <134>1 2012-12-10T03:00:48.123456Z d.fc6b856b-3332-4546-93de-7d0ee272c3bd app console.1 - - Logsplat test message 1\n"
	specL10Frame    = "179 <172>1 2013-01-01T00:00:10+00:00 d.fc6b856b-3332-4546-93de-7d0ee272c3bd heroku logplex - - Error L10 (output buffer overflow): 3 messages dropped since 2013-01-01T00:00:05+00:00.\n"
)

func framed(m string) string { return strconv.Itoa(len(m)) + " " + m }

// docs/logplex.md §10 case 79 (TCP), with the L10 example of §5.7: a buffer of one
// that lost 3 messages at :05 writes the L10 frame, then the message.
func TestSyslogFramingGolden(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := newSLDrain(t, Options{TCPBufferSize: 1}, slURL("syslog", e), time.Second)
	r.s.clock = func() time.Time { return time.Date(2013, 1, 1, 0, 0, 10, 0, time.UTC) }
	t5 := time.Date(2013, 1, 1, 0, 0, 5, 0, time.UTC).UnixNano()
	for i := range 3 {
		r.d.Buf.Push(slMsg(i), t5)
	}
	r.d.Buf.Push([]byte(specInput), t5)
	r.start()
	slWaitFor(t, 5*time.Second, "2 frames", func() bool { return len(e.Frames()) >= 2 })
	got := e.Frames()
	if got[0] != specL10Frame {
		t.Errorf("L10 frame\n got %q\nwant %q", got[0], specL10Frame)
	}
	if got[1] != specSyslogFrame {
		t.Errorf("message frame\n got %q\nwant %q", got[1], specSyslogFrame)
	}
}

// Content ending in LF gets no second LF, empty content becomes LF, and a
// message the drain parser rejects (no STRUCTURED-DATA) is not delivered
// but counted as dropped.
func TestSyslogFramingCases(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{}, slURL("syslog", e), time.Second)
	r.push(
		[]byte("<13>1 2012-12-10T03:00:48Z host app web.2 - - line\n"),
		[]byte("<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - Logsplat no SD"),
		[]byte("<1013>1 2012-12-10T03:00:48Z host app web.3 - [a b=\"c\"] "),
		[]byte(specInput),
	)
	want := []string{
		framed("<13>1 2012-12-10T03:00:48Z " + slToken + " app web.2 - - line\n"),
		framed("<245>1 2012-12-10T03:00:48Z " + slToken + " app web.3 - - \n"), // PRI wraps at 8 bits (docs/logplex.md §3.2)
		specSyslogFrame,
	}
	slWaitFor(t, 5*time.Second, "3 frames", func() bool { return len(e.Frames()) >= 3 })
	if got := e.Frames(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames\n got %q\nwant %q", got, want)
	}
	slWaitFor(t, time.Second, "stats", func() bool { return r.d.Stats.Delivered.Get() == 3 })
	if d := r.d.Stats.Dropped.Get(); d != 1 {
		t.Errorf("dropped = %d, want 1 (the unparseable message)", d)
	}
}

// Batches stop before the message that would use up the target; a message
// that alone reaches the target goes out anyway (docs/logplex.md §5.3).
func TestSyslogBatchTarget(t *testing.T) {
	one := len(slFrame(0))
	r := newSLDrain(t, Options{TCPTargetBytes: 2*one + 1}, "syslog://127.0.0.1:9/", time.Second)
	for i := range 5 {
		r.push(slMsg(i))
	}
	huge := fmt.Appendf(nil, "<134>1 2012-12-10T03:00:48Z h app web.1 - - %s", strings.Repeat("x", 3*one))
	r.push(huge, slMsg(5))
	var sizes []int
	for r.s.buildBatch() {
		sizes = append(sizes, r.s.msgs)
	}
	// 2*one+1: the first leaves 1+one (>0), the second leaves 1 (>0), a
	// third would leave 1-one: batches of 2. The huge one does not fit
	// after msg 4 but is taken anyway and ends that batch; then msg 5.
	if want := []int{2, 2, 2, 1}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("messages per batch = %v, want %v", sizes, want)
	}
}

// docs/logplex.md §10 case 80: a drain deleted while its endpoint reads slowly still
// delivers everything it holds (flushed to the socket, then closed).
func TestSyslogFlushOnDelete(t *testing.T) {
	e := newSLEndpoint(t, nil)
	e.delay = 100 * time.Millisecond
	m := NewManager(Options{StopGrace: 3 * time.Second, AllowPrivateDrains: true})
	t.Cleanup(func() { m.Close(t.Context()) })
	ch := config.ChannelHash("app", "")
	d := &config.Drain{ID: 7, ChannelID: "c1", Token: slToken, URL: slURL("syslog", e)}
	m.Update(config.Build(map[string]config.Hash{config.ChannelKey("c1"): ch, config.DrainKey(7): config.DrainHash(d)}, false, "1"))
	ds := m.ForChannel("c1")
	if len(ds) != 1 {
		t.Fatalf("running drains = %d, want 1", len(ds))
	}
	for i := range 10 {
		ds[0].Buf.Push(slMsg(i), time.Now().UnixNano())
	}
	start := time.Now()
	m.Update(config.Build(map[string]config.Hash{config.ChannelKey("c1"): ch}, false, "2"))
	if n := len(e.Frames()); n == 10 {
		t.Fatalf("endpoint read all 10 before the drain stopped; the test needs a slow reader")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("stop took %v; the flush should only hand the buffer to the socket", el)
	}
	slWaitFor(t, 5*time.Second, "10 frames", func() bool { return len(e.Frames()) == 10 })
	for i, f := range e.Frames() {
		if f != slFrame(i) {
			t.Errorf("frame %d = %q, want %q", i, f, slFrame(i))
		}
	}
	if got := ds[0].Stats.Delivered.Get(); got != 10 {
		t.Errorf("delivered = %d, want 10", got)
	}
}

// A drain stopped while disconnected (in backoff) connects once to flush.
func TestSyslogShutdownConnectsOnce(t *testing.T) {
	e := newSLEndpoint(t, nil)
	e.stop()
	r := startSL(t, Options{}, slURL("syslog", e), time.Hour)
	r.push(slMsg(0), slMsg(1), slMsg(2))
	slWaitFor(t, 5*time.Second, "a failed connect", func() bool { return r.d.Stats.LastError() != "" })
	e.start()
	r.stop(3 * time.Second)
	slWaitFor(t, 5*time.Second, "3 frames", func() bool { return len(e.Frames()) == 3 })
	if d, x := r.d.Stats.Delivered.Get(), r.d.Stats.Dropped.Get(); d != 3 || x != 0 {
		t.Errorf("delivered, dropped = %d, %d; want 3, 0", d, x)
	}
}

// A drain stopped with an unreachable endpoint counts its buffer as dropped.
func TestSyslogShutdownUnreachable(t *testing.T) {
	e := newSLEndpoint(t, nil)
	e.stop()
	r := startSL(t, Options{}, slURL("syslog", e), time.Hour)
	r.push(slMsg(0), slMsg(1), slMsg(2))
	slWaitFor(t, 5*time.Second, "a failed connect", func() bool { return r.d.Stats.LastError() != "" })
	r.stop(time.Second)
	if d, x := r.d.Stats.Delivered.Get(), r.d.Stats.Dropped.Get(); d != 0 || x != 3 {
		t.Errorf("delivered, dropped = %d, %d; want 0, 3", d, x)
	}
}

// docs/logplex.md §10 case 81: after one message and TCPIdleTimeout of silence the
// endpoint sees the connection closed.
func TestSyslogIdleClose(t *testing.T) {
	const idle = 200 * time.Millisecond
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPIdleTimeout: idle, TCPIdleFuzz: 1}, slURL("syslog", e), time.Second)
	r.push(slMsg(0))
	slWaitFor(t, 5*time.Second, "the connection closed", func() bool { return len(e.Closes()) == 1 })
	open := e.Closes()[0].Sub(e.Accepts()[0])
	if open < idle || open > idle+time.Second { // room for a busy machine; without it: never closed
		t.Errorf("connection closed after %v, want about %v", open, idle)
	}
	if f := e.Frames(); len(f) != 1 || f[0] != slFrame(0) {
		t.Errorf("frames = %q", f)
	}
}

// After an idle close the next message reconnects immediately when the last
// write is older than TCPReconnectMin.
func TestSyslogReconnectAfterIdle(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPIdleTimeout: 100 * time.Millisecond, TCPIdleFuzz: 1, TCPReconnectMin: 50 * time.Millisecond},
		slURL("syslog", e), time.Hour)
	r.push(slMsg(0))
	slWaitFor(t, 5*time.Second, "idle close", func() bool { return len(e.Closes()) == 1 })
	start := time.Now()
	r.push(slMsg(1))
	slWaitFor(t, 5*time.Second, "second frame", func() bool { return len(e.Frames()) == 2 })
	if el := time.Since(start); el > 2*time.Second { // a backoff would be an hour (base)
		t.Errorf("reconnect took %v, want immediate", el)
	}
}

// docs/logplex.md §10 case 82: with a message every 100 ms and a max TTL of 500 ms the
// connection is closed 0.5–0.75 s after it opened, and the drain reconnects
// for the next message: TCPReconnectMin (30 s by default, set here) is not
// waited after a TTL close.
func TestSyslogMaxTTL(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPMaxTTL: 500 * time.Millisecond, TCPReconnectMin: 30 * time.Second},
		slURL("syslog", e), time.Hour)
	const n = 13
	for i := range n {
		r.push(slMsg(i))
		time.Sleep(100 * time.Millisecond) // the scenario: one message every 100 ms
	}
	slWaitFor(t, 5*time.Second, "all frames", func() bool { return len(e.Frames()) == n })
	acc, cl := e.Accepts(), e.Closes()
	if len(acc) < 2 || len(cl) < 1 {
		t.Fatalf("accepts %d, closes %d; want a reconnect after a TTL close", len(acc), len(cl))
	}
	// Closed at the first write after the TTL: 0.5–0.6 s on a quiet machine.
	// The upper bound leaves room for a busy one; without the TTL the
	// connection would stay open the whole 1.3 s run.
	if age := cl[0].Sub(acc[0]); age < 500*time.Millisecond || age > 1100*time.Millisecond {
		t.Errorf("first connection closed after %v, want 0.5–1.1 s", age)
	}
	for i, f := range e.Frames() {
		if f != slFrame(i) {
			t.Errorf("frame %d = %q, want %q", i, f, slFrame(i))
		}
	}
}

func TestSyslogBackoffCapped(t *testing.T) {
	s := &syslogSender{o: &Options{TCPBackoffMax: 300 * time.Second}, base: time.Second}
	want := []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for f, w := range want {
		s.failures = f
		if got := s.backoff(); got != time.Duration(w)*time.Second {
			t.Errorf("F=%d: backoff %v, want %ds", f, got, w)
		}
	}
	s.failures = 1000
	if got := s.backoff(); got != 300*time.Second {
		t.Errorf("F=1000: backoff %v, want 300s", got)
	}
}

// docs/logplex.md §10 case 83 (backoff): TestSyslogBackoffClock, on synctest's clock.

// docs/logplex.md §10 case 84 (shrink): TestSyslogShrinkClock, on synctest's clock.

// Every message pushed is either received by the endpoint or reported by an
// L10, across an endpoint that goes away and comes back on the same port.
func TestSyslogAccountingAcrossRestart(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPBufferSize: 20, TCPShrinkAfter: 2, TCPBackoffMax: time.Hour}, slURL("syslog", e), 10*time.Millisecond)
	sent := 0
	for ; sent < 15; sent++ {
		r.push(slMsg(sent))
	}
	slWaitFor(t, 5*time.Second, "15 frames", func() bool { return len(e.Frames()) == 15 })
	e.stop()
	slWaitFor(t, 5*time.Second, "the drain to see the close", func() bool { return r.s.failTotal.Load() > 0 })
	for ; sent < 80; sent++ {
		r.push(slMsg(sent))
	}
	time.Sleep(100 * time.Millisecond) // let reconnects fail (and maybe shrink)
	e.start()
	slWaitFor(t, 5*time.Second, "everything accounted for", func() bool {
		m, l := slCount(e.Frames())
		return m+l >= sent
	})
	time.Sleep(50 * time.Millisecond)
	m, l := slCount(e.Frames())
	if m+l != sent {
		t.Errorf("received %d + reported dropped %d = %d, want %d", m, l, m+l, sent)
	}
	del, drop := int(r.d.Stats.Delivered.Get()), int(r.d.Stats.Dropped.Get())
	if del != m || drop != l {
		t.Errorf("stats delivered %d dropped %d, endpoint saw %d and L10 %d", del, drop, m, l)
	}
	if l == 0 {
		t.Errorf("expected losses while the endpoint was down")
	}
}

// A write that times out (the endpoint stops reading) is a failure: its
// messages are counted as dropped and the next connection's L10 reports
// exactly them, so delivered + dropped = sent.
func TestSyslogWriteTimeoutAccounting(t *testing.T) {
	e := newSLEndpoint(t, nil)
	e.hold.Store(true)
	const limit = 200000
	r := startSL(t, Options{TCPBufferSize: limit, TCPSendTimeout: 300 * time.Millisecond, TCPBackoffMax: time.Hour},
		slURL("syslog", e), 100*time.Millisecond)
	timedOut := func() bool { return strings.Contains(r.d.Stats.LastError(), "timeout") }
	sent := 0
	for ; sent < limit && !timedOut(); sent++ { // until the socket buffers are full
		r.push(slMsg(sent))
		if sent%10000 == 9999 {
			slWaitFor(t, 5*time.Second, "the drain to catch up", func() bool { return r.s.held() < 5000 || timedOut() })
		}
	}
	slWaitFor(t, 5*time.Second, "a write timeout", timedOut)
	t.Logf("write timed out after %d messages delivered to a reader that does not read", r.d.Stats.Delivered.Get())
	e.stop() // drop what the held connection buffered
	e.hold.Store(false)
	e.start()
	slWaitFor(t, 20*time.Second, "the rest", func() bool {
		return r.s.held() == 0 && int(r.d.Stats.Delivered.Get()+r.d.Stats.Dropped.Get()) >= sent
	})
	dropped := int(r.d.Stats.Dropped.Get())
	if got := int(r.d.Stats.Delivered.Get()) + dropped; got != sent {
		t.Errorf("delivered + dropped = %d, want %d", got, sent)
	}
	if dropped == 0 {
		t.Errorf("no messages counted as dropped after a write timeout")
	}
	slWaitFor(t, 5*time.Second, "an L10 for the dropped messages", func() bool { _, l := slCount(e.Frames()); return l >= dropped })
	if _, l := slCount(e.Frames()); l != dropped {
		t.Errorf("L10 reported %d, want %d", l, dropped)
	}
	if frames := e.Frames(); !slL10Re.MatchString(frames[0]) {
		t.Errorf("first frame after reconnect = %q, want the L10", frames[0])
	}
}

// tcp_syslog_send_loss_msg = dont_send: losses are counted but no L10 is
// written.
func TestSyslogDontSendLoss(t *testing.T) {
	e := newSLEndpoint(t, nil)
	r := newSLDrain(t, Options{TCPBufferSize: 1, TCPDontSendLoss: true}, slURL("syslog", e), time.Second)
	r.push(slMsg(0), slMsg(1), slMsg(2))
	r.start()
	slWaitFor(t, 5*time.Second, "a frame", func() bool { return len(e.Frames()) == 1 })
	r.push(slMsg(3))
	slWaitFor(t, 5*time.Second, "a second frame", func() bool { return len(e.Frames()) == 2 })
	if got := e.Frames(); got[0] != slFrame(2) || got[1] != slFrame(3) {
		t.Errorf("frames = %q, want messages 2 and 3 only", got)
	}
	if d := r.d.Stats.Dropped.Get(); d != 2 {
		t.Errorf("dropped = %d, want 2", d)
	}
}

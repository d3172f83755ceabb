package drain

import (
	"testing"
	"time"
)

// TestHTTPBatchAge: with --http-drain-batch-age a drain's frames start at
// least that far apart, so messages pushed one by one in between go out
// together; once the target bytes are buffered the frame starts at once.
func TestHTTPBatchAge(t *testing.T) {
	const age = 2 * time.Second
	srv := newCapServer(t, nil)
	target := 3 * len(testFrame(0))
	d := startHTTP(t, Options{HTTPBatchAge: age, HTTPTargetBytes: 10 * target}, httpURL(srv, "http", "/logs"), "")
	start := time.Now()
	push(d, testMsg(0)) // the first frame starts at once
	srv.waitReqs(1, wait)
	if took := time.Since(start); took >= age {
		t.Fatalf("first frame after %v, want at once", took)
	}
	for i := 1; i <= 5; i++ { // one by one, within the age
		push(d, testMsg(i))
	}
	reqs := srv.waitReqs(2, wait)
	if took := time.Since(start); took < age {
		t.Fatalf("second frame after %v, want >= %v", took, age)
	}
	if got := len(splitFrames(t, reqs[1].Body)); got != 5 {
		t.Fatalf("second frame holds %d messages, want the 5 pushed during the wait", got)
	}

	// Target bytes buffered: no wait.
	d2 := startHTTP(t, Options{HTTPBatchAge: time.Hour, HTTPTargetBytes: target}, httpURL(srv, "http", "/two"), "")
	push(d2, testMsg(10))
	srv.waitReqs(3, wait)
	begin := time.Now()
	push(d2, testMsgs(11, 4)...)
	srv.waitReqs(4, wait)
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("a full batch waited %v for the age", took)
	}
}

// TestSyslogBatchAge: the same for syslog drains: writes at least the age
// apart unless the target bytes are buffered.
func TestSyslogBatchAge(t *testing.T) {
	const age = 2 * time.Second
	e := newSLEndpoint(t, nil)
	r := startSL(t, Options{TCPBatchAge: age, TCPTargetBytes: 1 << 20}, slURL("syslog", e), time.Second)
	start := time.Now()
	r.push(slMsg(0))
	slWaitFor(t, wait, "the first write", func() bool { return len(e.Frames()) == 1 })
	if took := time.Since(start); took >= age {
		t.Fatalf("first write after %v, want at once", took)
	}
	r.push(slMsg(1), slMsg(2), slMsg(3))
	slWaitFor(t, wait, "the second write", func() bool { return len(e.Frames()) == 4 })
	if took := time.Since(start); took < age {
		t.Fatalf("second write after %v, want >= %v", took, age)
	}

	one := len(slFrame(0))
	e2 := newSLEndpoint(t, nil)
	r2 := startSL(t, Options{TCPBatchAge: time.Hour, TCPTargetBytes: 2 * one}, slURL("syslog", e2), time.Second)
	r2.push(slMsg(0))
	slWaitFor(t, wait, "the first write", func() bool { return len(e2.Frames()) == 1 })
	for i := 1; i <= 10; i++ { // 10 messages hold more than the target (frames are longer than messages)
		r2.push(slMsg(i))
	}
	slWaitFor(t, wait, "a write once the target bytes are buffered", func() bool { return len(e2.Frames()) >= 3 })
}

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

// The syslog drains' batch age is tested under testing/synctest's clock
// (batchage_synctest_test.go).

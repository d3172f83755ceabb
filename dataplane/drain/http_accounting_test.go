package drain

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// Every message pushed is delivered exactly once or reported in exactly one
// L10 notice, through an outage, a mix of temporary and permanent failures,
// connections closed unanswered, overflow and shrinking: sent = delivered +
// reported, and a message reaches the endpoint more than once only as a
// retry of its frame (same Frame-Id).
func TestHTTPDrainAccounting(t *testing.T) {
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{HTTPBufferSize: 200, HTTPTargetBytes: 1500, HTTPReconnectTime: time.Millisecond,
		HTTPMaxRetries: 4, HTTPShrinkTimeout: 100 * time.Millisecond, HTTPIdleFuzz: time.Millisecond},
		httpURL(srv, "http", "/"), "")
	const n = 3000
	push(d, testMsg(0))
	srv.waitReqs(1, wait)

	script := []int{500, 429, 404, closeNoReply, 500, 500, 500, 404, 200, 503, 404, 429, 200,
		closeNoReply, 200, 404, 413, 500, 200, 302, 429, 429, 200, 404, 200}
	next := 0
	srv.setRespond(func(*capReq) (int, time.Duration) {
		if next < len(script) {
			next++
			return script[next-1], 0
		}
		return 200, 0
	})
	addr := srv.addr
	srv.down()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= n; i += 5 {
			push(d, testMsgs(i, 5)...)
			<-tick.C // load: 5 messages a millisecond
		}
	}()
	time.Sleep(250 * time.Millisecond) // the scenario: the endpoint is down for a while
	srv.up(addr)
	<-produced
	srv.waitFor(wait, "the script to run out", func() bool { return next == len(script) })
	waitFor(t, wait, "the buffer to empty", func() bool { return d.Status().Buffered == 0 })
	push(d, testMsg(n+1)) // carries the report of any loss still pending
	marker := testFrame(n + 1)
	srv.waitFor(wait, "the last message", func() bool {
		for _, r := range srv.reqs {
			if r.Status == 200 && len(r.Body) >= len(marker) && string(r.Body[len(r.Body)-len(marker):]) == marker {
				return true
			}
		}
		return false
	})
	// the endpoint records a request before it answers
	waitFor(t, wait, "the last answer counted", func() bool { return d.Status().Buffered == 0 })

	sent := n + 2
	delivered := map[int]bool{}
	reported := 0
	frames := map[string][]int{} // Frame-Id → messages
	frameOf := map[int]string{}  // message → Frame-Id
	for _, r := range srv.Reqs() {
		ids, l10 := bodyParts(t, r.Body)
		count := len(ids)
		if l10 > 0 {
			count++
		}
		if r.Header["Logplex-Msg-Count"] != strconv.Itoa(count) {
			t.Errorf("request %d: Logplex-Msg-Count %s, body has %d frames", r.Seq, r.Header["Logplex-Msg-Count"], count)
		}
		fid := r.Header["Logplex-Frame-Id"]
		if prev, ok := frames[fid]; ok && !slices.Equal(prev, ids) {
			t.Errorf("request %d: frame %s re-sent with other messages", r.Seq, fid)
		}
		frames[fid] = ids
		for _, id := range ids {
			if f, ok := frameOf[id]; ok && f != fid {
				t.Errorf("message %d sent in frames %s and %s", id, f, fid)
			}
			frameOf[id] = fid
		}
		if r.Status < 200 || r.Status > 299 {
			continue
		}
		reported += l10
		for _, id := range ids {
			if delivered[id] {
				t.Errorf("message %d delivered twice", id)
			}
			delivered[id] = true
		}
	}
	st := d.Status()
	t.Logf("sent %d: delivered %d, reported lost %d, in %d requests; status %+v",
		sent, len(delivered), reported, len(srv.Reqs()), st)
	if len(delivered)+reported != sent {
		t.Errorf("delivered %d + reported %d = %d, want %d sent", len(delivered), reported, len(delivered)+reported, sent)
	}
	if st.Delivered != uint64(len(delivered)) || st.Dropped != uint64(reported) {
		t.Errorf("status delivered %d dropped %d, want %d and %d", st.Delivered, st.Dropped, len(delivered), reported)
	}
	if reported == 0 || len(delivered) < 100 {
		t.Errorf("the scenario lost %d and delivered %d: it did not exercise both", reported, len(delivered))
	}
}

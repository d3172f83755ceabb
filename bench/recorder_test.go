package bench

import (
	"bytes"
	"testing"

	"github.com/logplex/logplex/frame"
)

// testRecorder: tokens 0 and 1 on channels 0 and 1; endpoints 0 and 1 are
// their drains, endpoint 2 a tail of channel 0.
func testRecorder(t *testing.T) (*Layout, *Recorder) {
	l := testLayout(t, 120)
	topo := &Topology{Conns: 4, TokenChannel: []int32{0, 1}, TokenNames: []string{"k000000", "k000001"},
		TokenIDs:   []string{testToken, "t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"},
		EndChannel: []int32{0, 1, 0}, EndIsTail: []bool{false, false, true}}
	return l, NewRecorder(l, topo)
}

// httpDrainMsg is what an HTTP drain sends for token k's message.
func httpDrainMsg(t *testing.T, l *Layout, k int, sent int64, conn, seq uint32) []byte {
	_, msg := frameMsg(l, k, sent, conn, seq)
	f, ok := frame.ParseDrain(msg)
	if !ok {
		t.Fatalf("ParseDrain(%q)", msg)
	}
	f.Source = []byte(tokenName(k))
	out, _, _ := frame.Next(frame.AppendHTTPDrain(nil, f))
	return out
}

func TestRecorderOrderRoutingAndLatency(t *testing.T) {
	l, rec := testRecorder(t)
	rec.Reset(1000)
	b := rec.NewBatch()
	if !b.Start(0, FormatHTTPDrain, 5000) {
		t.Fatal("endpoint 0 refused")
	}
	for _, seq := range []uint32{0, 1, 2, 5, 4, 5} { // 4 and the second 5 are out of order
		b.Add(httpDrainMsg(t, l, 0, 2000, 1, seq))
	}
	b.Add(httpDrainMsg(t, l, 0, 2000, 2, 4)) // another connection: its own sequence
	b.Add(httpDrainMsg(t, l, 1, 2000, 3, 0)) // token of channel 1 at channel 0's drain
	b.Add(httpDrainMsg(t, l, 0, 999, 0, 0))  // sent before the phase: not counted
	renamed := bytes.Replace(httpDrainMsg(t, l, 0, 2000, 0, 1), []byte("k000000"), []byte("k000009"), 1)
	b.Add(renamed) // wrong APP-NAME
	b.Add([]byte("<172>1 2013-01-01T00:00:10+00:00 host heroku logplex - Error L10 (output buffer overflow): 7 messages dropped since 2013-01-01T00:00:10+00:00."))
	b.Add([]byte("<134>1 x host k000000 web.1 - |garbage"))
	b.Done()
	c := rec.Totals(false)
	want := EndCounts{Received: 9, OutOfOrder: 2, Corrupt: 1, Misrouted: 2, Reported: 7, Notices: 1, Stragglers: 1}
	if c != want {
		t.Errorf("counts %+v\nwant   %+v", c, want)
	}
	if rec.DrainMsgs() != 9 || rec.EndpointsSeen(false) != 1 || rec.EndpointsSeen(true) != 0 {
		t.Errorf("drain msgs %d, seen %d", rec.DrainMsgs(), rec.EndpointsSeen(false))
	}
	if h := rec.Latency(false); h.Count() != 9 || h.Quantile(0.5) < 2900 || h.Quantile(0.5) > 3100 || h.Max() != 3000 {
		t.Errorf("latency count %d p50 %v max %v, want 9, 3µs ± 3%%, 3µs", h.Count(), h.Quantile(0.5), h.Max())
	}
	if b.Start(7, FormatHTTPDrain, 0) {
		t.Error("unknown endpoint accepted")
	}
	rec.Reset(3000) // order state survives a reset
	b.Start(0, FormatHTTPDrain, 5000)
	b.Add(httpDrainMsg(t, l, 0, 4000, 1, 3))
	b.Done()
	if c := rec.Totals(false); c.OutOfOrder != 1 || c.Received != 1 {
		t.Errorf("after reset: %+v", c)
	}
}

func TestRecorderTailLines(t *testing.T) {
	l, rec := testRecorder(t)
	_, msg := frameMsg(l, 0, 10, 0, 0)
	f, _ := frame.ParseSession(msg)
	f.Source = []byte("k000000")
	b := rec.NewBatch()
	b.Start(2, FormatTail, 20)
	b.Add(frame.AppendSessionLine(nil, f))
	b.Add([]byte("2020-01-02T03:05:05+00:00 logplex[1]: Error L11 (Tail buffer overflow) -> This tail session dropped 4 messages since 2020-01-02T03:04:05+00:00.\n"))
	b.Done()
	if c := rec.Totals(true); c.Received != 1 || c.Reported != 4 || c.Misrouted != 0 || c.Corrupt != 0 {
		t.Errorf("tail counts %+v", c)
	}
	if rec.TailMsgs() != 1 || rec.DrainMsgs() != 0 {
		t.Errorf("tail %d drain %d", rec.TailMsgs(), rec.DrainMsgs())
	}
}

package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/logplex/logplex/frame"
)

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHTTPSink(t *testing.T) {
	l, rec := testRecorder(t)
	s, err := StartHTTPSink("127.0.0.1:0", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var body []byte
	for seq := range uint32(3) {
		body = frame.AppendFrame(body, httpDrainMsg(t, l, 1, 1, 0, seq))
	}
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	zw.Write(body)
	zw.Close()
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	post := func(path, extra string, b []byte, count int) int {
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/logplex-1\r\nLogplex-Msg-Count: %d\r\n%sContent-Length: %d\r\n\r\n", path, count, extra, len(b))
		c.Write(b)
		st, err := readResponse(br)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := post("/d/1", "", body, 3); st != 200 {
		t.Fatalf("status %d", st)
	}
	if st := post("/d/1", "Content-Encoding: gzip\r\n", zbody.Bytes(), 3); st != 200 { // same keep-alive connection
		t.Fatalf("gzip: status %d", st)
	}
	post("/d/1", "", body, 4) // count header mismatch
	if st := post("/d/9", "", body, 3); st != 400 {
		t.Errorf("unknown drain: status %d, want 400", st)
	}
	c1 := rec.Totals(false)
	if c1.Received != 9 || c1.OutOfOrder != 6 || c1.Corrupt != 1 {
		t.Errorf("counts %+v: want 9 received, 6 out of order (repeats), 1 corrupt", c1)
	}
	if reqs, bad := s.Requests(); reqs != 4 || bad != 1 {
		t.Errorf("requests %d bad %d", reqs, bad)
	}
}

// TestTCPSinkSplits feeds a syslog drain stream in every possible split.
func TestTCPSinkSplits(t *testing.T) {
	l, rec := testRecorder(t)
	s := &TCPSink{rec: rec, tokens: map[string]int{"d.aa": 0, "d.bb": 1}}
	var stream []byte
	for seq := range uint32(4) {
		for k, tok := range []string{"d.aa", "d.bb"} {
			_, msg := frameMsg(l, k, 1, 2, seq)
			f, _ := frame.ParseDrain(msg)
			f.Source = []byte(tokenName(k))
			stream = frame.AppendSyslogDrain(stream, f, []byte(tok))
		}
	}
	for split := 0; split <= len(stream); split++ {
		rec.Reset(0)
		r := &tcpStream{s: s, b: rec.NewBatch(), end: -1}
		buf := append([]byte(nil), stream[:split]...)
		used := r.consume(buf, 5)
		buf = append(buf[used:], stream[split:]...)
		if used2 := r.consume(buf, 5); used2 != len(buf) {
			t.Fatalf("split %d: %d of %d bytes left", split, len(buf)-used2, len(buf))
		}
		c := rec.Totals(false)
		if c.Received != 8 || c.Corrupt+c.Misrouted != 0 {
			t.Fatalf("split %d: %+v", split, c)
		}
	}
}

// TestRelayLoopback runs the generator through the in-process relay into a
// raw TCP sink and checks that everything arrives in order.
func TestRelayLoopback(t *testing.T) {
	l := testLayout(t, 150)
	topo := &Topology{Conns: 3, TokenChannel: []int32{0, 0}, TokenNames: []string{"k000000", "k000001"},
		TokenIDs: []string{testToken, "t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"}, EndChannel: []int32{-1}, EndIsTail: []bool{false}}
	rec := NewRecorder(l, topo)
	sink, err := StartTCPSink("127.0.0.1:0", rec, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	relay, err := ListenRelay("127.0.0.1:0", sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- relay.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	gen, err := NewGenerator(ctx, GenOptions{Proto: "tcp", Addr: relay.Addr(), Conns: 3, Batch: 7, Layout: l, Tokens: 2, Spread: "zipf"})
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	st := gen.Run(ctx, 5*time.Second, 5000, 100000)
	if st.Sent != 5000 || st.PerToken[0]+st.PerToken[1] != 5000 {
		t.Fatalf("sent %d (per token %v)", st.Sent, st.PerToken)
	}
	waitUntil(t, "5000 messages at the sink", func() bool { return rec.DrainMsgs() == 5000 })
	if c := rec.Totals(false); c.OutOfOrder+c.Corrupt+c.Misrouted != 0 {
		t.Errorf("sink counts %+v", c)
	}
	if st.Elapsed < 40*time.Millisecond {
		t.Errorf("5000 messages at 100k/s took %v: not paced", st.Elapsed)
	}
}

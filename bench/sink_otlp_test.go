package bench

import (
	"bufio"
	"fmt"
	"net"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/logplex/logplex/frame"
)

// TestOTLPSink posts an ExportLogsServiceRequest built with the Collector's
// own library: every record is recorded with its resource's service.name
// as the token name, an L10 record is a notice, a body that is not
// protobuf is refused.
func TestOTLPSink(t *testing.T) {
	l, rec := testRecorder(t)
	s, err := StartOTLPSink("127.0.0.1:0", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("logplex.channel_id", "1")
	rl.Resource().Attributes().PutStr("service.name", tokenName(1))
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for seq := range uint32(3) {
		_, m := frameMsg(l, 1, 1, 0, seq)
		f, _ := frame.ParseDrain(m)
		r := recs.AppendEmpty()
		r.Body().SetStr(string(f.Content))
		r.Attributes().PutStr("hostname", "host")
	}
	recs.AppendEmpty().Body().SetStr("Error L10 (output buffer overflow): 7 messages dropped since 2026-12-06T22:00:00+00:00.")
	other := ld.ResourceLogs().AppendEmpty() // token 0 does not belong on channel 1's drain
	other.Resource().Attributes().PutStr("service.name", tokenName(0))
	_, m := frameMsg(l, 0, 1, 1, 0)
	f, _ := frame.ParseDrain(m)
	other.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(string(f.Content))
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if u := s.otlpURL("127.0.0.1", 1); u[:12] != "otlp+http://" {
		t.Errorf("URL %q", u)
	}
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	post := func(b []byte) int {
		fmt.Fprintf(c, "POST /d/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n", len(b))
		c.Write(b)
		st, err := readResponse(br)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := post(body); st != 200 {
		t.Fatalf("status %d", st)
	}
	if st := post([]byte{0x0a, 0x7f, 0x01}); st != 400 {
		t.Errorf("truncated protobuf: status %d, want 400", st)
	}
	c1 := rec.Totals(false)
	if c1.Received != 4 || c1.Misrouted != 1 || c1.Notices != 1 || c1.Reported != 7 || c1.Corrupt != 0 {
		t.Errorf("counts %+v: want 4 received (1 misrouted), 1 notice reporting 7", c1)
	}
}

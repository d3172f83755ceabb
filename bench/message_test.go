package bench

import (
	"bytes"
	"testing"

	"github.com/logplex/logplex/frame"
)

const testToken = "t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42"

func testLayout(t *testing.T, size int) *Layout {
	t.Helper()
	l, err := NewLayout(size, []string{testToken, "t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// frameMsg builds one framed message and returns it with its payload.
func frameMsg(l *Layout, k int, sent int64, conn, seq uint32) (wire, msg []byte) {
	var ts [16]byte
	HexTime(sent, &ts)
	wire = l.Append(nil, k, &ts, conn, seq)
	m, n, kind := frame.Next(wire)
	if kind != frame.Message || n != len(wire) {
		panic("not one frame")
	}
	return wire, m
}

func TestLayoutSizes(t *testing.T) {
	for _, size := range []int{MinSize(len(testToken)), 120, 500, 10000} {
		l := testLayout(t, size)
		wire, msg := frameMsg(l, 1, 1e18, 7, 12345)
		if len(msg) != size || len(wire) != l.WireSize() {
			t.Errorf("size %d: message %d bytes, wire %d (want %d)", size, len(msg), len(wire), l.WireSize())
		}
	}
	if _, err := NewLayout(MinSize(len(testToken))-1, []string{testToken}); err == nil {
		t.Error("a size below the minimum was accepted")
	}
}

// TestParseEveryFormat runs a message through the real output formats of
// package frame and parses the content back.
func TestParseEveryFormat(t *testing.T) {
	l := testLayout(t, 120)
	_, msg := frameMsg(l, 1, 1_700_000_000_123_456_789, 0xbeef, 0xdeadbeef)
	cooked := bytes.Replace(msg, []byte("t.0123abcd-4d55-4c9e-aee1-2d2b10e69b42"), []byte("k000001"), 1)
	f, ok := frame.ParseDrain(cooked)
	if !ok {
		t.Fatalf("frame.ParseDrain rejects %q", cooked)
	}
	httpOut, _, _ := frame.Next(frame.AppendHTTPDrain(nil, f))
	syslogOut, _, _ := frame.Next(frame.AppendSyslogDrain(nil, f, []byte("d.fc6b856b-3332-4546-93de-7d0ee272c3bd")))
	tail := frame.AppendSessionLine(nil, f)
	want := Content{SentNs: 1_700_000_000_123_456_789, Conn: 0xbeef, Seq: 0xdeadbeef, Token: 1}
	for _, c := range []struct {
		name string
		msg  []byte
		lf   bool
		app  []byte
	}{
		{"raw", msg, false, field(msg, 3)},
		{"http drain", httpOut, false, field(httpOut, 3)},
		{"syslog drain", syslogOut, true, field(syslogOut, 3)},
		{"tail line", tail, true, nil},
	} {
		got, ok, err := l.ParseContent(c.msg, c.lf)
		if !ok || err != nil || got != want {
			t.Errorf("%s %q: got %+v ok=%v err=%v, want %+v", c.name, c.msg, got, ok, err, want)
		}
	}
	if string(field(httpOut, 3)) != "k000001" || string(field(syslogOut, 3)) != "k000001" {
		t.Errorf("APP-NAME field: %q / %q", field(httpOut, 3), field(syslogOut, 3))
	}
}

func TestParseDetectsDamage(t *testing.T) {
	l := testLayout(t, 130)
	_, msg := frameMsg(l, 0, 42, 1, 2)
	i := bytes.IndexByte(msg, '|')
	for name, mutate := range map[string]func([]byte) []byte{
		"pad byte":      func(b []byte) []byte { b[len(b)-1]++; return b },
		"truncated":     func(b []byte) []byte { return b[:len(b)-1] },
		"extra byte":    func(b []byte) []byte { return append(b, 'x') },
		"bad hex":       func(b []byte) []byte { b[i+3] = 'z'; return b },
		"no end marker": func(b []byte) []byte { b[i+1+fieldsLen] = 'a'; return b },
		"token index":   func(b []byte) []byte { copy(b[i+29:], "ffffff"); return b },
	} {
		b := mutate(append([]byte(nil), msg...))
		if _, ok, err := l.ParseContent(b, false); !ok || err == nil {
			t.Errorf("%s: not detected (ok=%v err=%v)", name, ok, err)
		}
	}
	notice := []byte("<172>1 2013-01-01T00:00:10+00:00 host heroku logplex - Error L10 (output buffer overflow): 3 messages dropped since 2013-01-01T00:00:10+00:00.")
	if _, ok, _ := l.ParseContent(notice, false); ok {
		t.Error("a notice was taken for a benchmark message")
	}
}

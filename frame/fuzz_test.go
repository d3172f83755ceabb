package frame

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// seedMessages are starting points for the parser fuzzers.
var seedMessages = []string{
	"<134>1 2012-12-10T03:00:48.123456Z erlang t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42 console.1 - - Logsplat test message 1",
	`<133>1 2013-05-24T06:48:51.740194+00:00 host token process - [meta sequenceId="518"][meta somethingElse="blah\]"] this is the message`,
	`<133>1 2013-05-24T06:48:51.740194+00:00 host token process - [meta testName="bob\]"] this is the message`,
	"<134>1 2012-12-10T04:05:25Z+00:00 erlang t.x console.1 - Logsplat test message 1 from <0.72.0>.",
	"<1>1 aaaa bbbb cccc dddd eeee - 0b6e3f4c-1d2a-4c5b-8e9f-0a1b2c3d4e51",
	"<42> blafasel",
	"<391>2 a b c d e [x\\] y] z\n",
	"<1>1 a b c d e [a\\][b] x] y",
	"",
}

// sameBacking reports whether sub is buf[off:off+len(sub)].
func sameBacking(buf, sub []byte, off int) bool {
	if len(sub) == 0 {
		return true
	}
	return off >= 0 && off+len(sub) <= len(buf) && unsafe.SliceData(sub) == &buf[off]
}

func FuzzNext(f *testing.F) {
	for _, m := range seedMessages {
		f.Add([]byte(framed(m)))
		f.Add([]byte(m + "\r\n"))
	}
	for _, s := range []string{"12", "10240 ", "10241 x\n", "1024", "0 x\n", "9 short", "1 a1 b", "\n", "\r\n", "99999999\n"} {
		f.Add([]byte(s))
	}
	f.Add([]byte(framed(strings.Repeat("m", MaxFrameLen))))
	f.Fuzz(func(t *testing.T, buf []byte) {
		msg, n, k := Next(buf)
		checkNext(t, buf, msg, n, k)
		if k == NeedMore {
			return
		}
		if k == Malformed && n == MaxLineLen && len(msg) == MaxLineLen {
			// a line cut for having no LF in MaxLineLen+1 bytes: the cut
			// prefix alone is still undecided (an LF could follow)
			if _, _, k2 := Next(buf[:n]); k2 != NeedMore {
				t.Fatalf("Next(cut prefix) = %v, want NeedMore", k2)
			}
			return
		}
		if _, _, k2 := Next(buf[:n-1]); k2 != NeedMore {
			t.Fatalf("Next(buf[:n-1]) = %v, want NeedMore (the frame ends at n=%d)", k2, n)
		}
		if msg2, n2, k2 := Next(buf[:n]); k2 != k || n2 != n || !bytes.Equal(msg2, msg) {
			t.Fatalf("Next(buf[:n]) = %v %d %q, want %v %d %q", k2, n2, msg2, k, n, msg)
		}
	})
}

// checkNext checks one result of Next against its contract and the plain
// port of Logplex's parser.
func checkNext(t *testing.T, buf, msg []byte, n int, k Kind) {
	t.Helper()
	cut := k == Malformed && n == MaxLineLen && len(msg) == MaxLineLen
	switch k {
	case NeedMore:
		if n != 0 || msg != nil || len(buf) > MaxLineLen {
			t.Fatalf("NeedMore with n=%d msg=%q len(buf)=%d", n, msg, len(buf))
		}
	case Message:
		if n > len(buf) || len(msg) > MaxFrameLen || !sameBacking(buf, msg, n-len(msg)) {
			t.Fatalf("Message n=%d len(msg)=%d len(buf)=%d", n, len(msg), len(buf))
		}
		if fr := AppendFrame(nil, msg); !bytes.Equal(fr, buf[:n]) {
			t.Fatalf("AppendFrame(msg) = %q, want buf[:n] = %q", fr, buf[:n])
		}
	case Malformed:
		term := string(buf[len(msg):n])
		if n > len(buf) || !sameBacking(buf, msg, 0) || bytes.IndexByte(msg, '\n') >= 0 ||
			(!cut && term != "\n" && term != "\r\n") {
			t.Fatalf("Malformed n=%d msg=%q terminator %q", n, msg, term)
		}
	default:
		t.Fatalf("unknown Kind %d", k)
	}
	rmsg, rn, rk := oracleNext(buf)
	switch {
	case cut && (rk == NeedMore || rk == Malformed && len(rmsg) > MaxLineLen):
	case rk != k || rn != n || !bytes.Equal(rmsg, msg):
		t.Fatalf("Next = %v %d %q; Logplex's parser: %v %d %q", k, n, msg, rk, rn, rmsg)
	}
}

func FuzzParseDrain(f *testing.F) {
	for _, m := range seedMessages {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, ok := ParseDrain(msg)
		want, wok := oracleDrain(msg)
		if ok != wok || !equalFields(got, want) {
			t.Fatalf("ParseDrain = %+v %v; regexp %+v %v", got, ok, want, wok)
		}
		if !ok {
			return
		}
		if got.Pri < 0 || got.Pri > 255 || !sameBacking(msg, got.Content, len(msg)-len(got.Content)) {
			t.Fatalf("Pri %d or Content not the tail of msg", got.Pri)
		}
		checkOutputs(t, got)
	})
}

// checkOutputs formats f every way and reads the frames back.
func checkOutputs(t *testing.T, f Fields) {
	t.Helper()
	lf := ""
	if missingLF(f.Content) == 1 {
		lf = "\n"
	}
	dtok := []byte("d.fc6b856b-3332-4546-93de-7d0ee272c3bd")
	syslog := frameBody(t, AppendSyslogDrain(nil, f, dtok))
	back, ok := ParseDrain(syslog)
	if !ok || back.Pri != f.Pri&0xFF || !bytes.Equal(back.Time, f.Time) || !bytes.Equal(back.Source, f.Source) ||
		!bytes.Equal(back.PS, f.PS) || string(back.Content) != string(f.Content)+lf {
		t.Fatalf("syslog drain output %q parses back to %+v %v", syslog, back, ok)
	}
	http := frameBody(t, AppendHTTPDrain(nil, f))
	v3 := frameBody(t, AppendV3Log(nil, f))
	if string(v3) != string(http)+"\n" || !bytes.HasSuffix(http, f.Content) {
		t.Fatalf("v3 %q is not HTTP %q + LF", v3, http)
	}
	line := AppendSessionLine(nil, f)
	if !bytes.HasPrefix(line, f.Time) || string(line) != string(line[:len(line)-len(f.Content)-len(lf)])+string(f.Content)+lf {
		t.Fatalf("session line %q", line)
	}
}

// frameBody checks that out is one octet-counted frame and returns its body.
func frameBody(t *testing.T, out []byte) []byte {
	t.Helper()
	size, body, _ := bytes.Cut(out, []byte(" "))
	if n, err := strconv.Atoi(string(size)); err != nil || n != len(body) || size[0] == '0' {
		t.Fatalf("output %q: length prefix %q for a %d-byte body", out, size, len(body))
	}
	if len(body) <= MaxFrameLen {
		if msg, n, k := Next(out); k != Message || n != len(out) || !bytes.Equal(msg, body) {
			t.Fatalf("Next(%q) = %v %d, want the whole frame", out, k, n)
		}
	}
	return body
}

func FuzzParseSession(f *testing.F) {
	for _, m := range seedMessages {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, ok := ParseSession(msg)
		want, wok := oracleSession(msg)
		if ok != wok || !equalFields(got, want) {
			t.Fatalf("ParseSession = %+v %v; regexp %+v %v", got, ok, want, wok)
		}
		if ok {
			_ = AppendSessionLine(nil, got)
			_ = AppendL11(nil, time.Unix(0, 0), len(msg), time.Unix(0, 0))
		}
	})
}

func FuzzAppName(f *testing.F) {
	for _, m := range seedMessages {
		f.Add([]byte(m), "app")
	}
	f.Add([]byte(" a b c d"), "x")
	f.Add([]byte("a b c   "), "x")
	f.Fuzz(func(t *testing.T, msg []byte, name string) {
		start, end, ok := AppName(msg)
		ws, we, wok := oracleAppName(msg)
		if start != ws || end != we || ok != wok {
			t.Fatalf("AppName = %d %d %v; regexp %d %d %v", start, end, ok, ws, we, wok)
		}
		if !ok || name == "" || strings.Contains(name, " ") {
			return
		}
		cooked := AppendCooked(nil, msg, start, end, []byte(name))
		s2, e2, ok2 := AppName(cooked)
		if !ok2 || s2 != start || string(cooked[s2:e2]) != name ||
			string(cooked[:s2]) != string(msg[:start]) || string(cooked[e2:]) != string(msg[end:]) {
			t.Fatalf("AppendCooked(%q, %q) = %q, AppName finds %d %d %v", msg, name, cooked, s2, e2, ok2)
		}
	})
}

// FuzzHead: Head.Read finds AppName's field, and the router's one-pass
// HTTP drain frame (AppendHTTPDrainHead) equals parsing and formatting the
// cooked message, for any message and name, rewritten or kept as it is.
func FuzzHead(f *testing.F) {
	for _, m := range seedMessages {
		f.Add([]byte(m), "app", true)
		f.Add([]byte(m), "a b", true)
		f.Add([]byte(m), "", false)
	}
	f.Add([]byte("<1>1 T h t.x\tq p - - m"), "app", true)   // a tab in the token field
	f.Add([]byte("<1>1 T h t.x\tq p - - m"), "", false)     // ... kept
	f.Add([]byte("<1>1 T h t.x p - - m"), "web\t1", true)   // a tab in the name
	f.Add([]byte("<1>1 T h t.x p -"), "a - - b", true)      // the name completes the message
	f.Add([]byte("<1>1 T  h t.x p - - m"), "app", true)     // two spaces before HOSTNAME
	f.Add([]byte("<1>1 T h  t.x p - - m"), "app", true)     // two spaces before APP-NAME
	f.Add([]byte("<1>1 T\tx h t.x p - - m"), "app", true)   // a tab in TIMESTAMP
	f.Add([]byte("<1>1 T h\nx t.x p - - m"), "app", true)   // a line feed in HOSTNAME
	f.Add([]byte("<1>1\t T h t.x p - - m"), "app", true)    // a tab after VERSION
	f.Add([]byte("<300>1 T h t.x p [a\\]] m"), "app", true) // PRI wraps
	f.Add([]byte("<1>11 T h t.x p - - m"), "app", true)     // VERSION 11
	f.Add([]byte("<1>1 T h t.x p  - - m"), "app", true)     // two spaces after PROCID
	f.Fuzz(func(t *testing.T, msg []byte, name string, rewrite bool) {
		var h Head
		ok := h.Read(msg)
		start, end, aok := AppName(msg)
		if ok != aok || (ok && (h.Start != start || h.End != end)) {
			t.Fatalf("Head.Read(%q) = %d %d %v; AppName %d %d %v", msg, h.Start, h.End, ok, start, end, aok)
		}
		cooked := msg
		if ok && rewrite {
			cooked = AppendCooked(nil, msg, start, end, []byte(name))
		}
		var want []byte
		wf, wok := ParseDrain(cooked)
		if wok {
			want = AppendHTTPDrain([]byte("x"), wf)
		}
		var scratch []byte
		var got []byte
		if rewrite {
			got, ok = AppendHTTPDrainHead([]byte("x"), &scratch, msg, &h, name)
		} else {
			got, ok = AppendHTTPDrainHead([]byte("x"), &scratch, msg, &h, msg[h.Start:h.End])
		}
		if ok != wok || (ok && !bytes.Equal(got, want)) || (!ok && string(got) != "x") {
			t.Fatalf("AppendHTTPDrainHead(%q, %q, rewrite %v) = %q %v; ParseDrain+AppendHTTPDrain of %q: %q %v",
				msg, name, rewrite, got, ok, cooked, want, wok)
		}
	})
}

package frame

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// got is one frame as a test records it.
type got struct {
	k   Kind
	msg string
}

func (g got) String() string { return fmt.Sprintf("%v %q", g.k, g.msg) }

// splitAll calls Next until NeedMore and returns the frames and the bytes left.
func splitAll(buf []byte) (frames []got, rest []byte) {
	for {
		msg, n, k := Next(buf)
		if k == NeedMore {
			return frames, buf
		}
		frames = append(frames, got{k, string(msg)})
		buf = buf[n:]
	}
}

// framed returns msg octet-counted.
func framed(msg string) string { return strconv.Itoa(len(msg)) + " " + msg }

const logsplat = "<134>1 2012-12-10T04:05:25Z+00:00 erlang t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42 console.1 - Logsplat test message %d from <0.72.0>."

func TestNext(t *testing.T) {
	var case1, case3 string
	var want1, want3 []got
	for k := 1; k <= 5; k++ {
		m := fmt.Sprintf(logsplat, k)
		case1 += framed(m)
		case3 += m + "\r\n"
		want1 = append(want1, got{Message, m})
		want3 = append(want3, got{Malformed, m})
	}
	hello := "<134>1 2012-12-10T04:05:25Z+00:00 erlang t.x console.1 - - hello"
	hello += strings.Repeat("!", 120-len(hello))
	long := strings.Repeat("x", 10240)
	tests := []struct {
		name string
		in   string
		want []got
		rest string
	}{
		{"empty", "", nil, ""},
		{"case 1: five octet-counted frames in one write", case1, want1, ""},
		{"case 3: five CRLF lines are five malformed frames", case3, want3, ""},
		{"case 4: a length prefix split across writes waits", "12", nil, "12"},
		{"case 4: the whole 120-byte frame", framed(hello), []got{{Message, hello}}, ""},
		{"case 5: 10241 is newline mode; the next frame is fine",
			"10241 <134>1 x\n" + framed("ok"), []got{{Malformed, "10241 <134>1 x"}, {Message, "ok"}}, ""},
		{"case 12: a line without length prefix", "<134>1 2012-12-10T00:00:00Z host t.x p - - hi\n",
			[]got{{Malformed, "<134>1 2012-12-10T00:00:00Z host t.x p - - hi"}}, ""},
		{"10240 is the largest count", framed(long), []got{{Message, long}}, ""},
		{"10240 waits for its bytes", "10240 abc", nil, "10240 abc"},
		{"1024 might still become 10240", "1024", nil, "1024"},
		{"10241 is decided before its SP", "10241", nil, "10241"},
		{"a count then LF is newline mode", "12\nab", []got{{Malformed, "12"}}, "ab"},
		{"no LF inside a counted frame", "3 a\nb", []got{{Message, "a\nb"}}, ""},
		{"leading zero is newline mode", "05 hello\n", []got{{Malformed, "05 hello"}}, ""},
		{"first byte SP", " 5 hello\n", []got{{Malformed, " 5 hello"}}, ""},
		{"bare LF", "\n\r\n", []got{{Malformed, ""}, {Malformed, ""}}, ""},
		{"CR alone is data", "a\rb\r\r\n", []got{{Malformed, "a\rb\r"}}, ""},
		{"newline mode waits for LF", "<134>1 no newline yet", nil, "<134>1 no newline yet"},
		{"1 digit frames", "1 a1 b", []got{{Message, "a"}, {Message, "b"}}, ""},
		{"digits then letter", "12a\n", []got{{Malformed, "12a"}}, ""},
		{"trailing partial frame kept", framed("x") + "5 abc", []got{{Message, "x"}}, "5 abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, rest := splitAll([]byte(tt.in))
			if fmt.Sprint(frames) != fmt.Sprint(tt.want) || string(rest) != tt.rest {
				t.Errorf("got %v rest %q\nwant %v rest %q", frames, rest, tt.want, tt.rest)
			}
		})
	}
}

// TestNextLongLine checks the bound on newline mode: a line with no LF within
// MaxLineLen+1 bytes is cut at MaxLineLen, so NeedMore never holds more bytes.
func TestNextLongLine(t *testing.T) {
	line := bytes.Repeat([]byte("y"), 3*MaxLineLen+7)
	if _, _, k := Next(line[:MaxLineLen]); k != NeedMore {
		t.Fatalf("Next(%d bytes, no LF) = %v, want NeedMore", MaxLineLen, k)
	}
	msg, n, k := Next(line[:MaxLineLen+1])
	if k != Malformed || n != MaxLineLen || len(msg) != MaxLineLen {
		t.Fatalf("Next(%d bytes) = %v n=%d len=%d, want Malformed cut at %d", MaxLineLen+1, k, n, len(msg), MaxLineLen)
	}
	frames, rest := splitAll(append(line, '\n'))
	want := []got{{Malformed, string(line[:MaxLineLen])}, {Malformed, string(line[:MaxLineLen])},
		{Malformed, string(line[:MaxLineLen])}, {Malformed, string(line[:7])}}
	if fmt.Sprint(frames) != fmt.Sprint(want) || len(rest) != 0 {
		t.Errorf("got %d frames, rest %d; want 4 (3 cut + 7 bytes)", len(frames), len(rest))
	}
	// A line of exactly MaxLineLen bytes plus LF is one frame.
	exact := append(bytes.Repeat([]byte("z"), MaxLineLen), '\n')
	if msg, n, k := Next(exact); k != Malformed || n != MaxLineLen+1 || len(msg) != MaxLineLen {
		t.Errorf("Next(MaxLineLen + LF) = %v n=%d len=%d", k, n, len(msg))
	}
	// Six digits are never scanned past.
	digits := bytes.Repeat([]byte("9"), MaxLineLen+1)
	if _, n, k := Next(digits); k != Malformed || n != MaxLineLen {
		t.Errorf("Next(digits) = %v n=%d, want a cut Malformed", k, n)
	}
}

// TestNextCapped checks that a returned msg cannot be appended into the bytes after it.
func TestNextCapped(t *testing.T) {
	buf := []byte("1 a1 b")
	msg, _, _ := Next(buf)
	_ = append(msg, 'X')
	if string(buf) != "1 a1 b" {
		t.Errorf("append to msg overwrote buf: %q", buf)
	}
}

// splitStream is a stream of many frames of many sizes, including the largest
// counted frame and malformed lines between good ones.
func splitStream() []byte {
	var b bytes.Buffer
	for i := range 40 {
		msg := fmt.Sprintf("<134>1 2012-12-10T03:00:48Z host t.tok web.%d - - message %d %s", i, i, strings.Repeat("m", i*7))
		b.WriteString(framed(msg))
		switch i % 10 {
		case 3:
			b.WriteString("<134>1 a newline-delimited line\r\n")
		case 5:
			if i == 15 {
				b.WriteString(framed(strings.Repeat("L", MaxFrameLen)))
			}
		case 7:
			b.WriteString("10241 too long, newline mode\n\n")
		case 9:
			b.WriteString("1 x2 \n\n99short line\n")
		}
	}
	return b.Bytes()
}

// accumulator is how a connection uses Next: append each read, take frames.
type accumulator struct {
	buf    []byte
	frames []got
}

func (a *accumulator) feed(p []byte) {
	a.buf = append(a.buf, p...)
	frames, rest := splitAll(a.buf)
	a.frames = append(a.frames, frames...)
	a.buf = append(a.buf[:0], rest...)
}

// TestSplitEveryOffset feeds the stream in two reads split at every offset,
// and in random small reads, and wants exactly the frames of one whole read.
func TestSplitEveryOffset(t *testing.T) {
	stream := splitStream()
	want, rest := splitAll(stream)
	if len(rest) != 0 || len(want) < 60 {
		t.Fatalf("whole stream: %d frames, %d bytes left", len(want), len(rest))
	}
	step := 1
	if testing.Short() {
		step = 97
	}
	var a accumulator
	for i := 0; i <= len(stream); i += step {
		a.frames, a.buf = a.frames[:0], a.buf[:0]
		a.feed(stream[:i])
		a.feed(stream[i:])
		if len(a.buf) != 0 || !slices.Equal(a.frames, want) {
			t.Fatalf("split at %d: %d frames, %d bytes left; want %d frames", i, len(a.frames), len(a.buf), len(want))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a.frames, a.buf = a.frames[:0], a.buf[:0]
		for p := stream; len(p) > 0; {
			n := min(len(p), 1+r.IntN(300))
			a.feed(p[:n])
			p = p[n:]
		}
		if len(a.buf) != 0 || !slices.Equal(a.frames, want) {
			t.Fatalf("random reads: %d frames, want %d", len(a.frames), len(want))
		}
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, size := range []int{1, 9, 10, 99, 100, 120, 9999, 10000, MaxFrameLen} {
		msg := bytes.Repeat([]byte{'\n'}, size)
		buf := AppendFrame([]byte("prefix"), msg)
		if !bytes.HasPrefix(buf, []byte("prefix"+strconv.Itoa(size)+" ")) {
			t.Fatalf("AppendFrame(%d) header = %q", size, buf[:12])
		}
		got, n, k := Next(buf[len("prefix"):])
		if k != Message || n != len(buf)-len("prefix") || !bytes.Equal(got, msg) {
			t.Errorf("round trip of %d bytes: %v n=%d len=%d", size, k, n, len(got))
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{NeedMore: "NeedMore", Message: "Message", Malformed: "Malformed", 9: "Kind(?)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

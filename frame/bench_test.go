package frame

import (
	"fmt"
	"strconv"
	"testing"
)

// benchStream is n octet-counted frames of 120 bytes each.
func benchStream(n int) []byte {
	var buf []byte
	for i := range n {
		msg := fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z erlang t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42 web.%d - - m", i%10)
		for len(msg) < 120 {
			msg += "x"
		}
		buf = AppendFrame(buf, []byte(msg))
	}
	return buf
}

func BenchmarkNext(b *testing.B) {
	stream := benchStream(1000)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for buf := stream; len(buf) > 0; {
			msg, n, _ := Next(buf)
			sinkBytes, buf = msg, buf[n:]
		}
	}
}

// BenchmarkRoutePath is the ingest hot path per message: cut the frame, find
// the token, copy the message rewritten into a batch buffer.
func BenchmarkRoutePath(b *testing.B) {
	stream := benchStream(1000)
	name := []byte("app")
	batch := make([]byte, 0, len(stream))
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		batch = batch[:0]
		for buf := stream; len(buf) > 0; {
			msg, n, _ := Next(buf)
			if start, end, ok := AppName(msg); ok && HasTokenPrefix(msg[start:end]) {
				batch = AppendCooked(batch, msg, start, end, name)
			}
			buf = buf[n:]
		}
	}
	sinkBytes = batch
}

var benchMsg = []byte(`<134>1 2012-12-10T03:00:48.123456Z erlang app web.1 - [meta sequenceId="518"] at=info method=GET path="/" status=200 bytes=1234`)

func BenchmarkParseDrain(b *testing.B) {
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	for b.Loop() {
		sinkFields, sinkBool = ParseDrain(benchMsg)
	}
}

func BenchmarkAppendHTTPDrain(b *testing.B) {
	f, _ := ParseDrain(benchMsg)
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendHTTPDrain(dst[:0], f)
	}
	sinkBytes = dst
}

// BenchmarkHTTPDrainHead is the router's per-message cost of reading a
// message's head (for the token) and formatting its HTTP drain frame.
func BenchmarkHTTPDrainHead(b *testing.B) {
	dst, scratch := make([]byte, 0, 512), []byte(nil)
	var h Head
	b.SetBytes(int64(len(benchTokenMsg)))
	b.ReportAllocs()
	for b.Loop() {
		h.Read(benchTokenMsg)
		dst, sinkBool = AppendHTTPDrainHead(dst[:0], &scratch, benchTokenMsg, &h, "app")
	}
	sinkBytes = dst
}

// BenchmarkHeadRead is Head.Read alone (AppName's job, for a message that
// goes to history only).
func BenchmarkHeadRead(b *testing.B) {
	var h Head
	b.SetBytes(int64(len(benchTokenMsg)))
	for b.Loop() {
		sinkBool = h.Read(benchTokenMsg)
	}
}

// appendLen matches strconv for every length it writes by hand and past them.
func TestAppendLenMatchesStrconv(t *testing.T) {
	for n := -2; n <= 20010; n++ {
		got := string(appendLen([]byte("x"), n))
		if want := "x" + strconv.Itoa(n) + " "; got != want {
			t.Fatalf("appendLen(%d) = %q, want %q", n, got, want)
		}
	}
}

// appendPri and priLen match strconv for every PRI they write by hand and
// past them.
func TestAppendPriMatchesStrconv(t *testing.T) {
	for _, n := range append([]int{-2, -1, 1 << 30, 1<<31 - 1}, func() (ns []int) {
		for n := range 2010 {
			ns = append(ns, n)
		}
		return ns
	}()...) {
		got := string(appendPri([]byte("x"), n))
		if want := "x<" + strconv.Itoa(n) + ">1 "; got != want || priLen(n) != len(want)-1 {
			t.Fatalf("appendPri(%d) = %q (priLen %d), want %q", n, got, priLen(n), want)
		}
	}
}

// benchTokenMsg is a message as the bench suite's generator sends it.
var benchTokenMsg = []byte("<134>1 2026-01-02T03:04:05Z host t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42 web.1 - - |0000000000000001000100000001000001|abcdefghijklmnopqrstuvwx")

func BenchmarkParseDrainToken(b *testing.B) {
	b.SetBytes(int64(len(benchTokenMsg)))
	for b.Loop() {
		sinkFields, sinkBool = ParseDrain(benchTokenMsg)
	}
}

func BenchmarkAppNameToken(b *testing.B) {
	b.SetBytes(int64(len(benchTokenMsg)))
	for b.Loop() {
		sinkInt, _, sinkBool = AppName(benchTokenMsg)
	}
}

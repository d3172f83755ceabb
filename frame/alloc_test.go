package frame

import (
	"testing"
	"time"
)

// Sinks keep results alive so the compiler cannot drop the calls.
var (
	sinkBytes  []byte
	sinkInt    int
	sinkBool   bool
	sinkFields Fields
)

// TestZeroAllocs proves every per-message function allocates nothing once the
// destination has room.
func TestZeroAllocs(t *testing.T) {
	raw := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42 console.1 - [a=\"\\]\"] Logsplat test message 1")
	stream := AppendFrame(nil, raw)
	stream = append(stream, "a malformed line\r\n"...)
	f, ok := ParseDrain(raw)
	if !ok {
		t.Fatal("ParseDrain failed")
	}
	start, end, _ := AppName(raw)
	name, dtok := []byte("app"), []byte("d.fc6b856b-3332-4546-93de-7d0ee272c3bd")
	now, since := time.Date(2013, 1, 1, 0, 0, 10, 0, time.UTC), time.Date(2013, 1, 1, 0, 0, 5, 0, time.Local)
	dst, scratch := make([]byte, 0, 4096), make([]byte, 0, 4096)
	var head Head
	head.Read(raw)
	funcs := map[string]func(){
		"Next": func() {
			for buf := stream; len(buf) > 0; {
				msg, n, _ := Next(buf)
				sinkBytes, buf = msg, buf[n:]
			}
		},
		"AppName":           func() { sinkInt, _, sinkBool = AppName(raw) },
		"HasTokenPrefix":    func() { sinkBool = HasTokenPrefix(raw[start:end]) },
		"AppendCooked":      func() { sinkBytes = AppendCooked(dst[:0], raw, start, end, name) },
		"ParseDrain":        func() { sinkFields, sinkBool = ParseDrain(raw) },
		"ParseSession":      func() { sinkFields, sinkBool = ParseSession(raw) },
		"AppendFrame":       func() { sinkBytes = AppendFrame(dst[:0], raw) },
		"AppendSyslogDrain": func() { sinkBytes = AppendSyslogDrain(dst[:0], f, dtok) },
		"AppendHTTPDrain":   func() { sinkBytes = AppendHTTPDrain(dst[:0], f) },
		"AppendV3Log":       func() { sinkBytes = AppendV3Log(dst[:0], f) },
		"Head.Read":         func() { sinkBool = head.Read(raw) },
		"AppendHTTPDrainHead": func() {
			sinkBytes, sinkBool = AppendHTTPDrainHead(dst[:0], &scratch, raw, &head, "app")
		},
		"AppendHTTPDrainHead/name with a space": func() {
			sinkBytes, sinkBool = AppendHTTPDrainHead(dst[:0], &scratch, raw, &head, "my app")
		},
		"AppendSessionLine": func() { sinkBytes = AppendSessionLine(dst[:0], f) },
		"AppendDate":        func() { sinkBytes = AppendDate(dst[:0], since) },
		"AppendL10Syslog":   func() { sinkBytes = AppendL10Syslog(dst[:0], now, dtok, 3, since) },
		"AppendL10HTTP":     func() { sinkBytes = AppendL10HTTP(dst[:0], now, 3, since) },
		"AppendL11":         func() { sinkBytes = AppendL11(dst[:0], now, 3, since) },
		"AppendL14":         func() { sinkBytes = AppendL14(dst[:0], now, dtok, name, "handshake failure", "syslog+tls://h:1/") },
		"AppendL20":         func() { sinkBytes = AppendL20(dst[:0], now) },
		"MatchPS":           func() { sinkBool = MatchPS(f.PS, name) },
		"MatchSource":       func() { sinkBool = MatchSource(f.Source, name) },
	}
	for name, fn := range funcs {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}

package drain

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// slSink accepts connections on 127.0.0.1 and counts the bytes it reads,
// allocating nothing per read.
type slSink struct {
	ln    net.Listener
	bytes atomic.Int64
}

func newSLSink(t testing.TB) *slSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &slSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					s.bytes.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return s
}

// slBatch returns n copies of msg in one buffer, as the router hands them
// over.
func slBatch(msg []byte, n int) ([]byte, []Span) {
	var buf []byte
	spans := make([]Span, n)
	for i := range spans {
		spans[i] = Span{Off: uint32(len(buf)), End: uint32(len(buf) + len(msg))}
		buf = append(buf, msg...)
	}
	return buf, spans
}

// The send path allocates nothing per message or per batch once warm.
func TestSyslogSendAllocs(t *testing.T) {
	if syslogRaceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	sink := newSLSink(t)
	// A ring's slot buffers are allocated on first use: 64 slots warm up
	// within the first runs.
	r := newSLDrain(t, Options{TCPBufferSize: 64}, "syslog://"+sink.ln.Addr().String()+"/", time.Second)
	r.s.connect(context.Background())
	if r.s.conn == nil {
		t.Fatal("not connected")
	}
	buf, spans := slBatch(slMsg(1), 30)
	now := time.Now().UnixNano()
	for range 4 {
		r.d.Buf.PushBatch(buf, spans, now)
		for r.s.sendBatch() {
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		r.d.Buf.PushBatch(buf, spans, now)
		for r.s.sendBatch() {
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per 30-message push and send, want 0", allocs)
	}
	if r.s.conn == nil || r.d.Stats.Delivered.Get() == 0 {
		t.Errorf("nothing delivered (last error %q)", r.d.Stats.LastError())
	}
}

// BenchmarkSyslogDrain pushes messages through one TCP drain to a local
// sink, 256 per batch as the router would; one op is one message.
func BenchmarkSyslogDrain(b *testing.B) {
	sink := newSLSink(b)
	r := startSL(b, Options{TCPBufferSize: 1 << 16}, "syslog://"+sink.ln.Addr().String()+"/", time.Second)
	msg := slMsg(1)
	buf, spans := slBatch(msg, 256)
	b.SetBytes(int64(len(slFrame(1))))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for pushed := 0; pushed < b.N; {
		k := min(len(spans), b.N-pushed)
		for pushed-int(r.d.Stats.Delivered.Get()) > 1<<15 {
			time.Sleep(20 * time.Microsecond) // keep the buffer from overflowing
		}
		r.d.Buf.PushBatch(buf, spans[:k], time.Now().UnixNano())
		pushed += k
	}
	slWaitFor(b, time.Minute, "delivery", func() bool { return int(r.d.Stats.Delivered.Get()) == b.N })
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	if d := r.d.Stats.Dropped.Get(); d != 0 {
		b.Fatalf("%d dropped", d)
	}
}

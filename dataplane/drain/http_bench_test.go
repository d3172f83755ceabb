package drain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
)

// fastEndpoint is a fasthttp drain endpoint that counts messages
// (Logplex-Msg-Count) and signals each request.
type fastEndpoint struct {
	addr string
	msgs atomic.Int64
	reqs atomic.Int64
	got  chan struct{} // capacity 1: a request was answered
}

func newFastEndpoint(tb testing.TB) *fastEndpoint {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	e := &fastEndpoint{addr: ln.Addr().String(), got: make(chan struct{}, 1)}
	srv := &fasthttp.Server{NoDefaultServerHeader: true, ReadBufferSize: 16 << 10, Handler: func(ctx *fasthttp.RequestCtx) {
		n, _ := strconv.Atoi(string(ctx.Request.Header.Peek("Logplex-Msg-Count")))
		e.msgs.Add(int64(n))
		e.reqs.Add(1)
		select {
		case e.got <- struct{}{}:
		default:
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return e
}

// logLines returns n realistic cooked log messages (router, nginx, JSON,
// postgres and logfmt lines with random ids, addresses and timings).
func logLines(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 42))
	paths := []string{"/", "/api/v1/users", "/api/v1/orders", "/assets/app.js", "/login", "/healthz", "/search"}
	out := make([][]byte, n)
	for i := range out {
		ts := fmt.Sprintf("2024-05-01T12:%02d:%02d.%06d+00:00", r.IntN(60), r.IntN(60), r.IntN(1e6))
		uuid := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<16), r.Uint64()&(1<<48-1))
		ip := fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), r.IntN(256))
		path := paths[r.IntN(len(paths))]
		var m string
		switch r.IntN(5) {
		case 0:
			m = fmt.Sprintf(`<158>1 %s host heroku router - - at=info method=GET path="%s/%d" host=myapp.herokuapp.com request_id=%s fwd="%s" dyno=web.%d connect=%dms service=%dms status=%d bytes=%d protocol=https`,
				ts, path, r.IntN(100000), uuid, ip, 1+r.IntN(4), r.IntN(5), r.IntN(900), []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(90000))
		case 1:
			m = fmt.Sprintf(`<190>1 %s host app web.%d - - %s - - [01/May/2024:12:00:%02d +0000] "GET %s HTTP/1.1" 200 %d "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"`,
				ts, 1+r.IntN(4), ip, r.IntN(60), path, r.IntN(90000))
		case 2:
			m = fmt.Sprintf(`<190>1 %s host app worker.%d - - {"level":"info","ts":%d.%03d,"msg":"processed job","job_id":"%s","queue":"default","duration_ms":%d.%d,"attempt":%d}`,
				ts, 1+r.IntN(3), 1714564800+r.IntN(3600), r.IntN(1000), uuid, r.IntN(2000), r.IntN(10), 1+r.IntN(3))
		case 3:
			m = fmt.Sprintf(`<134>1 %s host app postgres.%d - - [DATABASE] [%d-1]  sql_error_code = 00000 LOG:  duration: %d.%03d ms  statement: SELECT "users".* FROM "users" WHERE "users"."id" = %d LIMIT 1`,
				ts, 1000+r.IntN(9000), r.IntN(100), r.IntN(500), r.IntN(1000), r.IntN(1000000))
		default:
			m = fmt.Sprintf(`<134>1 %s host app web.%d - - level=warn msg="slow request" trace_id=%016x span_id=%08x user=%d elapsed=%dms`,
				ts, 1+r.IntN(4), r.Uint64(), r.Uint32(), r.IntN(100000), 500+r.IntN(5000))
		}
		out[i] = []byte(m)
	}
	return out
}

// benchBatch is one PushBatch worth of messages.
type benchBatch struct {
	buf   []byte
	spans []Span
}

// newBenchBatch makes a batch of cooked messages in form f.
func newBenchBatch(f Form, msgs [][]byte) benchBatch {
	var b benchBatch
	for _, m := range msgs {
		off := len(b.buf)
		var ok bool
		if b.buf, ok = AppendForm(b.buf, m, f); ok {
			b.spans = append(b.spans, Span{Off: uint32(off), End: uint32(len(b.buf))})
		}
	}
	return b
}

// feed pushes n messages into drains, round robin, keeping at most limit
// messages buffered per drain (so none is dropped), and waits until the
// endpoint has them all. It returns the time taken.
func feed(tb testing.TB, ep *fastEndpoint, drains []*Drain, n, limit int, batch benchBatch) time.Duration {
	start := time.Now()
	base := ep.msgs.Load()
	for pushed := 0; pushed < n; {
		progress := false
		for _, d := range drains {
			if pushed >= n {
				break
			}
			k := min(len(batch.spans), n-pushed)
			if _, _, held := d.Buf.Stats(); held+k > limit {
				continue
			}
			d.Buf.PushBatch(batch.buf, batch.spans[:k], 0)
			pushed += k
			progress = true
		}
		if !progress {
			select {
			case <-ep.got:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for ep.msgs.Load()-base < int64(n) {
		if time.Now().After(deadline) {
			tb.Fatalf("endpoint got %d of %d messages", ep.msgs.Load()-base, n)
		}
		select {
		case <-ep.got:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Since(start)
}

func reportFeed(b *testing.B, n int, took time.Duration, m0 *runtime.MemStats) {
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/msg")
}

// BenchmarkHTTPDrain measures messages per second through one drain to a
// local fasthttp endpoint; one op is one message.
func BenchmarkHTTPDrain(b *testing.B) {
	for _, coding := range []string{"", "gzip", "zstd"} {
		name := coding
		if name == "" {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			ep := newFastEndpoint(b)
			d := startHTTP(b, Options{}, "http://"+ep.addr+"/logs", coding)
			batch := newBenchBatch(FormHTTP, logLines(100, 1))
			feed(b, ep, []*Drain{d}, 10000, 1024, batch) // warm up: connection, pools
			var m0 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ReportAllocs()
			b.SetBytes(int64(len(batch.buf) / len(batch.spans)))
			b.ResetTimer()
			took := feed(b, ep, []*Drain{d}, b.N, 1024, batch)
			b.StopTimer()
			reportFeed(b, b.N, took, &m0)
		})
	}
}

// BenchmarkHTTPDrains1000 measures the same with 1000 drains (1000
// channels of one drain each, run by a Manager) to one endpoint, each with
// up to 100 messages buffered. The buffers hold 128 messages, so the
// warm-up touches every ring slot once (a slot allocates on first use).
func BenchmarkHTTPDrains1000(b *testing.B) {
	const drains = 1000
	ep := newFastEndpoint(b)
	m := NewManager(testOptions(Options{StopGrace: time.Second, HTTPBufferSize: 128}))
	hashes := map[string]config.Hash{}
	var ids []string
	for i := range drains {
		ch := fmt.Sprintf("c%d", i)
		id := httpNextID.Add(1)
		ids = append(ids, ch)
		hashes[config.ChannelKey(ch)] = config.ChannelHash(ch, "")
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: ch, Token: httpTestToken,
			URL: fmt.Sprintf("http://%s/d/%d", ep.addr, i)})
	}
	m.Update(config.Build(hashes, false, "1"))
	defer m.Close(context.Background())
	var ds []*Drain
	for _, ch := range ids {
		ds = append(ds, m.ForChannel(ch)...)
	}
	if len(ds) != drains {
		b.Fatalf("manager runs %d drains, want %d", len(ds), drains)
	}
	batch := newBenchBatch(FormHTTP, logLines(20, 2))
	feed(b, ep, ds, 200*drains, 100, batch) // warm up: 1000 connections, ring slots
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	took := feed(b, ep, ds, b.N, 100, batch)
	b.StopTimer()
	reportFeed(b, b.N, took, &m0)
	b.ReportMetric(float64(ep.reqs.Load()), "requests")
}

// BenchmarkHTTPCompress reports the compression ratio and CPU time per MB
// of a 100 KB drain body of realistic log lines.
func BenchmarkHTTPCompress(b *testing.B) {
	var raw []byte
	for _, m := range logLines(2000, 3) {
		s := fmt.Sprintf("%d %s", len(m), m) // about the HTTP drain frame
		if len(raw)+len(s) > 102400 {
			break
		}
		raw = append(raw, s...)
	}
	// gzip-fasthttp is fasthttp's own helper at the same level, measured
	// against appendGzip (our pooled klauspost writer) before choosing.
	enc := func(dst []byte, coding string) []byte {
		if coding == "gzip-fasthttp" {
			return fasthttp.AppendGzipBytesLevel(dst, raw, fasthttp.CompressBestSpeed)
		}
		return appendCompressed(dst, raw, coding)
	}
	for _, coding := range []string{codingGzip, "gzip-fasthttp", codingZstd} {
		b.Run(coding, func(b *testing.B) {
			var out []byte
			out = enc(out[:0], coding)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				out = enc(out[:0], coding)
			}
			took := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(len(raw))/float64(len(out)), "ratio")
			b.ReportMetric(float64(took.Nanoseconds())/(float64(b.N)*float64(len(raw))/1e6), "ns/MB")
		})
	}
}

// Sending allocates (well) under 0.1 times per message, whole process.
func TestHTTPDrainAllocsPerMessage(t *testing.T) {
	if httpRaceEnabled || testing.Short() {
		t.Skip("allocation counts are only meaningful without -race")
	}
	for _, coding := range []string{"", "gzip", "zstd"} {
		t.Run("coding="+coding, func(t *testing.T) {
			ep := newFastEndpoint(t)
			d := startHTTP(t, Options{}, "http://"+ep.addr+"/logs", coding)
			batch := newBenchBatch(FormHTTP, logLines(100, 1))
			feed(t, ep, []*Drain{d}, 10000, 1024, batch)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			const n = 100000
			feed(t, ep, []*Drain{d}, n, 1024, batch)
			runtime.ReadMemStats(&m1)
			if per := float64(m1.Mallocs-m0.Mallocs) / n; per > 0.1 {
				t.Errorf("%.3f allocations per message, want <= 0.1", per)
			} else {
				t.Logf("%.4f allocations per message", per)
			}
		})
	}
}

// The zero-copy pieces of the send path do not allocate once warm.
func TestHTTPSendPathAllocs(t *testing.T) {
	if httpRaceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	d, s := newHTTPDrain(t, Options{}, "http://127.0.0.1:9/", "gzip")
	batch := newBenchBatch(FormHTTP, logLines(100, 1))
	frame := func() {
		d.Buf.PushBatch(batch.buf, batch.spans, 1)
		if !s.nextFrame() {
			t.Fatal("no frame")
		}
		s.dropped, s.dropSince = 1, time.Unix(1e9, 0) // with an L10 notice
		body, count := s.body(time.Unix(1e9, 0))
		s.conns.head = s.tmpl.appendHead(s.conns.head[:0], len(body), count, s.fr.id[:])
		s.fr.msgs = 0
	}
	for range 2000 { // until every ring slot has grown to hold any message of the batch
		frame()
	}
	allocs := testing.AllocsPerRun(100, frame)
	if allocs != 0 {
		t.Errorf("%v allocations per frame of 100 messages, want 0", allocs)
	}
}

// BenchmarkSparseDrains measures what a request of a drain with sparse
// traffic costs the sending process: 1 000 drains to an endpoint in
// another process (endpointProcessOf: its CPU is not counted), each sent
// its next message only once it delivered the last, so every request
// carries one message and the sender parks between two (a platform's
// typical drain). One op is one request; cpu-us/req is this process's CPU
// time (getrusage) per request. Kinds: HTTP/1.1 and shared cleartext
// HTTP/2, and both over TLS (a connection each, or shared by ALPN).
func BenchmarkSparseDrains(b *testing.B) {
	if httpRaceEnabled {
		b.Skip("CPU figures are not meaningful under -race")
	}
	const drains = 1000
	for _, kind := range []string{"h1", "h2", "tls-h1", "tls-h2"} {
		b.Run(kind, func(b *testing.B) {
			o := Options{StopGrace: time.Second, HTTPIdleTimeout: 10 * time.Minute, TLSInsecure: true}
			scheme := "http"
			switch kind {
			case "h2":
				o.HTTP2 = HTTP2All
			case "tls-h1", "tls-h2":
				scheme, o.HTTP2 = "https", HTTP2TLS
			}
			ep := endpointProcessOf(b, kind)
			m := NewManager(testOptions(o))
			b.Cleanup(func() { m.Close(context.Background()) })
			hashes := map[string]config.Hash{}
			for i := range drains {
				ch := "sparse" + strconv.Itoa(i)
				id := httpNextID.Add(1)
				hashes[config.ChannelKey(ch)] = config.ChannelHash(ch, "")
				hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: ch, Token: httpTestToken,
					URL: fmt.Sprintf("%s://%s/d/%d", scheme, ep, i)})
			}
			m.Update(config.Build(hashes, false, "1"))
			var ds []*Drain
			for i := range drains {
				ds = append(ds, m.ForChannel("sparse"+strconv.Itoa(i))...)
			}
			batch := newBenchBatch(FormHTTP, logLines(1, 4))
			sent := make([]uint64, drains)
			send := func(n int) {
				deadline := time.Now().Add(time.Minute)
				for pushed := 0; pushed < n; {
					progress := false
					for i, d := range ds {
						if pushed < n && d.Stats.Delivered.Get() == sent[i] {
							d.Buf.PushBatch(batch.buf, batch.spans, 0)
							sent[i]++
							pushed++
							progress = true
						}
					}
					if !progress {
						if time.Now().After(deadline) {
							b.Fatalf("no delivery for a minute: %+v", ds[0].Status())
						}
						time.Sleep(200 * time.Microsecond)
					}
				}
				for i, d := range ds { // the last ones delivered too
					for d.Stats.Delivered.Get() != sent[i] {
						if time.Now().After(deadline) {
							b.Fatalf("drain %d delivered %d of %d", i, d.Stats.Delivered.Get(), sent[i])
						}
						time.Sleep(200 * time.Microsecond)
					}
				}
			}
			send(2 * drains) // warm up: connections, ring slots
			cpu0 := cpuTime()
			b.ResetTimer()
			send(b.N)
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/req")
		})
	}
}

// cpuTime is the CPU time this process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

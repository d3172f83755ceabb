package e2e

import (
	"testing"
	"time"
)

// TestHTTP2DrainsThroughBinary: with --http-drain-http2=all, the drains of
// four channels to one receiver that speaks HTTP/2 share one connection
// through the real binary, and 503s are retried on it: every message
// arrives, every request over HTTP/2.
func TestHTTP2DrainsThroughBinary(t *testing.T) {
	sink := StartHTTPSinkH2(t)
	sink.SetStatus(func(n int) int {
		if n == 3 || n == 4 { // at most two failures for one frame: none runs out of its 3 tries
			return 503
		}
		return 200
	})
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--http-drain-http2", "all",
		"--http-reconnect-time", "1", "--drain-status-interval", "50ms")
	const channels, n = 4, 500
	sendToDrains(t, p, []*HTTPSink{sink, sink, sink, sink}, n)
	Eventually(t, 20*time.Second, "every message at the receiver or reported lost", func() bool {
		got, _ := sink.CountRange(0, channels*n)
		return got+sink.Reported() >= channels*n
	})
	if lost := sink.Reported(); lost > 0 {
		t.Errorf("%d messages reported lost, want none", lost)
	}
	byProto, conns := sink.Transport()
	if byProto[1] != 0 || byProto[2] < 5 || conns != 1 {
		t.Errorf("requests by HTTP version %v on %d connections, want HTTP/2 only (the 503s and more), on one", byProto, conns)
	}
}

// TestHTTPSDrainsShareHTTP2ByDefault: at the default settings https drains
// to a receiver that selects h2 by ALPN share one HTTP/2 connection
// (--http-drain-http2 tls), and those to a receiver that offers only
// HTTP/1.1 use it, a connection each. Every message arrives.
func TestHTTPSDrainsShareHTTP2ByDefault(t *testing.T) {
	h2, h1 := StartHTTPSinkTLS(t, true), StartHTTPSinkTLS(t, false)
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--drain-status-interval", "50ms")
	const n = 200
	sendToDrains(t, p, []*HTTPSink{h2, h2, h2, h1, h1}, n)
	for _, w := range []struct {
		sink   *HTTPSink
		from   int
		drains int
	}{{h2, 0, 3}, {h1, 3 * n, 2}} {
		Eventually(t, 20*time.Second, "every message at its receiver", func() bool {
			got, _ := w.sink.CountRange(w.from, w.from+w.drains*n)
			return got == w.drains*n
		})
	}
	if byProto, conns := h2.Transport(); byProto[1] != 0 || byProto[2] == 0 || conns != 1 {
		t.Errorf("the h2 receiver: requests by HTTP version %v on %d connections, want HTTP/2 only, on one", byProto, conns)
	}
	if byProto, conns := h1.Transport(); byProto[2] != 0 || byProto[1] == 0 || conns != 2 {
		t.Errorf("the HTTP/1.1 receiver: requests by HTTP version %v on %d connections, want HTTP/1.1 only, one per drain", byProto, conns)
	}
}

// sendToDrains makes a channel per sink with a drain to it, waits until
// each drain runs, and sends each channel n messages over TCP, 50 at a
// time, channel c's numbered from c*n.
func sendToDrains(t *testing.T, p *Proc, sinks []*HTTPSink, n int) {
	t.Helper()
	toks := make([]string, len(sinks))
	for c, sink := range sinks {
		ch, tok := createChannel(t, p, "app")
		addRunningDrain(t, p, ch, sink.URL)
		toks[c] = tok
	}
	for i := 0; i < n; i += 50 {
		for c, tok := range toks {
			sendTCP(t, p.Syslog, tok, c*n+i, c*n+i+50, nil)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

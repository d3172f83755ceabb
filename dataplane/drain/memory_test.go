package drain

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
)

// TestIdleDrainMemory: configured drains that have had no traffic cost
// little memory and no goroutine (issue 15: "an idle drain costs no CPU
// and little memory, goal <= 4 KiB each"): 10 000 drains (HTTP, with a
// quarter syslog and a quarter OTLP) to a live endpoint; heap and stack
// growth from Manager.Update on (the config snapshot is built before and
// kept alive, so it is not counted: it exists whether drains run or not)
// and the goroutines that are left once Update returned. Measured on the
// 2-core dev machine: 13.3 KiB and a goroutine per drain while every drain
// ran its sender from the start (of which 4.0 KiB stacks, 2.2 KiB the HTTP
// sender with the fasthttp request and response it had then, 1.5 KiB metric series,
// 0.9 KiB timers); 0.7 KiB and none with the sender made and run on the
// first message; 1.2 KiB later, 1.1 KiB once the drain's two contexts
// were no longer context.WithCancel pairs (stopctx.go).
func TestIdleDrainMemory(t *testing.T) {
	if httpRaceEnabled {
		t.Skip("memory figures are not meaningful under -race")
	}
	const drains = 10000
	ep := newFastEndpoint(t)
	url := func(i int) string {
		switch i % 4 {
		case 1:
			return fmt.Sprintf("syslog://%s/", ep.addr)
		case 2:
			return fmt.Sprintf("otlp+http://%s/v1/logs/%d", ep.addr, i)
		}
		return fmt.Sprintf("http://%s/d/%d", ep.addr, i)
	}
	per, goroutines := drainMemory(t, Options{StopGrace: time.Second, MaxDrainSeries: 2 * drains}, drains, "m", url,
		func(m *Manager) {
			time.Sleep(100 * time.Millisecond) // anything a drain would start, started
			if n := len(m.Table().For("m0")); n != 1 {
				t.Fatalf("channel m0 has %d drains running", n)
			}
		})
	t.Logf("%d idle drains: %.2f KiB each (heap + stacks), %d goroutines more", drains, per/1024, goroutines)
	if per > 4<<10 {
		t.Errorf("an idle drain costs %.2f KiB, want <= 4 KiB", per/1024)
	}
	if goroutines > 10 {
		t.Errorf("%d idle drains run %d goroutines, want none each", drains, goroutines)
	}
}

// TestWentIdleDrainMemory: a drain that had traffic and went idle costs as
// little as one that never had any, once its connection closed: 2 000 HTTP
// drains each deliver a message to an endpoint in another process (its
// goroutines and buffers are not the drains'), their keep-alive
// connections close (idle timeout 50 ms here), the senders are let go;
// heap and stack growth from before Update on (two collections: sync.Pool
// caches emptied), and goroutines left. Measured on the 2-core dev machine:
// 2.5–2.8 KiB each (of which ~1 KiB the configured drain, 1.5 KiB the
// metric series of each of the first 1 000 drains); 3.2–3.8 KiB while a
// drain's two contexts were context.WithCancel pairs (stopctx.go), 3.9–4.4
// KiB with the endpoint in this process; 28.9 KiB and two goroutines
// each (the sender's and the fasthttp idle cleaner it had then) while every sender kept
// running on its connection, ~10 KiB with the sender kept once the
// connection closed.
func TestWentIdleDrainMemory(t *testing.T) {
	if httpRaceEnabled {
		t.Skip("memory figures are not meaningful under -race")
	}
	const drains = 2000
	ep := endpointProcess(t)
	o := Options{StopGrace: time.Second, HTTPIdleTimeout: 50 * time.Millisecond, HTTPIdleFuzz: time.Millisecond}
	run := func(n int, prefix string) (float64, int) {
		return afterOneMessage(t, o, n, prefix, func(i int) string { return fmt.Sprintf("http://%s/d/%d", ep, i) },
			"every drain delivered, disconnected and let its sender go",
			func(d *Drain) bool { return !d.Status().Connected && parked(d) && letGo(d) }, 0)
	}
	run(200, "warm") // what the first drains of a process make once (pools, the network poller's tables)
	per, goroutines := run(drains, "w")
	t.Logf("%d drains idle after a message: %.2f KiB each (heap + stacks), %d goroutines more", drains, per/1024, goroutines)
	if per > 4<<10 {
		t.Errorf("a drain gone idle costs %.2f KiB, want <= 4 KiB", per/1024)
	}
	if goroutines > 10 {
		t.Errorf("%d idle drains run %d goroutines, want none each", drains, goroutines)
	}
}

// drainMemory runs n drains with options o (drain i on channel prefix+i,
// to url(i)), calls then, and returns the heap and stack growth per drain
// from before the drains started (the config snapshot excluded: it exists
// whether drains run or not; two collections: sync.Pool caches emptied)
// and the goroutines left.
func drainMemory(t *testing.T, o Options, n int, prefix string, url func(i int) string, then func(*Manager)) (per float64, goroutines int) {
	t.Helper()
	m := NewManager(testOptions(o))
	t.Cleanup(func() { m.Close(context.Background()) })
	hashes := map[string]config.Hash{}
	for i := range n {
		ch := prefix + strconv.Itoa(i)
		id := httpNextID.Add(1)
		hashes[config.ChannelKey(ch)] = config.ChannelHash(ch, "")
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: ch, Token: httpTestToken, URL: url(i)})
	}
	snap := config.Build(hashes, false, "1")
	hashes = nil
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	m.Update(snap)
	then(m)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(snap)
	per = float64(int64(m1.HeapInuse)+int64(m1.StackInuse)-int64(m0.HeapInuse)-int64(m0.StackInuse)) / float64(n)
	return per, runtime.NumGoroutine() - g0
}

// afterOneMessage is drainMemory for n drains that each get one message:
// it waits until each has delivered it and settled says it is in the state
// measured, then for linger.
func afterOneMessage(t *testing.T, o Options, n int, prefix string, url func(i int) string, what string,
	settled func(*Drain) bool, linger time.Duration) (per float64, goroutines int) {
	t.Helper()
	return drainMemory(t, o, n, prefix, url, func(m *Manager) {
		for i := range n {
			push(m.Table().For(prefix + strconv.Itoa(i))[0], testMsg(i))
		}
		waitFor(t, 60*time.Second, what, func() bool {
			k := 0
			m.Each(func(d *Drain) {
				if d.Stats.Delivered.Get() == 1 && settled(d) {
					k++
				}
			})
			return k == n
		})
		time.Sleep(linger)
	})
}

// TestConnectedDrainMemory: what an active drain costs between two
// requests, its keep-alive connection open (a platform's busy drains,
// most of the time): 2 000 HTTP drains each deliver a message to an
// endpoint in another process (its memory is not the drains') and stay
// connected (10 min idle timeout), their senders parked; heap and stack
// growth from before Update on, after two collections (sync.Pool caches
// emptied), and goroutines left. Measured on the 2-core dev machine
// (-count 3): 12.9–16.0 KiB and a goroutine each with the
// fasthttp.HostClient the drains used before (its read and write buffers,
// request and response objects, its idle cleaner's goroutine); 7.4–8.9
// KiB and none with http_client.go (a pooled reader only during a read,
// an idle-close timer); 6.8–7.3 KiB with stopctx.go; 5.6–6.4 KiB with
// lazyTimer (a sender's timers made when first armed) and the HTTP
// sender's logger made when it first logs.
func TestConnectedDrainMemory(t *testing.T) {
	connectedDrainMemory(t, "h1", Options{StopGrace: time.Second, HTTPIdleTimeout: 10 * time.Minute}, 10)
}

// TestSharedH2DrainMemory is TestConnectedDrainMemory with the drains
// sharing HTTP/2 connections (--http-drain-http2): 2 000 drains on two
// connections. Measured on the 2-core dev machine (-count 3): 6.8–7.4 KiB
// each, against 6.2–7.5 for TestConnectedDrainMemory in the same runs: a
// connected drain's cost is its sender's state, not its connection.
func TestSharedH2DrainMemory(t *testing.T) {
	connectedDrainMemory(t, "h2", Options{StopGrace: time.Second, HTTPIdleTimeout: 10 * time.Minute, HTTP2: HTTP2All}, 10)
}

// TestConnectedTLSDrainMemory is TestConnectedDrainMemory with https
// drains (a platform's are), each on a TLS connection of its own: HTTP/1.1,
// the receiver offering nothing else by ALPN. Measured on the 2-core dev
// machine (-count 3): 19.6–20.1 KiB each, against 5.4–7.1 for
// TestConnectedDrainMemory in the same runs: the TLS connection's state
// and the buffers crypto/tls keeps.
func TestConnectedTLSDrainMemory(t *testing.T) {
	connectedDrainMemory(t, "tls-h1", Options{StopGrace: time.Second, HTTPIdleTimeout: 10 * time.Minute,
		TLSInsecure: true, HTTP2: HTTP2TLS}, 24)
}

// TestSharedH2TLSDrainMemory is TestConnectedTLSDrainMemory with a
// receiver that selects h2 by ALPN (--http-drain-http2's default, tls):
// the drains share its connections. Measured with it: 6.5–6.7 KiB each.
func TestSharedH2TLSDrainMemory(t *testing.T) {
	connectedDrainMemory(t, "tls-h2", Options{StopGrace: time.Second, HTTPIdleTimeout: 10 * time.Minute,
		TLSInsecure: true, HTTP2: HTTP2TLS}, 10)
}

// connectedDrainMemory runs 2 000 drains with options o to an endpoint
// process of kind (endpointProcessOf), each delivers a message and stays
// connected, and checks that each costs at most maxKiB then.
func connectedDrainMemory(t *testing.T, kind string, o Options, maxKiB float64) {
	if httpRaceEnabled {
		t.Skip("memory figures are not meaningful under -race")
	}
	const drains = 2000
	ep := endpointProcessOf(t, kind)
	scheme := "http"
	if strings.HasPrefix(kind, "tls-") {
		scheme = "https"
	}
	per, goroutines := afterOneMessage(t, o, drains, kind, func(i int) string { return fmt.Sprintf("%s://%s/d/%d", scheme, ep, i) },
		"every drain delivered and parked on its open connection",
		func(d *Drain) bool { return d.Status().Connected && parked(d) }, 0)
	t.Logf("%d drains connected (%s) between requests: %.2f KiB each (heap + stacks), %d goroutines more", drains, kind, per/1024, goroutines)
	if per > maxKiB*1024 {
		t.Errorf("a connected drain costs %.2f KiB, want <= %g KiB", per/1024, maxKiB)
	}
	if goroutines > 10 {
		t.Errorf("%d connected drains run %d goroutines, want none each", drains, goroutines)
	}
}

// endpointProcess starts this test binary as an HTTP drain endpoint
// (TestEndpointProcess) and returns its address; it is killed at cleanup.
func endpointProcess(t *testing.T) string { return endpointProcessOf(t, "h1") }

// endpointProcessOf is endpointProcess speaking HTTP/1.1 (kind "h1"),
// cleartext HTTP/2 (kind "h2", net/http's server, 1 000 streams a
// connection), or either over TLS ("tls-h1", "tls-h2": h2 offered by ALPN;
// a self-signed certificate for 127.0.0.1).
func endpointProcessOf(t testing.TB, kind string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestEndpointProcess$")
	cmd.Env = append(os.Environ(), "LOGPLEX_DRAIN_TEST_ENDPOINT="+kind)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("endpoint process: %v", err)
	}
	return line[:len(line)-1]
}

// TestEndpointProcess is the endpoint endpointProcess starts: it answers
// 200 to every request until killed. Run as a test, it does nothing.
func TestEndpointProcess(t *testing.T) {
	if os.Getenv("LOGPLEX_DRAIN_TEST_ENDPOINT") == "" {
		t.Skip("the endpoint of the memory tests, started by them")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	switch kind := os.Getenv("LOGPLEX_DRAIN_TEST_ENDPOINT"); kind {
	case "h2", "tls-h1", "tls-h2":
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
			Protocols: new(http.Protocols), HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}}
		switch kind {
		case "h2":
			srv.Protocols.SetUnencryptedHTTP2(true)
			_ = srv.Serve(ln)
		default:
			srv.Protocols.SetHTTP1(true)
			srv.Protocols.SetHTTP2(kind == "tls-h2")
			srv.TLSConfig = slServerTLS(slLeaf(t, nil))
			_ = srv.ServeTLS(ln, "", "")
		}
		return
	}
	_ = fasthttp.Serve(ln, func(ctx *fasthttp.RequestCtx) {})
}

package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store/embedded"
)

// Reservations fill the budget and refuse beyond it; a request alone always
// fits; memory pressure refuses.
func TestAdmissionBudget(t *testing.T) {
	a := newAdmission(100)
	if !a.take(60, 0) || !a.take(30, 0) {
		t.Fatal("requests within budget refused")
	}
	if a.take(20, 0) {
		t.Fatal("request over budget admitted")
	}
	a.give(30)
	if !a.take(20, 0) {
		t.Fatal("budget not given back")
	}
	a.give(60)
	a.give(20)
	if !a.take(1000, 0) || !a.take(1000, 1000) {
		t.Fatal("a request alone must always fit, and grow")
	}
	a.give(2000)
	if a.inflight.Load() != 0 {
		t.Fatalf("in flight %d after everything was given back", a.inflight.Load())
	}
	a.pressure.Store(true)
	if a.take(1, 0) {
		t.Fatal("memory pressure must refuse")
	}
}

// startHTTP runs a /logs listener with opts on loopback until the test ends.
func startHTTP(t *testing.T, opts HTTPOptions) *HTTP {
	t.Helper()
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
	}, false, "1-0")
	router := route.New(func() *config.Snapshot { return snap }, nil, nil)
	opts.Addr = "127.0.0.1:0"
	h, err := NewHTTP(opts, router, func() bool { return true }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// declare opens a connection that sends a POST /logs declaring n body bytes
// and only the first `send` of them.
func declare(t *testing.T, addr, auth string, n, send int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hdr := "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/logplex-1\r\n"
	if auth != "" {
		hdr += "Authorization: " + auth + "\r\n"
	}
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", hdr, n, strings.Repeat("x", send))
	return c
}

func post100K(t *testing.T, addr string) int {
	t.Helper()
	var body bytes.Buffer
	for i := 0; body.Len() < 100<<10; i++ {
		body.WriteString(octet(msg(i) + strings.Repeat(" pad", 200)))
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/logs", &body)
	req.Header.Set("Authorization", basic("token", tok))
	req.Header.Set("Content-Type", "application/logplex-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// An unauthenticated flood of connections that declare 7 999 999 bytes and
// send one reserves nothing: legitimate 100 KB POSTs are accepted.
// (Admission from Content-Length before authentication answered them 503.)
func TestLogsUnauthenticatedFloodReservesNothing(t *testing.T) {
	h := startHTTP(t, HTTPOptions{InflightBudget: 1 << 20})
	for range 40 {
		declare(t, h.Addr().String(), "", 7_999_999, 1)
		declare(t, h.Addr().String(), basic("token", "t.unknown"), 7_999_999, 9000)
	}
	for i := range 5 {
		if s := post100K(t, h.Addr().String()); s != 204 {
			t.Fatalf("legitimate POST %d during the flood: %d (in flight %d)", i, s, h.adm.inflight.Load())
		}
	}
	if n := h.adm.inflight.Load(); n != 0 {
		t.Fatalf("%d bytes reserved by unauthenticated connections", n)
	}
}

// An authenticated request declaring 7 999 999 bytes holds only its buffer:
// what it sent rounded up (64 KiB), or a pooled buffer (at most 1 MiB),
// not its declared length.
func TestLogsDeclaredLengthNotReserved(t *testing.T) {
	h := startHTTP(t, HTTPOptions{})
	c := declare(t, h.Addr().String(), basic("token", tok), 7_999_999, 9000)
	waitFor(t, "the body read started", func() bool { return h.adm.inflight.Load() > 0 })
	if n := h.adm.inflight.Load(); n > bodyPoolCap {
		t.Fatalf("%d bytes reserved for 9000 sent", n)
	}
	c.Close()
	waitFor(t, "the reservation given back", func() bool { return h.adm.inflight.Load() == 0 })
}

// A body without a single frame is answered 204 (docs/logplex.md §2.2 step 8: a
// trailing incomplete frame is ignored) and counted, bytes and request.
func TestLogsBodyWithoutFrameCounted(t *testing.T) {
	h := startHTTP(t, HTTPOptions{})
	bytes0, reqs0 := logsTrailingBytes.Get(), logsNoFrame.Get()
	c, err := net.Dial("tcp", h.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /logs HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/logplex-1\r\nContent-Length: 11\r\n\r\nhello world", basic("token", tok))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 204 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if logsTrailingBytes.Get()-bytes0 != 11 || logsNoFrame.Get()-reqs0 != 1 {
		t.Fatalf("counted %d bytes, %d requests; want 11, 1", logsTrailingBytes.Get()-bytes0, logsNoFrame.Get()-reqs0)
	}
}

// A sender over MaxFrameIDs is routed without de-duplication (a duplicate
// beats a loss) and counted; ids it recorded before stay duplicates.
func TestLogsFrameIDsBoundedPerSender(t *testing.T) {
	cfg, err := embedded.OpenConfig("")
	if err != nil {
		t.Fatal(err)
	}
	h := startHTTP(t, HTTPOptions{Dedup: cfg, MaxFrameIDs: 2})
	over0 := dedupOverLimit.Get()
	send := func(id string) int {
		req, _ := http.NewRequest("POST", "http://"+h.Addr().String()+"/logs", strings.NewReader(octet(msg(1))))
		req.Header.Set("Authorization", basic("token", tok))
		req.Header.Set("Content-Type", "application/logplex-1")
		req.Header.Set("Logplex-Frame-Id", id)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	dup0 := framesDuplicate.Get()
	for _, id := range []string{"a", "b", "c", "d", "a"} {
		if s := send(id); s != 204 {
			t.Fatalf("id %s: %d", id, s)
		}
	}
	if got := dedupOverLimit.Get() - over0; got != 2 {
		t.Fatalf("over-limit requests counted %d, want 2 (c, d)", got)
	}
	if got := framesDuplicate.Get() - dup0; got != 1 {
		t.Fatalf("duplicates %d, want 1 (a again)", got)
	}
}

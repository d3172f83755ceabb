package route

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/store/embedded"
)

// The router formats HTTP drain frames itself (drain.FormHTTP) and hands
// syslog drains, tails and history the cooked message. On one channel with
// an HTTP drain, a syslog drain, a tail and history, every destination gets
// exactly what formatting the cooked message gives, including for a token
// name that is not one field (the slow path) and for messages the drain
// parser rejects (no drain gets them; history and the tail do).
func TestRouteFormsPerDrainKind(t *testing.T) {
	var mu sync.Mutex
	var bodies []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b...)
		mu.Unlock()
	}))
	defer hs.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	syslogGot := make(chan []byte, 100)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			n, err := br.ReadString(' ')
			if err != nil {
				return
			}
			size, _ := strconv.Atoi(n[:len(n)-1])
			m := make([]byte, size)
			if _, err := io.ReadFull(br, m); err != nil {
				return
			}
			syslogGot <- m
		}
	}()

	const plain, spaced = "t.11111111-1111-1111-1111-111111111111", "t.22222222-2222-2222-2222-222222222222"
	const dtok = "d.33333333-3333-3333-3333-333333333333"
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"):   config.ChannelHash("", ""),
		config.TokenKey(plain):   config.TokenHash("1", "app"),
		config.TokenKey(spaced):  config.TokenHash("1", "my app"),
		config.TailKey("1", "s"): config.TailHash("n"),
		config.DrainKey(1):       config.DrainHash(&config.Drain{ID: 1, ChannelID: "1", Token: dtok, URL: hs.URL + "/"}),
		config.DrainKey(2):       config.DrainHash(&config.Drain{ID: 2, ChannelID: "1", Token: dtok, URL: "syslog://" + ln.Addr().String()}),
	}, false, "1-0")
	m := drain.NewManager(drain.Options{AllowPrivateDrains: true, StopGrace: time.Second})
	m.Update(snap)
	defer m.Close(context.Background())
	sp := embedded.NewSpool(100, 0)
	r := New(func() *config.Snapshot { return snap }, sp, m)
	bus := &recordingBus{}
	r.SetBus(bus)

	raw := []string{
		"<134>1 2012-12-10T03:00:48.123456Z erlang " + plain + " console.1 - - plain name",
		"<134>1 2012-12-10T03:00:48.123456Z erlang " + spaced + " console.1 - - name with a space",
		"<13>1 2012-12-10T03:00:48Z h " + plain + " web.1 - [a b=\"\\]\"] sd",
		"<134>1  2012-12-10T03:00:48Z erlang " + plain + " web.1 - - two spaces: no drain",
		"<134>1 2012-12-10T03:00:48Z erlang " + plain + " web.1 - x no SD: no drain",
	}
	before := ReadCounters()
	b := r.Batch()
	for _, m := range raw {
		b.AddByAppName([]byte(m))
	}
	b.Flush()
	if got := ReadCounters().DrainUnparsable - before.DrainUnparsable; got != 2 {
		t.Errorf("%d messages counted as unparsable for the HTTP drain, want 2", got)
	}

	var wantHTTP []byte
	var wantSyslog, cooked []string
	for _, m := range raw {
		msg := []byte(m)
		s, e, _ := frame.AppName(msg)
		tk := snap.TokenBytes(msg[s:e])
		c := frame.AppendCooked(nil, msg, s, e, []byte(tk.Name))
		cooked = append(cooked, string(c))
		if f, ok := frame.ParseDrain(c); ok {
			wantHTTP = frame.AppendHTTPDrain(wantHTTP, f)
			sl := frame.AppendSyslogDrain(nil, f, []byte(dtok))
			_, body, _ := bytes.Cut(sl, []byte(" "))
			wantSyslog = append(wantSyslog, string(body))
		}
	}
	if len(wantSyslog) != 3 {
		t.Fatalf("%d of the test messages parse, want 3", len(wantSyslog))
	}
	for i, want := range wantSyslog {
		select {
		case got := <-syslogGot:
			if string(got) != want {
				t.Errorf("syslog drain message %d = %q, want %q", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("syslog drain got %d of %d messages", i, len(wantSyslog))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := string(bodies)
		mu.Unlock()
		if got == string(wantHTTP) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTP drain bodies\n%q\nwant\n%q", got, wantHTTP)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := history(t, sp, "1"); len(got) != len(cooked) || got[0] != cooked[0] || got[4] != cooked[4] {
		t.Errorf("history %q, want every cooked message %q", got, cooked)
	}
	if got := bus.msgs["1"]; len(got) != len(cooked) || got[1] != cooked[1] || got[3] != cooked[3] {
		t.Errorf("tail got %q, want every cooked message %q", got, cooked)
	}
}

// The path ingest → route → HTTP drain buffer allocates nothing per
// message once warm: 100-message batches over 10 channels, each with an
// HTTP drain whose endpoint holds the first request (so the senders sit
// still and the buffers fill and drop the oldest, the overload path).
func TestRouteToHTTPDrainsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items); make test runs this without -race")
	}
	release := make(chan struct{})
	var held sync.WaitGroup
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Done()
		<-release
	}))
	defer hs.Close()
	defer close(release)
	const channels = 10
	held.Add(channels)
	hm := map[string]config.Hash{}
	var msgs [][]byte
	for i := range channels {
		ch, tk := strconv.Itoa(i+1), fmt.Sprintf("t.00000000-0000-0000-0000-%012d", i)
		hm[config.ChannelKey(ch)] = config.ChannelHash("", "")
		hm[config.TokenKey(tk)] = config.TokenHash(ch, "app")
		hm[config.DrainKey(int64(i+1))] = config.DrainHash(&config.Drain{ID: int64(i + 1), ChannelID: ch,
			Token: "d.x", URL: hs.URL + "/"})
		msgs = append(msgs, []byte("<134>1 2012-12-10T03:00:48.123456Z erlang "+tk+" console.1 - - Logsplat test message"))
	}
	snap := config.Build(hm, false, "1-0")
	m := drain.NewManager(drain.Options{AllowPrivateDrains: true, StopGrace: 10 * time.Millisecond,
		HTTPRequestTimeout: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	m.Update(snap)
	defer m.Close(context.Background())
	r := New(func() *config.Snapshot { return snap }, nil, m)
	batch := func() {
		b := r.Batch()
		for i := range 100 {
			b.AddByAppName(msgs[i%channels])
		}
		b.Flush()
	}
	batch()
	held.Wait()     // every sender is waiting for its first response
	for range 300 { // until every buffer is full and its ring at its size
		batch()
	}
	if allocs := testing.AllocsPerRun(100, batch); allocs > 0 {
		t.Fatalf("%.2f allocations per 100-message batch into 10 HTTP drains, want 0", allocs)
	}
	var dropped uint64
	m.Each(func(d *drain.Drain) { _, n, _ := d.Buf.Stats(); dropped += n })
	if dropped == 0 {
		t.Fatal("the buffers never filled: the test did not reach the overload path")
	}
}

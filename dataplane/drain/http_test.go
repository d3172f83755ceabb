package drain

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/ringbuf"
)

const wait = 5 * time.Second // deadline for conditions that should hold at once

func httpURL(s *capServer, scheme, path string) string {
	return scheme + "://" + s.addr + path
}

// docs/logplex.md §10 case 72: 404 until the endpoint has seen mymsg5, then 200.
func TestHTTPDrainFullStack(t *testing.T) {
	srv := newCapServer(t, nil)
	seen5 := false
	srv.setRespond(func(r *capReq) (int, time.Duration) {
		if seen5 {
			return 200, 0
		}
		seen5 = strings.Contains(string(r.Body), "mymsg5")
		return 404, 0
	})
	d := startHTTP(t, Options{}, httpURL(srv, "http", "/logs"), "")
	mk := func(s string) []byte {
		return []byte("<134>1 2012-12-10T03:00:48.123456Z fakehost erlang web.1 - - " + s)
	}
	push(d, mk("mymsg1"), mk("mymsg2"), mk("mymsg3"), mk("mymsg4"), mk("mymsg5"))
	srv.waitFor(wait, "a request with mymsg5", func() bool { return seen5 })
	push(d, mk("mymsg6"))
	srv.waitFor(wait, "a 200", func() bool {
		return len(srv.reqs) > 0 && srv.reqs[len(srv.reqs)-1].Status == 200
	})
	reqs := srv.Reqs()
	var ok *capReq
	for _, r := range reqs {
		body := string(r.Body)
		if r.Status == 404 && strings.Contains(body, "Error L10") {
			t.Errorf("404-answered request %d carries an L10 notice: %q", r.Seq, body)
		}
		if r.Status == 200 && ok == nil {
			ok = r
		}
	}
	body := string(ok.Body)
	if !strings.Contains(body, "mymsg6") || !strings.Contains(body, "Error L10 (output buffer overflow): 5 messages dropped since ") {
		t.Errorf("first 200 request body = %q, want mymsg6 and the L10 for 5 messages", body)
	}
	for i := 1; i <= 5; i++ {
		if strings.Contains(body, fmt.Sprintf("mymsg%d", i)) {
			t.Errorf("first 200 request re-sends mymsg%d", i)
		}
	}
	if got, want := ok.Header["Logplex-Msg-Count"], strconv.Itoa(len(splitFrames(t, ok.Body))); got != want {
		t.Errorf("Logplex-Msg-Count = %s, body has %s frames", got, want)
	}
	if reqs[0].Conn != ok.Conn {
		t.Errorf("404 closed the connection: requests on connections %d and %d", reqs[0].Conn, ok.Conn)
	}
	waitFor(t, wait, "status delivered=1 dropped=5", func() bool {
		st := d.Status()
		return st.Delivered == 1 && st.Dropped == 5
	})
}

// docs/logplex.md §10 case 73: a 4xx other than 429 is never retried.
func TestHTTPDrainNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{400, 404, 413, 499} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := newCapServer(t, nil)
			srv.setRespond(func(r *capReq) (int, time.Duration) {
				if r.Seq == 1 {
					return code, 0
				}
				return 200, 0
			})
			d := startHTTP(t, Options{}, httpURL(srv, "http", "/"), "")
			push(d, testMsg(1))
			srv.waitReqs(1, wait)
			push(d, testMsg(2))
			reqs := srv.waitReqs(2, wait)
			if reqs[0].Header["Logplex-Frame-Id"] == reqs[1].Header["Logplex-Frame-Id"] {
				t.Fatalf("the %d-answered frame was sent again", code)
			}
			ids, l10 := bodyParts(t, reqs[1].Body)
			if len(ids) != 1 || ids[0] != 2 || l10 != 1 {
				t.Errorf("second request has messages %v and L10 %d, want [2] and 1", ids, l10)
			}
			if len(srv.Reqs()) != 2 {
				t.Errorf("%d requests, want 2", len(srv.Reqs()))
			}
		})
	}
}

// docs/logplex.md §10 case 74: 500 and 429 are retried, 3 tries in all with the same
// Frame-Id; then the frame is dropped and reported.
func TestHTTPDrainRetriesTemporaryFailures(t *testing.T) {
	for _, code := range []int{500, 429, 503, 302} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := newCapServer(t, nil)
			srv.setRespond(func(r *capReq) (int, time.Duration) {
				if r.Seq <= 3 {
					return code, 0
				}
				return 200, 0
			})
			d := startHTTP(t, Options{}, httpURL(srv, "http", "/"), "")
			push(d, testMsg(1))
			reqs := srv.waitReqs(3, wait)
			for _, r := range reqs[1:] {
				if r.Header["Logplex-Frame-Id"] != reqs[0].Header["Logplex-Frame-Id"] || string(r.Body) != string(reqs[0].Body) {
					t.Errorf("try %d differs: id %s body %q, first: id %s body %q", r.Seq,
						r.Header["Logplex-Frame-Id"], r.Body, reqs[0].Header["Logplex-Frame-Id"], reqs[0].Body)
				}
				if r.Conn == reqs[0].Conn {
					t.Errorf("try %d reused the connection of a failed try", r.Seq)
				}
			}
			if want := testFrame(1); string(reqs[0].Body) != want {
				t.Errorf("body %q, want %q", reqs[0].Body, want)
			}
			waitFor(t, wait, "the frame to be dropped", func() bool { return d.Status().Dropped == 1 })
			push(d, testMsg(2))
			reqs = srv.waitReqs(4, wait)
			body := string(reqs[3].Body)
			if !strings.Contains(body, "Error L10 (output buffer overflow): 1 messages dropped since ") ||
				!strings.HasSuffix(body, testFrame(2)) || strings.Contains(body, "msg000001") {
				t.Errorf("fourth request body %q, want the L10 for 1 message and msg 2 only", body)
			}
			if reqs[3].Header["Logplex-Msg-Count"] != "2" {
				t.Errorf("Logplex-Msg-Count = %s, want 2", reqs[3].Header["Logplex-Msg-Count"])
			}
			waitFor(t, wait, "one delivered", func() bool { return d.Status().Delivered == 1 })
			st := d.Status()
			if st.Retries != 2 || st.Delivered != 1 || st.Dropped != 1 || len(srv.Reqs()) != 4 {
				t.Errorf("retries=%d delivered=%d dropped=%d requests=%d, want 2, 1, 1, 4",
					st.Retries, st.Delivered, st.Dropped, len(srv.Reqs()))
			}
		})
	}
}

// docs/logplex.md §10 case 75: request line, headers and their order, on https with
// userinfo, verified against a CA file.
func TestHTTPDrainRequestFormat(t *testing.T) {
	cert, caFile := testCert(t)
	srv := newCapServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	d := startHTTP(t, Options{TLSCAFile: caFile, UserAgent: "Logplex/v99"},
		"https://user:pass@"+srv.addr+"/p?q=1#frag", "")
	push(d, testMsg(1))
	r := srv.waitReqs(1, wait)[0]
	if r.Line != "POST /p?q=1 HTTP/1.1" {
		t.Errorf("request line %q", r.Line)
	}
	want := []string{"Host", "Authorization", "Content-Type", "Logplex-Msg-Count", "Logplex-Frame-Id",
		"Logplex-Drain-Token", "User-Agent", "Content-Length"}
	if strings.Join(r.Names, ",") != strings.Join(want, ",") {
		t.Errorf("headers %v, want exactly %v", r.Names, want)
	}
	for name, v := range map[string]string{
		"Host":                srv.addr,
		"Authorization":       "Basic dXNlcjpwYXNz",
		"Content-Type":        "application/logplex-1",
		"Logplex-Msg-Count":   "1",
		"Logplex-Drain-Token": httpTestToken,
		"User-Agent":          "Logplex/v99",
		"Content-Length":      strconv.Itoa(len(testFrame(1))),
	} {
		if r.Header[name] != v {
			t.Errorf("%s: %q, want %q", name, r.Header[name], v)
		}
	}
	if !frameIDs.MatchString(r.Header["Logplex-Frame-Id"]) {
		t.Errorf("Logplex-Frame-Id %q", r.Header["Logplex-Frame-Id"])
	}
	if !d.Status().Connected {
		t.Error("status: not connected after a delivery")
	}
}

func TestHTTPDrainRequestLineAndHost(t *testing.T) {
	srv := newCapServer(t, nil)
	for _, c := range []struct{ path, line string }{
		{"", "POST / HTTP/1.1"},
		{"/", "POST / HTTP/1.1"},
		{"?x=1", "POST /?x=1 HTTP/1.1"},
		{"/a%20b/../c;p?x=%2F&y", "POST /a%20b/../c;p?x=%2F&y HTTP/1.1"},
	} {
		n := len(srv.Reqs()) + 1
		d := startHTTP(t, Options{}, "http://"+srv.addr+c.path, "")
		push(d, testMsg(1))
		r := srv.waitReqs(n, wait)
		if got := r[len(r)-1]; got.Line != c.line || got.Header["Host"] != srv.addr || got.Header["Authorization"] != "" {
			t.Errorf("path %q: line %q host %q auth %q", c.path, got.Line, got.Header["Host"], got.Header["Authorization"])
		}
		d.stop(time.Second)
	}
}

func TestHTTPHostHeaderAndCredentials(t *testing.T) {
	for _, c := range []struct{ url, host, cred string }{
		{"http://example.com/x", "example.com", ""},
		{"http://example.com:80/x", "example.com:80", ""},
		{"https://example.com:8443", "example.com:8443", ""},
		{"https://[::1]:8443/", "[::1]:8443", ""},
		{"https://[::1]/", "[::1]", ""},
		{"https://user:pass@h/", "h", "user:pass"},
		{"https://user@h/", "h", "user:"},
		{"https://user:@h/", "h", "user:"},
		{"https://:pass@h/", "h", "pass:"},
		{"https://user::pass@h/", "h", "user:pass"},
		{"https://u:p:q@h/", "h", "u:p:q"},
		{"https://us%3Aer:p%40ss@h/", "h", "us:er:p@ss"},
	} {
		u, err := config.ParseDrainURL(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := httpHostHeader(u); got != c.host {
			t.Errorf("%s: Host %q, want %q", c.url, got, c.host)
		}
		if c.cred != "" {
			if got := httpBasicCredentials(u); got != c.cred {
				t.Errorf("%s: credentials %q, want %q", c.url, got, c.cred)
			}
		}
	}
	for i := 0; i < 100; i++ {
		id := newHTTPFrameID()
		if !frameIDs.Match(id[:]) {
			t.Fatalf("frame id %q", id)
		}
	}
	if a, b := newHTTPFrameID(), newHTTPFrameID(); a == b {
		t.Error("two frame ids are equal")
	}
}

func TestHTTPDrainInsecureFragment(t *testing.T) {
	cert, _ := testCert(t) // not trusted: the drain has no CA file
	srv := newCapServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	d := startHTTP(t, Options{}, "https://"+srv.addr+"/#insecure", "")
	push(d, testMsg(1))
	if r := srv.waitReqs(1, wait)[0]; string(r.Body) != testFrame(1) {
		t.Errorf("body %q", r.Body)
	}
}

func TestHTTPDrainVerifiesCertificates(t *testing.T) {
	cert, _ := testCert(t)
	srv := newCapServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	d := startHTTP(t, Options{HTTPReconnectTime: time.Millisecond}, "https://"+srv.addr+"/", "")
	push(d, testMsg(1))
	waitFor(t, wait, "a certificate error", func() bool {
		st := d.Status()
		return strings.Contains(st.LastError, "certificate") && st.Degraded && !st.Connected
	})
	st := d.Status()
	if len(srv.Reqs()) != 0 || st.Delivered != 0 || st.Buffered != 1 || st.Connected || !st.Degraded {
		t.Errorf("untrusted endpoint: %d requests, status %+v", len(srv.Reqs()), st)
	}
	d.stop(10 * time.Millisecond) // the final flush cannot succeed
}

// docs/logplex.md §10 case 76: the body of one message, byte for byte; a message the
// drain parser rejects (no STRUCTURED-DATA) is not delivered.
func TestHTTPDrainBodyBytes(t *testing.T) {
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{}, httpURL(srv, "http", "/"), "")
	push(d, []byte("<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - Logsplat test message 1"))
	r := srv.waitReqs(1, wait)[0]
	if want := "79 <134>1 2012-12-10T03:00:48.123456Z host app console.1 - Logsplat test message 1"; string(r.Body) != want {
		t.Errorf("body\n%q, want\n%q", r.Body, want)
	}
	push(d, []byte("<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - Logsplat no SD"), testMsg(7),
		[]byte(`<13>1 2012-12-10T03:00:48Z h app web.1 - [a b="\]"][c] multi`+"\nline\n"))
	r = srv.waitReqs(2, wait)[1]
	m := "<13>1 2012-12-10T03:00:48Z host app web.1 - multi\nline\n"
	want := testFrame(7) + strconv.Itoa(len(m)) + " " + m
	if string(r.Body) != want || r.Header["Logplex-Msg-Count"] != "2" {
		t.Errorf("body %q count %s, want %q and 2", r.Body, r.Header["Logplex-Msg-Count"], want)
	}
}

// docs/logplex.md §10 case 77: after two deliveries 40 ms apart, the drain closes its
// idle connection soon after the idle timeout (with the case's 100 ms max
// TTL, and with the idle timeout alone). The case's 50 ms idle timeout is
// 300 ms here: on a loaded machine the 40 ms gap alone could exceed 50 ms,
// and the second message then found the connection closed.
func TestHTTPDrainIdleClose(t *testing.T) {
	for _, ttl := range []time.Duration{100 * time.Millisecond, time.Hour} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			srv := newCapServer(t, nil)
			d := startHTTP(t, Options{HTTPIdleTimeout: 300 * time.Millisecond, HTTPIdleFuzz: time.Millisecond,
				HTTPMaxTTL: ttl}, httpURL(srv, "http", "/"), "")
			push(d, testMsg(1))
			srv.waitReqs(1, wait)
			time.Sleep(40 * time.Millisecond) // the scenario: the second message comes 40 ms later
			push(d, testMsg(2))
			reqs := srv.waitReqs(2, wait)
			srv.waitFor(wait, "the drain to close its connection", func() bool { return !srv.closed[1].IsZero() })
			srv.mu.Lock()
			idle := srv.closed[1].Sub(srv.replied[2])
			srv.mu.Unlock()
			if reqs[0].Conn != 1 || reqs[1].Conn != 1 {
				t.Errorf("requests on connections %d and %d, want both on 1", reqs[0].Conn, reqs[1].Conn)
			}
			// ~300 ms on a quiet machine (the idle timeout, checked on a timer);
			// without the idle close it would stay open.
			if idle < 0 || idle > 2*time.Second {
				t.Errorf("connection closed %v after the last delivery, want about 300 ms", idle)
			}
			waitFor(t, wait, "status disconnected", func() bool { return !d.Status().Connected })
			push(d, testMsg(3)) // reconnects lazily
			if r := srv.waitReqs(3, wait)[2]; r.Conn != 2 {
				t.Errorf("third request on connection %d, want a new one", r.Conn)
			}
		})
	}
}

// A busy connection is closed once it is older than the max TTL.
func TestHTTPDrainMaxTTL(t *testing.T) {
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{HTTPIdleTimeout: 50 * time.Millisecond, HTTPIdleFuzz: time.Millisecond,
		HTTPMaxTTL: 100 * time.Millisecond}, httpURL(srv, "http", "/"), "")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; len(srv.Reqs()) == 0 || srv.Reqs()[len(srv.Reqs())-1].Conn < 2; i++ {
		if i > 500 {
			t.Fatal("no second connection after 5 s of traffic")
		}
		push(d, testMsg(i))
		<-tick.C
	}
	srv.mu.Lock()
	age := srv.closed[1].Sub(srv.opened[1])
	srv.mu.Unlock()
	// just after the 100 ms TTL on a quiet machine; a busy one is given room
	if age < 100*time.Millisecond || age > time.Second {
		t.Errorf("first connection closed at age %v, want just after the 100 ms TTL", age)
	}
}

// docs/logplex.md §10 case 78: the endpoint goes down after one delivery; the buffer
// shrinks to 10; every lost message is reported once; after recovery the
// buffer is back to full size.
func TestHTTPDrainShrink(t *testing.T) {
	srv := newCapServer(t, nil)
	d := startHTTP(t, Options{HTTPShrinkTimeout: 50 * time.Millisecond, HTTPIdleFuzz: time.Millisecond,
		HTTPReconnectTime: time.Millisecond, HTTPMaxRetries: 5}, httpURL(srv, "http", "/"), "")
	push(d, testMsg(0))
	srv.waitReqs(1, wait)
	addr := srv.addr
	srv.down()
	down := time.Now()
	push(d, testMsgs(1, 100)...)
	waitFor(t, wait, "a failure", func() bool { return d.Status().LastError != "" })
	for i := 101; i <= 1000; i += 100 {
		push(d, testMsgs(i, 100)...)
	}
	waitFor(t, wait, "the drain to degrade", func() bool { st := d.Status(); return st.Degraded && st.Buffered <= 110 })
	if rest := time.Second - time.Since(down); rest > 0 {
		time.Sleep(rest) // the scenario: the endpoint stays down for 1 s
	}
	srv.up(addr)
	var delivered, reported int
	count := func() {
		delivered, reported = 0, 0
		seen := map[int]bool{}
		for _, r := range srv.Reqs()[1:] {
			ids, l10 := bodyParts(t, r.Body)
			delivered += len(ids)
			reported += l10
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("message %d delivered twice", id)
				}
				seen[id] = true
			}
		}
	}
	waitFor(t, wait, "1000 messages accounted for", func() bool { count(); return delivered+reported >= 1000 })
	if delivered+reported != 1000 || delivered > 200 {
		t.Fatalf("delivered %d + reported %d, want 1000 with far fewer than 1000 delivered", delivered, reported)
	}
	n := len(srv.Reqs())
	push(d, testMsgs(2000, 500)...)
	waitFor(t, wait, "500 more", func() bool { return d.Status().Delivered == uint64(1+delivered+500) })
	for _, r := range srv.Reqs()[n:] {
		if _, l10 := bodyParts(t, r.Body); l10 != 0 {
			t.Errorf("request %d after recovery has an L10 notice", r.Seq)
		}
	}
	d.Buf.With(func(r *ringbuf.Ring) {
		if r.Cap() != 1024 {
			t.Errorf("buffer capacity %d after recovery, want 1024", r.Cap())
		}
	})
	if d.Status().Degraded {
		t.Error("still degraded after recovery")
	}
}

// Messages accumulate while a request is in flight and go out as one
// frame as soon as it is answered; frames follow to_pkts (docs/logplex.md §5.3).
func TestHTTPDrainBatching(t *testing.T) {
	srv := newCapServer(t, nil)
	srv.setRespond(func(r *capReq) (int, time.Duration) {
		if r.Seq == 1 {
			return 200, holdReply // until srv.release is closed
		}
		return 200, 0
	})
	d := startHTTP(t, Options{}, httpURL(srv, "http", "/"), "")
	push(d, testMsg(0))
	srv.waitFor(wait, "the first request", func() bool { return len(srv.reqs) == 1 })
	for i := 1; i <= 50; i++ {
		push(d, testMsg(i))
	}
	close(srv.release)
	reqs := srv.waitReqs(2, wait)
	if ids, _ := bodyParts(t, reqs[1].Body); len(ids) != 50 {
		t.Errorf("second request holds %d messages, want the 50 pushed meanwhile", len(ids))
	}
}

func TestHTTPFrameTargetBytes(t *testing.T) {
	frameLen := len(testFrame(1)) // 75
	big := []byte("<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - " + strings.Repeat("x", 400))
	for _, c := range []struct {
		name   string
		target int
		msgs   [][]byte
		frames []int // messages per frame
	}{
		{"fits", 3*frameLen + 1, testMsgs(0, 7), []int{3, 3, 1}},
		{"exact", 3 * frameLen, testMsgs(0, 7), []int{2, 2, 2, 1}},
		{"pig first", 300, [][]byte{big, testMsg(1)}, []int{1, 1}},
		{"pig after", 300, [][]byte{testMsg(1), big, testMsg(2)}, []int{2, 1}},
		{"skips unparseable", 3*frameLen + 1, [][]byte{[]byte("junk"), testMsg(1), []byte("<1>2 x"), testMsg(2)}, []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, s := newHTTPDrain(t, Options{HTTPTargetBytes: c.target}, "http://127.0.0.1:9/", "")
			push(d, c.msgs...)
			var got []int
			for s.nextFrame() {
				got = append(got, s.fr.msgs)
				if len(splitFrames(t, s.raw[httpL10Room:])) != s.fr.msgs {
					t.Fatalf("frame body %q holds other than %d messages", s.raw[httpL10Room:], s.fr.msgs)
				}
				s.fr.msgs = 0
			}
			if fmt.Sprint(got) != fmt.Sprint(c.frames) {
				t.Errorf("frames %v, want %v", got, c.frames)
			}
		})
	}
}

func TestHTTPL10FitsItsRoom(t *testing.T) {
	_, s := newHTTPDrain(t, Options{}, "http://127.0.0.1:9/", "")
	s.fr.msgs, s.fr.loss, s.dropped = 1, 1<<61, 1<<61
	s.dropSince = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	s.raw = append(make([]byte, httpL10Room), testFrame(1)...)
	body, count := s.body(s.dropSince)
	if count != 2 || len(s.l10) > httpL10Room || !strings.HasSuffix(string(body), testFrame(1)) {
		t.Fatalf("L10 of %d bytes (room %d), count %d, body %q", len(s.l10), httpL10Room, count, body)
	}
	if _, l10 := bodyParts(t, body); l10 != 1<<62 {
		t.Errorf("L10 reports %d", l10)
	}
}

func TestHTTPBackoff(t *testing.T) {
	_, s := newHTTPDrain(t, Options{HTTPReconnectTime: 10 * time.Millisecond}, "http://127.0.0.1:9/", "")
	for n := 0; n < 40; n++ {
		limit := 10 * time.Millisecond * time.Duration((1<<min(n, 10)-1)/2)
		for range 20 {
			s.attempt = n
			if d := s.backoff(); d < 0 || d > limit || d%(10*time.Millisecond) != 0 {
				t.Fatalf("attempt %d: delay %v, want a multiple of 10ms up to %v", n, d, limit)
			}
			if s.attempt != n+1 {
				t.Fatalf("attempt counter %d after attempt %d", s.attempt, n)
			}
		}
	}
	s.attempt = 10
	seen := map[time.Duration]bool{}
	for range 2000 {
		s.attempt = 10
		seen[s.backoff()] = true
	}
	if !seen[0] || !seen[5110*time.Millisecond] {
		t.Errorf("delays at attempt 10 cover %d values, want 0 … 5.11 s", len(seen))
	}
}

// Connect failures keep messages in the buffer (no frame is taken, no try
// used up) and back off; the buffer's drop-oldest then applies to them all.
func TestHTTPDrainConnectFailureKeepsMessages(t *testing.T) {
	srv := newCapServer(t, nil)
	addr := srv.addr
	srv.down()
	d := startHTTP(t, Options{HTTPBufferSize: 10, HTTPReconnectTime: time.Millisecond, HTTPMaxRetries: 3},
		"http://"+addr+"/", "")
	push(d, testMsgs(1, 5)...)
	waitFor(t, wait, "a connect error", func() bool { return strings.Contains(d.Status().LastError, "connect") })
	push(d, testMsgs(6, 20)...)
	time.Sleep(50 * time.Millisecond) // reconnect attempts fail meanwhile
	if st := d.Status(); st.Buffered != 10 || st.Dropped != 0 || st.Retries != 0 {
		t.Fatalf("while down: %+v, want 10 buffered, nothing dropped or retried", st)
	}
	srv.up(addr)
	r := srv.waitReqs(1, wait)[0]
	ids, l10 := bodyParts(t, r.Body)
	if fmt.Sprint(ids) != fmt.Sprint([]int{16, 17, 18, 19, 20, 21, 22, 23, 24, 25}) || l10 != 15 {
		t.Errorf("after recovery: messages %v, L10 %d; want 16…25 and 15", ids, l10)
	}
}

// Stopping a drain flushes what it holds.
func TestHTTPDrainFlushesOnStop(t *testing.T) {
	srv := newCapServer(t, nil)
	srv.setRespond(func(*capReq) (int, time.Duration) { return 200, 20 * time.Millisecond })
	d := startHTTP(t, Options{HTTPTargetBytes: 1000}, httpURL(srv, "http", "/"), "")
	push(d, testMsgs(0, 100)...)
	d.stop(wait)
	delivered := 0
	for _, r := range srv.Reqs() {
		ids, _ := bodyParts(t, r.Body)
		delivered += len(ids)
	}
	if delivered != 100 || len(srv.Reqs()) < 5 {
		t.Errorf("stop flushed %d messages in %d requests, want 100 in several", delivered, len(srv.Reqs()))
	}
}

// A flush that runs out of time cuts the request in flight short.
func TestHTTPDrainStopCutsSlowRequest(t *testing.T) {
	srv := newCapServer(t, nil)
	srv.setRespond(func(*capReq) (int, time.Duration) { return 200, 3 * time.Second })
	d := startHTTP(t, Options{}, httpURL(srv, "http", "/"), "")
	push(d, testMsg(1))
	srv.waitFor(wait, "the request", func() bool { return len(srv.reqs) == 1 })
	stopCutsShort(t, d)
}

// stopCutsShort stops d, whose one message is in a request the endpoint
// holds, with a 100 ms grace: the stop returns soon, the message dropped.
func stopCutsShort(t *testing.T, d *Drain) {
	t.Helper()
	start := time.Now()
	d.stop(100 * time.Millisecond)
	if took := time.Since(start); took > time.Second {
		t.Errorf("stop took %v with a 100 ms grace", took)
	}
	if st := d.Status(); st.Dropped != 1 || st.Delivered != 0 {
		t.Errorf("after cut-short stop: %+v, want the message dropped", st)
	}
}

// The endpoint sees exactly the uncompressed body, encoded as configured.
func TestHTTPDrainCompression(t *testing.T) {
	for _, c := range []struct{ drain, def, want string }{
		{"gzip", "", "gzip"}, {"zstd", "", "zstd"}, {"", "zstd", "zstd"}, {"", "gzip", "gzip"}, {"none", "gzip", ""},
	} {
		t.Run(c.drain+"/"+c.def, func(t *testing.T) {
			srv := newCapServer(t, nil)
			d := startHTTP(t, Options{DefaultCompression: c.def}, httpURL(srv, "http", "/"), c.drain)
			push(d, testMsgs(0, 200)...)
			var want strings.Builder
			for i := range 200 {
				want.WriteString(testFrame(i))
			}
			r := srv.waitReqs(1, wait)[0]
			if string(r.Body) != want.String() {
				t.Fatalf("decoded body differs:\n%q\nwant\n%q", r.Body, want.String())
			}
			if r.Header["Content-Encoding"] != c.want {
				t.Errorf("Content-Encoding %q, want %q", r.Header["Content-Encoding"], c.want)
			}
			names := strings.Join(r.Names, ",")
			if c.want != "" && !strings.HasSuffix(names, "User-Agent,Content-Encoding,Content-Length") {
				t.Errorf("header order %s", names)
			}
			if r.Header["Content-Length"] != strconv.Itoa(len(r.Wire)) || (c.want != "" && len(r.Wire) >= len(r.Body)/2) {
				t.Errorf("Content-Length %s, wire %d bytes, body %d", r.Header["Content-Length"], len(r.Wire), len(r.Body))
			}
			waitFor(t, wait, "status bytes", func() bool { return d.Status().Bytes == uint64(len(r.Wire)) })
		})
	}
}

// A slow endpoint on one drain does not hold up another drain of the same
// manager.
func TestHTTPDrainSlowEndpointIsolated(t *testing.T) {
	slow := newCapServer(t, nil)
	slow.setRespond(func(*capReq) (int, time.Duration) { return 200, 5 * time.Second })
	fast := newCapServer(t, nil)
	m := NewManager(testOptions(Options{StopGrace: 200 * time.Millisecond}))
	slowID, fastID := httpNextID.Add(1), httpNextID.Add(1)
	m.Update(config.Build(map[string]config.Hash{
		config.ChannelKey("slow"): config.ChannelHash("slow", ""),
		config.ChannelKey("fast"): config.ChannelHash("fast", ""),
		config.DrainKey(slowID): config.DrainHash(&config.Drain{ID: slowID, ChannelID: "slow", Token: httpTestToken,
			URL: httpURL(slow, "http", "/")}),
		config.DrainKey(fastID): config.DrainHash(&config.Drain{ID: fastID, ChannelID: "fast", Token: httpTestToken,
			URL: httpURL(fast, "http", "/")}),
	}, false, "1"))
	sd, fd := m.ForChannel("slow"), m.ForChannel("fast")
	if len(sd) != 1 || len(fd) != 1 {
		t.Fatalf("manager runs %d slow and %d fast drains", len(sd), len(fd))
	}
	push(sd[0], testMsg(0))
	slow.waitFor(wait, "the slow request", func() bool { return len(slow.reqs) == 1 })
	for i := 1; i <= 5; i++ {
		start := time.Now()
		push(fd[0], testMsg(i))
		fast.waitReqs(i, wait)
		if took := time.Since(start); took > time.Second { // blocked would be 5 s
			t.Errorf("fast drain took %v for message %d", took, i)
		}
	}
	if len(slow.replied) != 0 {
		t.Error("the slow endpoint answered within the test: it was not slow")
	}
	start := time.Now()
	m.Close(t.Context())
	if took := time.Since(start); took > 3*time.Second { // waiting for the slow answer would be 5 s
		t.Errorf("Close took %v with a 200 ms stop grace", took)
	}
}

// A response body over the 64 KiB read limit does not turn a 2xx into a
// failure (the connection is closed instead of drained).
func TestHTTPDrainLargeResponseBody(t *testing.T) {
	var reqs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		_, _ = w.Write(make([]byte, 200<<10))
	}))
	defer srv.Close()
	d := startHTTP(t, Options{}, srv.URL+"/", "")
	push(d, testMsg(1))
	waitFor(t, wait, "a delivery", func() bool { return d.Status().Delivered == 1 })
	push(d, testMsg(2))
	waitFor(t, wait, "a second delivery", func() bool { return d.Status().Delivered == 2 })
	if st := d.Status(); reqs.Load() != 2 || st.Retries != 0 || st.Dropped != 0 {
		t.Errorf("%d requests, status %+v; want 2 requests, no retry", reqs.Load(), st)
	}
}

// A request on a keep-alive connection the server has closed meanwhile is
// sent again on a fresh connection, without using up a try of the frame.
func TestHTTPDrainStaleKeepAlive(t *testing.T) {
	var reqs atomic.Int64
	closed := make(chan struct{}, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reqs.Add(1) }))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	d := startHTTP(t, Options{}, srv.URL+"/", "")
	push(d, testMsg(1))
	waitFor(t, wait, "a delivery", func() bool { return d.Status().Delivered == 1 })
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("the server did not close the idle connection")
	}
	if !d.Status().Connected {
		t.Fatal("the drain noticed the close: the test does not exercise a stale connection")
	}
	push(d, testMsg(2))
	waitFor(t, wait, "a second delivery", func() bool { return d.Status().Delivered == 2 })
	if st := d.Status(); st.Retries != 0 || st.Dropped != 0 || reqs.Load() != 2 {
		t.Errorf("%d requests, status %+v; want 2 requests, no frame retry", reqs.Load(), st)
	}
}

// Unless allowed, a drain does not connect to a private address (checked
// on the address dialed; docs/security.md).
func TestHTTPDrainRefusesPrivateAddress(t *testing.T) {
	srv := newCapServer(t, nil)
	opts := testOptions(Options{HTTPReconnectTime: time.Millisecond})
	opts.AllowPrivateDrains = false
	url := httpURL(srv, "http", "/")
	u, err := config.ParseDrainURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d := &Drain{Config: &config.Drain{ID: httpNextID.Add(1), ChannelID: "ch1", Token: httpTestToken, URL: url},
		URL: u}
	s, err := newHTTPSender(&opts, d)
	if err != nil {
		t.Fatal(err)
	}
	runDrain(d, s)
	defer d.stop(10 * time.Millisecond)
	push(d, testMsg(1))
	waitFor(t, wait, "a refused dial", func() bool { return strings.Contains(d.Status().LastError, ErrPrivateAddress.Error()) })
	if n := len(srv.Reqs()); n != 0 {
		t.Errorf("%d requests reached a private endpoint", n)
	}
}

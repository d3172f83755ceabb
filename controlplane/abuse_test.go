package controlplane_test

// Bounds against hostile tenants and clients (docs/security.md, "Control
// plane and API"): each test drives a real control plane on loopback past
// one bound and checks the answer and the counter.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/controlplane"
)

func refused(t *testing.T, reason string) int {
	return counterValue(t, `logplex_api_refused_total{reason="`+reason+`"}`)
}

// grew fails unless the refusal counter of reason moved by want since n0.
func grew(t *testing.T, reason string, n0, want int) {
	t.Helper()
	if d := refused(t, reason) - n0; d != want {
		t.Fatalf("logplex_api_refused_total{reason=%q} grew by %d, want %d", reason, d, want)
	}
}

func TestAbuseTokenNamesAreAppNames(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "names", "ok")
	p.channel("names-v3", "ok")
	n0 := refused(t, "token_name")
	bad := []string{"app 999 - [x] injected\n12 <13>1 x", "", "a b", "nul\x00", "cr\r", strings.Repeat("x", 49), "é"}
	for _, name := range bad {
		q, _ := json.Marshal(name)
		want(t, p.do("POST", p.api+"/channels", `{"name":"x","tokens":[`+string(q)+`]}`, authH), 400)
		want(t, p.do("POST", p.api+"/channels/"+id+"/token", `{"name":`+string(q)+`}`, authH), 400)
		r := p.do("POST", p.api+"/v2/channels/"+id+"/tokens", `{"name":`+string(q)+`}`, authH)
		want(t, r, 400)
		if !strings.Contains(r.body, "invalid token name") {
			t.Fatalf("v2 body %q", r.body)
		}
		want(t, p.do("PUT", p.v3+"/v3/channels/names-v3", `{"tokens":["ok",`+string(q)+`]}`, jsonH), 400)
		want(t, p.do("POST", p.v3+"/v3/channels/names-v3/tokens", `{"name":`+string(q)+`}`, jsonH), 400)
	}
	grew(t, "token_name", n0, 5*len(bad))
	want(t, p.do("POST", p.v3+"/v3/channels/names-v3/tokens", `{"name":"`+strings.Repeat("y", 48)+`"}`, jsonH), 200)
	for _, tk := range p.snapshot().Channel("names-v3").Tokens {
		if tk.Name != "ok" && tk.Name != strings.Repeat("y", 48) {
			t.Fatalf("stored token name %q", tk.Name)
		}
	}
}

func TestAbuseTokensPerChannel(t *testing.T) {
	p := newPlane(t, nil) // default limit: 100
	names := make([]string, 100_000)
	for i := range names {
		names[i] = fmt.Sprint("t", i)
	}
	n0 := refused(t, "tokens_per_channel")
	t0 := time.Now()
	want(t, p.do("PUT", p.v3+"/v3/channels/many", `{"tokens":[`+quoteAll(names)+`]}`, jsonH), 422)
	t.Logf("100 000 tokens refused in %v", time.Since(t0))
	want(t, p.do("POST", p.api+"/channels", `{"name":"many","tokens":[`+quoteAll(names[:101])+`]}`, authH), 422)
	grew(t, "tokens_per_channel", n0, 2)
	if p.snapshot().NumTokens() != 0 {
		t.Fatal("a refused request stored tokens")
	}
	p.channel("many", names[:100]...)
	want(t, p.do("POST", p.v3+"/v3/channels/many/tokens", `{"name":"one-more"}`, jsonH), 422)
	// repeats are one token
	want(t, p.do("PUT", p.v3+"/v3/channels/many", `{"tokens":[`+quoteAll(append(names[:100:100], names[:100]...))+`]}`, jsonH), 200)

	q := newPlane(t, func(o *controlplane.Options) { o.MaxTokensPerChannel = 2 })
	id := createLegacyChannel(t, q, "two", "a", "b")
	want(t, q.do("POST", q.api+"/channels/"+id+"/token", `{"name":"c"}`, authH), 422)
	want(t, q.do("POST", q.api+"/v2/channels/"+id+"/tokens", `{"name":"c"}`, authH), 422)
}

func TestAbuseDrainReservationsPerChannel(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) {
		o.MaxDrainReservationsPerChannel = 2
		o.MaxDrainsPerChannel = 1
	})
	id := createLegacyChannel(t, p, "res")
	n0 := refused(t, "drain_reservations_per_channel")
	var ids []string
	for range 2 {
		r := p.do("POST", p.api+"/channels/"+id+"/drains/tokens", "", authH)
		want(t, r, 201)
		ids = append(ids, fmt.Sprint(int64(r.json(t)["id"].(float64))))
	}
	wantBody(t, p.do("POST", p.api+"/channels/"+id+"/drains/tokens", "", authH), 422,
		"too many drain reservations for one channel: at most 2; give the reserved drains a URL or delete them")
	grew(t, "drain_reservations_per_channel", n0, 1)
	// a reservation given a URL counts toward --max-drains-per-channel
	want(t, p.do("POST", p.api+"/v2/channels/"+id+"/drains/"+ids[0], `{"url":"https://a.example.com/"}`, authH), 201)
	d0 := refused(t, "drains_per_channel")
	want(t, p.do("POST", p.api+"/v2/channels/"+id+"/drains/"+ids[1], `{"url":"https://b.example.com/"}`, authH), 422)
	grew(t, "drains_per_channel", d0, 1)
	if n := len(p.snapshot().Channel(id).Drains); n != 2 {
		t.Fatalf("%d drains stored, want the drain and one reservation", n)
	}
}

func TestAbuseNumericChannelIDsReserved(t *testing.T) {
	p := newPlane(t, nil)
	n0 := refused(t, "numeric_channel_id")
	r := p.do("PUT", p.v3+"/v3/channels/1", `{"tokens":["planted"]}`, jsonH)
	want(t, r, 422)
	if !strings.Contains(r.body, "reserved") {
		t.Fatalf("body %q", r.body)
	}
	grew(t, "numeric_channel_id", n0, 1)
	id := createLegacyChannel(t, p, "legacy", "web")
	if id != "1" {
		t.Fatalf("legacy channel id %s, want 1", id)
	}
	if toks := p.snapshot().Channel("1").Tokens; len(toks) != 1 || toks[0].Name != "web" {
		t.Fatalf("channel 1 tokens %+v", toks)
	}
	// a channel the counter handed out can still be managed on v3
	want(t, p.do("PUT", p.v3+"/v3/channels/1", `{"tokens":["web","worker"]}`, jsonH), 200)
	want(t, p.do("PUT", p.v3+"/v3/channels/app-1", `{}`, jsonH), 201)
}

func TestAbuseSessionBodiesBounded(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxSessionsPerChannel = 2 })
	p.channel("sess", "app")
	n0 := refused(t, "session_body")
	big := `{"channel_id":"sess","pad":"` + strings.Repeat("x", 4096) + `"}`
	want(t, p.do("POST", p.api+"/v2/sessions", big, authH), 413)
	want(t, p.do("POST", p.v3+"/v3/sessions", big, jsonH), 413)
	grew(t, "session_body", n0, 2)
	c0 := refused(t, "sessions_per_channel")
	want(t, p.do("POST", p.api+"/v2/sessions", `{"channel_id":"sess"}`, authH), 201)
	want(t, p.do("POST", p.v3+"/v3/sessions", `{"channel_id":"sess"}`, jsonH), 201)
	r := p.do("POST", p.api+"/sessions", `{"channel_id":"sess"}`, authH)
	want(t, r, 429)
	wantHeader(t, r, "Retry-After", "5")
	want(t, p.do("POST", p.v3+"/v3/sessions", `{"channel_id":"sess"}`, jsonH), 429)
	grew(t, "sessions_per_channel", c0, 2)
	p.channel("other", "app")
	want(t, p.do("POST", p.v3+"/v3/sessions", `{"channel_id":"other"}`, jsonH), 201) // another tenant is not affected
}

// rawConn dials the listener at base (http://host:port) with a small
// receive buffer.
func rawConn(t *testing.T, base string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	_ = tc.SetReadBuffer(4096)
	t.Cleanup(func() { tc.Close() })
	return tc
}

// readStatus reads a response's status line, failing after 10 s (a hang is
// the failure: these answers must not wait for the client).
func readStatus(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no status line: %v", err)
	}
	return strings.TrimSpace(l)
}

func TestAbuseSessionFetchesBounded(t *testing.T) {
	tails := &chanTails{subscribed: make(chan string, 8), feed: make(chan controlplane.TailBatch)}
	p := newPlane(t, func(o *controlplane.Options) {
		o.Tails = tails
		o.MaxFetchesPerSession = 1
		o.MaxSessionFetches = 1
		o.SessionFetchWriteTimeout = 300 * time.Millisecond
	})
	p.channel("fetch", "app")
	line := "<1>1 2020-01-01T00:00:00Z h app web.1 - - " + strings.Repeat("m", 10_000)
	for range 1500 {
		p.seed("fetch", line)
	}
	// a tail holds its session's one fetch: a second fetch of it is refused
	tailPath := p.sessionPath(`{"channel_id":"fetch","tail":true,"num":"0"}`)
	res, err := p.client.Get(p.api + tailPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	<-tails.subscribed
	n0 := refused(t, "fetches_per_session")
	r := p.do("GET", p.api+tailPath, "", nil)
	want(t, r, 429)
	wantHeader(t, r, "Retry-After", "5")
	grew(t, "fetches_per_session", n0, 1)

	// a client that never reads holds the one history slot until the write
	// deadline cuts it; meanwhile other fetches are refused, then served
	eventually(t, 10*time.Second, "the tail's history written", func() bool {
		return p.do("GET", p.api+p.sessionPath(`{"channel_id":"fetch","num":"1"}`), "", nil).code == 200
	})
	path := p.sessionPath(`{"channel_id":"fetch","num":"1500"}`)
	w0, s0 := refused(t, "fetch_write_timeout"), refused(t, "session_fetches")
	c := rawConn(t, p.api)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	if got := readStatus(t, c); got != "HTTP/1.1 200 OK" {
		t.Fatalf("stuck fetch: %q", got)
	}
	eventually(t, 10*time.Second, "a second history fetch refused while the first is stuck", func() bool {
		return p.do("GET", p.api+p.sessionPath(`{"channel_id":"fetch","num":"1"}`), "", nil).code == 429
	})
	if refused(t, "session_fetches") == s0 {
		t.Fatal("session_fetches refusal not counted")
	}
	eventually(t, 10*time.Second, "the stuck fetch cut by its write deadline", func() bool {
		return refused(t, "fetch_write_timeout") > w0
	})
	r = p.do("GET", p.api+p.sessionPath(`{"channel_id":"fetch","num":"1"}`), "", nil)
	want(t, r, 200)
	if len(r.body) < 10_000 {
		t.Fatalf("short history: %d bytes", len(r.body))
	}

	// v3 logs share the history bound and the write deadline
	w0 = refused(t, "fetch_write_timeout")
	c = rawConn(t, p.v3)
	fmt.Fprintf(c, "GET /v3/channels/fetch/logs?num=1500 HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n", testKey)
	if got := readStatus(t, c); got != "HTTP/1.1 200 OK" {
		t.Fatalf("stuck v3 logs: %q", got)
	}
	want(t, p.do("GET", p.v3+"/v3/channels/fetch/logs?num=1", "", authH), 429)
	eventually(t, 10*time.Second, "the stuck v3 logs cut by the write deadline", func() bool {
		return refused(t, "fetch_write_timeout") > w0
	})
	want(t, p.do("GET", p.v3+"/v3/channels/fetch/logs?num=1", "", authH), 200)
}

// Answers given before authentication do not wait for the body: with a body
// read timeout of a minute, a client that declares 1000 bytes and sends one
// is answered (and disconnected) at once.
func TestAbuseAuthBeforeBody(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.APIReadTimeout = time.Minute })
	n0 := refused(t, "unread_body")
	for _, tc := range []struct{ base, req, status string }{
		{p.v3, "PUT /v3/channels/x", "HTTP/1.1 401 Unauthorized"},
		{p.v3, "POST /v3/channels/x/tokens", "HTTP/1.1 401 Unauthorized"},
		{p.v3, "POST /v3/nowhere", "HTTP/1.1 404 Not Found"},
		{p.api, "POST /channels", "HTTP/1.1 401 Unauthorized"},
		{p.api, "POST /v2/sessions", "HTTP/1.1 401 Unauthorized"},
		{p.api, "POST /nowhere", "HTTP/1.1 404 Not Found"},
	} {
		c := rawConn(t, tc.base)
		fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", tc.req)
		if got := readStatus(t, c); got != tc.status {
			t.Fatalf("%s: %q, want %q", tc.req, got, tc.status)
		}
		if _, err := io.ReadAll(c); err != nil { // the server closes the connection
			t.Fatalf("%s: %v", tc.req, err)
		}
	}
	grew(t, "unread_body", n0, 6)
}

// An authorised client that stops sending its body is cut off after the
// read timeout, and the listener serves others.
func TestAbuseSlowBodyCutOff(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.APIReadTimeout = 300 * time.Millisecond })
	c := rawConn(t, p.v3)
	fmt.Fprintf(c, "PUT /v3/channels/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", testKey)
	if got := readStatus(t, c); got != "HTTP/1.1 400 Bad Request" {
		t.Fatalf("slow body: %q", got)
	}
	want(t, p.do("PUT", p.v3+"/v3/channels/fast", `{}`, jsonH), 201)
}

func TestAbuseConnectionCap(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxAPIConnections = 2 })
	name := `logplex_api_connections_refused_total{api="legacy"}`
	n0 := counterValue(t, name)
	a, b := rawConn(t, p.api), rawConn(t, p.api)
	fmt.Fprintf(a, "GET /healthcheck HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n", testKey)
	if got := readStatus(t, a); got != "HTTP/1.1 200 OK" {
		t.Fatalf("first connection: %q", got)
	}
	_ = b
	c := rawConn(t, p.api)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("third connection served (%d bytes), want it closed", n)
	}
	if counterValue(t, name)-n0 != 1 {
		t.Fatal("refused connection not counted")
	}
	b.Close()
	eventually(t, 10*time.Second, "a new connection served once one closed", func() bool {
		c := rawConn(t, p.api)
		fmt.Fprintf(c, "GET /healthcheck HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n", testKey)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		return strings.HasPrefix(l, "HTTP/1.1 200")
	})
}

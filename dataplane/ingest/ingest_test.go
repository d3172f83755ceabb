package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

const tok = "t.feff49f1-4d55-4c9e-aee1-2d2b10e69b42"

type rig struct {
	spool *embedded.Spool
	tcp   *TCP
	http  *HTTP
	snap  *config.Snapshot
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigTCP(t, TCPOptions{})
}

// newRigTCP is newRig with the syslog listener's options (address and
// event loops set here).
func newRigTCP(t *testing.T, tcp TCPOptions) *rig {
	t.Helper()
	cred, _ := config.NewCredential("any", false, true)
	pass := "secret"
	cred.ID = "ANY"
	cred.PassSHA256 = config.HashPassword(pass)
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"):   config.ChannelHash("", ""),
		config.TokenKey(tok):     config.TokenHash("1", "app"),
		config.ChannelKey("2"):   config.ChannelHash("", ""),
		config.TokenKey("t.two"): config.TokenHash("2", "two"),
		config.CredKey("ANY"):    config.CredHash(cred),
		config.CredKey("NOTANY"): config.CredHash(&config.Cred{Name: "x", PassSHA256: config.HashPassword("secret")}),
	}, false, "1-0")
	r := &rig{spool: embedded.NewSpool(100, 0), snap: snap}
	router := route.New(func() *config.Snapshot { return snap }, r.spool, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tcp.Addr, tcp.EventLoops = "127.0.0.1:0", 2
	r.tcp = NewTCP(tcp, router, log)
	h, err := NewHTTP(HTTPOptions{Addr: "127.0.0.1:0", MaxBodyBytes: 1 << 20}, router, func() bool { return true }, log)
	if err != nil {
		t.Fatal(err)
	}
	r.http = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = r.tcp.Run(ctx); done <- struct{}{} }()
	go func() { _ = r.http.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	select {
	case <-r.tcp.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("tcp listener not ready")
	}
	return r
}

// dialSyslog opens a connection to the rig's syslog listener, closed when
// the test ends.
func (r *rig) dialSyslog(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", r.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (r *rig) history(t *testing.T, ch string) []string {
	t.Helper()
	ms, _ := r.spool.Range(context.Background(), ch, 1000)
	out := make([]string, len(ms))
	for i, m := range ms {
		out[len(ms)-1-i] = string(m)
	}
	return out
}

func waitLen(t *testing.T, r *rig, ch string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := r.history(t, ch)
		if len(h) >= n {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s has %d messages, want %d", ch, len(h), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func octet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

func msg(i int) string {
	return fmt.Sprintf("<134>1 2012-12-10T04:05:25Z+00:00 erlang %s console.1 - - message %d", tok, i)
}

// docs/logplex.md §10 case 4: a frame spanning writes; case 5: a 10241 length is malformed
// and the connection stays usable.
func TestTCPSplitAndOversized(t *testing.T) {
	r := newRig(t)
	c := r.dialSyslog(t)
	f := octet(msg(1))
	read0 := tcpBytesRead.Get()
	fmt.Fprint(c, f[:2])
	// the server has read (and kept) the first two bytes before the rest is
	// sent: the frame spans two reads
	waitFor(t, "the server to read the first 2 bytes", func() bool { return tcpBytesRead.Get() >= read0+2 })
	fmt.Fprint(c, f[2:])
	before := route.ReadCounters().Malformed
	fmt.Fprint(c, "10241 "+strings.Repeat("x", 20)+"\n"+octet(msg(2)))
	h := waitLen(t, r, "1", 2)
	if !strings.HasSuffix(h[0], "message 1") || !strings.HasSuffix(h[1], "message 2") || strings.Contains(h[0], tok) {
		t.Fatalf("history %q", h)
	}
	// message 2 can be in history before the malformed count is read back
	waitFor(t, "the malformed count", func() bool { return route.ReadCounters().Malformed-before >= 1 })
	if got := route.ReadCounters().Malformed - before; got != 1 {
		t.Fatalf("malformed +%d, want +1", got)
	}
}

// A sender that never completes a frame cannot make its connection hold more
// than frame.MaxLineLen: the bytes are dropped as malformed and later frames
// on the same connection still arrive.
func TestTCPNeverEndingLineIsBounded(t *testing.T) {
	r := newRig(t)
	c := r.dialSyslog(t)
	before := route.ReadCounters().Malformed
	garbage := strings.Repeat("a", 200_000)
	fmt.Fprint(c, garbage+"\n"+octet(msg(3)))
	h := waitLen(t, r, "1", 1)
	if !strings.HasSuffix(h[0], "message 3") {
		t.Fatalf("history %q", h)
	}
	if route.ReadCounters().Malformed-before < 1 {
		t.Fatal("oversized line not counted as malformed")
	}
}

func post(t *testing.T, r *rig, auth string, hdr map[string]string, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+r.http.Addr().String()+"/logs", bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func basic(u, p string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))
}

var ct = map[string]string{"Content-Type": "application/logplex-1"}

// docs/logplex.md §10 cases 9–17 and §2.2's decision order.
func TestLogsDecisions(t *testing.T) {
	r := newRig(t)
	good := []byte(octet(msg(1)) + octet(msg(2)))
	cases := []struct {
		name   string
		auth   string
		hdr    map[string]string
		body   []byte
		status int
		reason string
	}{
		{"no auth", "", ct, good, 401, ""},
		{"unknown token", basic("token", "t.nope"), ct, good, 401, ""},
		{"bad base64", "Basic !!!", ct, good, 401, ""},
		{"wrong content type", basic("token", tok), map[string]string{"Content-Type": "text/plain"}, good, 415, ""},
		{"content type with params", basic("token", tok), map[string]string{"Content-Type": "application/logplex-1; charset=utf-8"}, good, 415, ""},
		{"x-logplex", basic("token", tok), map[string]string{"Content-Type": "application/x-logplex-1"}, good, 204, ""},
		{"accept json", basic("token", tok), map[string]string{"Content-Type": "application/logplex-1", "Accept": "application/json"}, good, 406, ""},
		{"count mismatch", basic("token", tok), map[string]string{"Content-Type": "application/logplex-1", "Logplex-Msg-Count": "3"}, good, 400, "Message count mismatch"},
		{"count ok", basic("token", tok), map[string]string{"Content-Type": "application/logplex-1", "Logplex-Msg-Count": "2"}, good, 204, ""},
		{"newline delimited", basic("token", tok), ct, []byte("<134>1 2012-12-10T04:05:25Z h " + tok + " p - - hi\n"), 400, "Malformed log messages"},
		{"cred without any_channel", basic("NOTANY", "secret"), ct, good, 403, "Credential not permitted to write to any channel."},
		{"cred wrong password", basic("ANY", "nope"), ct, good, 401, ""},
	}
	for _, c := range cases {
		res, body := post(t, r, c.auth, c.hdr, c.body)
		if res.StatusCode != c.status {
			t.Errorf("%s: status %d %q, want %d", c.name, res.StatusCode, body, c.status)
			continue
		}
		if c.reason != "" && (res.Status != fmt.Sprintf("%d %s", c.status, c.reason) || body != c.reason ||
			res.Header.Get("Www-Authenticate") != "Basic realm=Logplex") {
			t.Errorf("%s: status line %q body %q headers %v", c.name, res.Status, body, res.Header)
		}
		if c.status == 401 && res.Header.Get("Www-Authenticate") != "Basic realm=Logplex" {
			t.Errorf("%s: 401 without www-authenticate", c.name)
		}
	}
	if n := len(r.history(t, "1")); n != 4 {
		t.Fatalf("only the two 204 requests may store messages: %d stored", n)
	}
	req, _ := http.NewRequest("GET", "http://"+r.http.Addr().String()+"/logs", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 || res.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /logs: %d allow=%q", res.StatusCode, res.Header.Get("Allow"))
	}
}

// Cases 6, 7: token auth stores every frame in the token's channel; gzip works.
func TestLogsTokenAuthAndGzip(t *testing.T) {
	r := newRig(t)
	other := "<134>1 2012-12-10T04:05:25Z h t.fe244422-4071-48f1-8192-a28aa99f35cf p - - other token"
	body := []byte(octet(msg(1)) + octet(other))
	if res, b := post(t, r, basic("token", tok), ct, body); res.StatusCode != 204 {
		t.Fatalf("plain: %d %s", res.StatusCode, b)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(body)
	w.Close()
	hdr := map[string]string{"Content-Type": "application/logplex-1", "Content-Encoding": "gzip"}
	if res, b := post(t, r, basic("token", tok), hdr, gz.Bytes()); res.StatusCode != 204 {
		t.Fatalf("gzip: %d %s", res.StatusCode, b)
	}
	if res, b := post(t, r, basic("token", tok), hdr, []byte("not gzip")); res.StatusCode != 400 || b != "Bad request" {
		t.Fatalf("bad gzip: %d %s", res.StatusCode, b)
	}
	h := r.history(t, "1")
	if len(h) != 4 || h[1] != other || !strings.Contains(h[0], " app console.1 ") {
		t.Fatalf("history %q", h)
	}
}

// A gzip bomb is refused with 413 before it is inflated past the limit.
func TestLogsGzipBomb(t *testing.T) {
	r := newRig(t)
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(bytes.Repeat([]byte("0"), 8<<20))
	w.Close()
	hdr := map[string]string{"Content-Type": "application/logplex-1", "Content-Encoding": "gzip"}
	if res, b := post(t, r, basic("token", tok), hdr, gz.Bytes()); res.StatusCode != 413 {
		t.Fatalf("gzip bomb: %d %s", res.StatusCode, b)
	}
}

// Case 15, 16: credential auth routes by each message's own token.
func TestLogsAnyChannelCredential(t *testing.T) {
	r := newRig(t)
	var body strings.Builder
	for i := range 3 {
		body.WriteString(octet(fmt.Sprintf("<1>1 2020-01-01T00:00:00Z host %s web.1 - - a%d", tok, i)))
		body.WriteString(octet(fmt.Sprintf("<1>1 2020-01-01T00:00:00Z host t.two web.1 - - b%d", i)))
	}
	body.WriteString(octet("<1>1 2020-01-01T00:00:00Z host t.unknown web.1 - - lost"))
	body.WriteString(octet("a4b1c9d0-0000-4000-8000-000000000000"))
	before := route.ReadCounters()
	if res, b := post(t, r, basic("ANY", "secret"), ct, []byte(body.String())); res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	if h := r.history(t, "1"); len(h) != 3 || h[2] != "<1>1 2020-01-01T00:00:00Z host app web.1 - - a2" {
		t.Fatalf("channel 1: %q", h)
	}
	if h := r.history(t, "2"); len(h) != 3 || h[0] != "<1>1 2020-01-01T00:00:00Z host two web.1 - - b0" {
		t.Fatalf("channel 2: %q", h)
	}
	after := route.ReadCounters()
	if after.UnknownToken-before.UnknownToken != 1 || after.Malformed-before.Malformed != 1 {
		t.Fatalf("unknown +%d malformed +%d", after.UnknownToken-before.UnknownToken, after.Malformed-before.Malformed)
	}
}

func TestLogsDenyIngressAndHealth(t *testing.T) {
	r := newRig(t)
	r.http.DenyLogsIngress.Store(true)
	if res, _ := post(t, r, "", nil, nil); res.StatusCode != 503 {
		t.Fatalf("deny_logs_ingress: %d", res.StatusCode)
	}
	res, err := http.Get("http://" + r.http.Addr().String() + "/healthcheck")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "OK" {
		t.Fatalf("healthcheck %d %q", res.StatusCode, b)
	}
}

var _ store.Spool = (*embedded.Spool)(nil)

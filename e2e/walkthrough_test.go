package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "logplex-e2e")
	if err != nil {
		panic(err)
	}
	binPath, err = BuildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const spec33 = "<134>1 2012-12-10T03:00:48.123456Z erlang %s console.1 - - Logsplat test message %d"

// createChannel runs step 2 of the walkthrough and returns channel id and token.
func createChannel(t *testing.T, p *Proc, tokenName string) (string, string) {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/channels", p.User, p.Pass, nil, []byte(`{"tokens":["`+tokenName+`"]}`))
	if r.Status != 201 {
		t.Fatalf("POST /channels: %d %s", r.Status, r.Body)
	}
	var ch struct {
		ChannelID int               `json:"channel_id"`
		Tokens    map[string]string `json:"tokens"`
	}
	JSON(t, r, &ch)
	tok := ch.Tokens[tokenName]
	if ch.ChannelID < 1 || !strings.HasPrefix(tok, "t.") || len(tok) != 38 {
		t.Fatalf("POST /channels answered %s", r.Body)
	}
	return fmt.Sprint(ch.ChannelID), tok
}

// session creates a v2 session for channel (extra JSON fields allowed) and fetches it.
func session(t *testing.T, p *Proc, body string) Resp {
	t.Helper()
	r := Do(t, "POST", "http://"+p.API+"/v2/sessions", p.User, p.Pass, nil, []byte(body))
	if r.Status != 201 {
		t.Fatalf("POST /v2/sessions: %d %s", r.Status, r.Body)
	}
	var s struct{ URL string }
	JSON(t, r, &s)
	wantPrefix := "http://localhost:" + strings.Split(p.API, ":")[1] + "/sessions/"
	if !strings.HasPrefix(s.URL, wantPrefix) || len(s.URL) != len(wantPrefix)+36 {
		t.Fatalf("session url %q, want %s<uuid>", s.URL, wantPrefix)
	}
	return Do(t, "GET", strings.Replace(s.URL, "localhost", "127.0.0.1", 1), "", "", nil, nil)
}

// TestWalkthrough is the README's walkthrough, step by step, on the real binary.
func TestWalkthrough(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	if p.User == "" {
		t.Fatalf("banner printed no bootstrap credential:\n%s", p.Output())
	}
	if r := Do(t, "GET", "http://"+p.API+"/healthcheck", p.User, p.Pass, nil, nil); r.Status != 200 {
		t.Fatalf("healthcheck: %d %s", r.Status, r.Body)
	}
	if r := Do(t, "GET", "http://"+p.Logs+"/healthcheck", "", "", nil, nil); r.Status != 200 || r.Body != "OK" {
		t.Fatalf("logs healthcheck: %d %q", r.Status, r.Body)
	}
	ch, tok := createChannel(t, p, "app")

	body := Frame(fmt.Sprintf(spec33, tok, 1))
	r := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok,
		map[string]string{"Content-Type": "application/logplex-1"}, []byte(body))
	if r.Status != 204 {
		t.Fatalf("POST /logs: %d %q", r.Status, r.Body)
	}
	conn, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(conn, Frame(fmt.Sprintf(spec33, tok, 2)))
	conn.Close()

	want := "2012-12-10T03:00:48.123456Z app[console.1]: Logsplat test message 1\n" +
		"2012-12-10T03:00:48.123456Z app[console.1]: Logsplat test message 2\n"
	var got Resp
	Eventually(t, 5*time.Second, "both messages in the session", func() bool {
		got = session(t, p, `{"channel_id":"`+ch+`"}`)
		return got.Body == want
	})
	if got.Status != 200 {
		t.Fatalf("session GET status %d", got.Status)
	}
}

// TestByteExactSessionLine is acceptance 2: the docs/logplex.md §3.3 input, posted on
// /logs, comes back from a session as exactly one line.
func TestByteExactSessionLine(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	ch, tok := createChannel(t, p, "app")
	body := "118 " + fmt.Sprintf(spec33, tok, 1)
	if r := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok,
		map[string]string{"Content-Type": "application/logplex-1", "Logplex-Msg-Count": "1"}, []byte(body)); r.Status != 204 {
		t.Fatalf("POST /logs: %d %q", r.Status, r.Body)
	}
	r := session(t, p, `{"channel_id":"`+ch+`"}`)
	if want := "2012-12-10T03:00:48.123456Z app[console.1]: Logsplat test message 1\n"; r.Body != want {
		t.Fatalf("session body %q\nwant %q", r.Body, want)
	}
}

// TestTCPRandomSplits is acceptance 3: 10 000 frames over one connection,
// written in pieces split at random byte boundaries, all arrive in order.
func TestTCPRandomSplits(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--log-history", "20000")
	ch, tok := createChannel(t, p, "app")
	const n = 10000
	var stream strings.Builder
	for i := range n {
		stream.WriteString(Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z erlang %s web.1 - - msg %d", tok, i)))
	}
	data := []byte(stream.String())
	conn, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for off := 0; off < len(data); {
		k := min(len(data)-off, 1+rng.IntN(300))
		if _, err := conn.Write(data[off : off+k]); err != nil {
			t.Fatal(err)
		}
		off += k
	}
	conn.Close()
	var lines []string
	Eventually(t, 20*time.Second, "10 000 messages in history", func() bool {
		r := session(t, p, fmt.Sprintf(`{"channel_id":"%s","num":"%d"}`, ch, n))
		lines = strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n")
		return len(lines) == n
	})
	for i, l := range lines {
		if !strings.HasSuffix(l, fmt.Sprintf(" app[web.1]: msg %d", i)) {
			t.Fatalf("line %d = %q: out of order or damaged", i, l)
		}
	}
}

// TestMalformedFrameSkipped is acceptance 4: a malformed frame between good
// ones is counted and skipped; the connection and the good ones survive.
func TestMalformedFrameSkipped(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	ch, tok := createChannel(t, p, "app")
	before := Metric(t, p.Adm, "logplex_message_received_malformed_total")
	conn, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := func(i int) string {
		return Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z erlang %s web.1 - - good %d", tok, i))
	}
	fmt.Fprint(conn, good(1)+"<134>1 2012-12-10T03:00:48Z h t.x p - - not octet counted\n"+good(2))
	// the same connection stays usable:
	fmt.Fprint(conn, good(3))
	want := "2012-12-10T03:00:48.123456Z app[web.1]: good 1\n2012-12-10T03:00:48.123456Z app[web.1]: good 2\n" +
		"2012-12-10T03:00:48.123456Z app[web.1]: good 3\n"
	Eventually(t, 5*time.Second, "good frames in history", func() bool {
		return session(t, p, `{"channel_id":"`+ch+`"}`).Body == want
	})
	if after := Metric(t, p.Adm, "logplex_message_received_malformed_total"); after != before+1 {
		t.Fatalf("malformed counter %v -> %v, want +1", before, after)
	}
}

// TestBadJSONIs400 is acceptance 6 on the walkthrough's API calls.
func TestBadJSONIs400(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	for _, path := range []string{"/channels", "/v2/sessions"} {
		r := Do(t, "POST", "http://"+p.API+path, p.User, p.Pass, nil, []byte(`{"tokens":[`))
		if r.Status != 400 || strings.TrimSpace(r.Body) == "" {
			t.Errorf("POST %s with bad JSON: %d %q, want 400 with a message", path, r.Status, r.Body)
		}
	}
}

// TestRestartKeepsConfig: the embedded store persists channels, tokens and
// credentials across a restart.
func TestRestartKeepsConfig(t *testing.T) {
	dir := t.TempDir()
	p := StartAll(t, binPath, dir)
	ch, tok := createChannel(t, p, "app")
	user, pass := p.User, p.Pass
	p.Stop()
	q := StartAll(t, binPath, dir)
	if q.User != user || q.Pass != pass {
		t.Fatalf("bootstrap credential changed across restart")
	}
	r := Do(t, "GET", "http://"+q.API+"/v2/channels/"+ch, user, pass, nil, nil)
	if r.Status != 200 || !strings.Contains(r.Body, tok) {
		t.Fatalf("channel after restart: %d %s", r.Status, r.Body)
	}
	body := Frame(fmt.Sprintf(spec33, tok, 7))
	if r := Do(t, "POST", "http://"+q.Logs+"/logs", "token", tok,
		map[string]string{"Content-Type": "application/logplex-1"}, []byte(body)); r.Status != 204 {
		t.Fatalf("token after restart: %d", r.Status)
	}
}

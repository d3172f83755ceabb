package controlplane_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
)

// docs/logplex.md §10 group C (cases 25–33): the legacy API on :8001.

func TestCase25CreateChannelWithAppName(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("POST", p.api+"/channels", `{"name":"test-app","tokens": ["test"]}`, authH)
	want(t, r, 201)
	wantHeader(t, r, "Content-Type", "application/json")
	if !regexp.MustCompile(`^\{"channel_id":\d+,"tokens":\{"test":"t\.` + reUUID + `"\}\}$`).MatchString(r.body) {
		t.Fatalf("body %q", r.body)
	}
	r = p.do("POST", p.api+"/channels", `{"name":"no-tokens"}`, authH)
	if !regexp.MustCompile(`^\{"channel_id":\d+,"tokens":\[\]\}$`).MatchString(r.body) {
		t.Fatalf("empty tokens must encode as []: %q", r.body)
	}
}

func TestCase26ChannelIntCompat(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "app", "web")
	r := p.do("GET", p.api+"/channels/"+id+"/info", "", authH)
	want(t, r, 200)
	wantHeader(t, r, "Content-Type", "text/html")
	if !regexp.MustCompile(`^\{"channel_id":` + id + `,"tokens":\{"web":"t\.` + reUUID + `"\},"drains":\[\]\}$`).MatchString(r.body) {
		t.Fatalf("info body %q", r.body)
	}
	r = p.do("GET", p.api+"/v2/channels/"+id, "", authH)
	want(t, r, 200)
	if !regexp.MustCompile(`^\{"channel_id":` + id + `,"tokens":\[\{"name":"web","token":"t\.` + reUUID + `"\}\],"drains":\[\]\}$`).MatchString(r.body) {
		t.Fatalf("v2 body %q", r.body)
	}
	wantBody(t, p.do("GET", p.api+"/channels/123badchannel/info", "", authH), 404, "Not found")
	wantBody(t, p.do("GET", p.api+"/v2/channels/123badchannel", "", authH), 404, "Not found")
	wantBody(t, p.do("GET", p.api+"/v2/channels/999999", "", authH), 404, `{"error":"Not Found"}`)
}

func createLegacyChannel(t testing.TB, p *plane, name string, tokens ...string) string {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"tokens":[%s]}`, name, quoteAll(tokens))
	r := p.do("POST", p.api+"/channels", body, authH)
	want(t, r, 201)
	return strconv.Itoa(int(r.json(t)["channel_id"].(float64)))
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ",")
}

var reCanaryURL = regexp.MustCompile(`^\{"url":"(/v2/canary-fetch/(` + reUUID + `))"\}$`)

func TestCase27CanarySession(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("POST", p.api+"/v2/canary-sessions", `{"channel_id":"1"}`, authH)
	want(t, r, 201)
	wantHeader(t, r, "Content-Type", "application/json")
	if !reCanaryURL.MatchString(r.body) {
		t.Fatalf("body %q", r.body)
	}
}

func TestCase28CanaryFetch(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "canary", "ct")
	var msgs []string
	for k := 1; k <= 10; k++ {
		msgs = append(msgs, fmt.Sprintf("<15>1 2024-01-02T03:04:05Z fakehost ct erlang web.1 - %d", k))
	}
	p.seed(id, msgs...)
	r := p.do("POST", p.api+"/v2/canary-sessions", `{"channel_id":"`+id+`"}`, authH)
	m := reCanaryURL.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("canary session: %q", r.body)
	}
	r = p.do("GET", p.api+m[1], "", nil)
	want(t, r, 200)
	wantHeader(t, r, "Content-Type", "text/html")
	if len(r.te) != 1 || r.te[0] != "chunked" {
		t.Fatalf("transfer-encoding %v, want chunked", r.te)
	}
	var wantLines []string
	for k := 1; k <= 10; k++ {
		wantLines = append(wantLines, fmt.Sprintf("2024-01-02T03:04:05Z ct[erlang]: %d", k))
	}
	if r.body != strings.Join(wantLines, "\n")+"\n" {
		t.Fatalf("body %q", r.body)
	}
}

func TestCase29ReadOnly(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.LegacyAPIStatus = "read_only" })
	r := p.do("POST", p.api+"/v2/canary-sessions", `{"channel_id":"7"}`, authH)
	want(t, r, 201)
	m := reCanaryURL.FindStringSubmatch(r.body)
	want(t, p.do("GET", p.api+m[1], "", nil), 200)
	wantBody(t, p.do("POST", p.api+"/v2/sessions", `{"channel_id":"7"}`, authH), 503, "Logplex API temporarily in read-only mode")
	// read-only answers before authentication
	wantBody(t, p.do("POST", p.api+"/channels", `{}`, nil), 503, "Logplex API temporarily in read-only mode")
	wantBody(t, p.do("GET", p.api+"/healthcheck", "", authH), 200, `{"status":"read_only"}`)
}

func TestCase30Disabled(t *testing.T) {
	var sessionURL string
	st := newPlane(t, nil)
	r := st.do("POST", st.api+"/v2/canary-sessions", `{"channel_id":"7"}`, authH)
	sessionURL = reCanaryURL.FindStringSubmatch(r.body)[1]
	p := newPlaneOn(t, st.st, func(o *controlplane.Options) { o.LegacyAPIStatus = "disabled" })
	wantBody(t, p.do("POST", p.api+"/v2/canary-sessions", `{"channel_id":"7"}`, authH), 503, "Service Temporarily Disabled")
	wantBody(t, p.do("GET", p.api+sessionURL, "", nil), 503, "Service Temporarily Disabled")
	wantBody(t, p.do("GET", p.api+"/no/such/path", "", nil), 503, "Service Temporarily Disabled")
}

func TestCase31LegacyAuthFailure(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("GET", p.api+"/v2/channels/1", "", hdr{"Authorization", "Basic bad"})
	wantBody(t, r, 401, "Not Authorized")
	wantHeader(t, r, "Content-Type", "text/html")
	if r.header.Get("Www-Authenticate") != "" {
		t.Fatal("legacy 401 must not carry WWW-Authenticate")
	}
	wantBody(t, p.do("GET", p.api+"/v2/channels/1", "", nil), 401, "Not Authorized")
}

func TestCase32V2Drains(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "drains")
	r := p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"url":"syslog://example.com"}`, authH)
	want(t, r, 201)
	if !regexp.MustCompile(`^\{"id":\d+,"token":"d\.` + reUUID + `","url":"syslog://example.com:601"\}$`).MatchString(r.body) {
		t.Fatalf("body %q", r.body)
	}
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"url":"syslog://example.com"}`, authH),
		409, `{"error":"Already exists"}`)
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"url":"ftp://x"}`, authH),
		422, `{"error":"Invalid drain destination: {unknown_scheme,\"ftp\"}"}`)
}

func TestCase33SessionNumAndNoTail(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "tail", "app")
	p.seed(id, "<134>1 2012-12-10T03:00:48.1Z erlang app console.1 - - one",
		"<134>1 2012-12-10T03:00:48.2Z erlang app console.1 - - two",
		"<134>1 2012-12-10T03:00:48.3Z erlang app console.1 - - three")
	r := p.do("POST", p.api+"/v2/sessions", `{"channel_id":"`+id+`","tail":true}`, authH)
	want(t, r, 201)
	u := r.json(t)["url"].(string)
	if !regexp.MustCompile(`^http://localhost:8001/sessions/` + reUUID + `$`).MatchString(u) {
		t.Fatalf("session url %q", u)
	}
	r = p.do("GET", p.api+strings.TrimPrefix(u, "http://localhost:8001"), "", nil)
	want(t, r, 200) // no TailSource: ends after the history
	if strings.Count(r.body, "\n") != 3 || len(r.te) == 0 || r.te[0] != "chunked" {
		t.Fatalf("tail session body %q te %v", r.body, r.te)
	}
	r = p.do("POST", p.api+"/v2/sessions", `{"channel_id":"`+id+`","num":"1"}`, authH)
	u = r.json(t)["url"].(string)
	r = p.do("GET", p.api+strings.TrimPrefix(u, "http://localhost:8001"), "", nil)
	wantBody(t, r, 200, "2012-12-10T03:00:48.3Z app[console.1]: three\n") // exactly num lines (Logplex: num+1)
}

// The control_rod bit makes the legacy API read-only cluster-wide (§4.6).
func TestControlRodReadOnly(t *testing.T) {
	p := newPlane(t, nil)
	rod := func(bit string) {
		v, err := p.st.Write(t.Context(), config.Change{Key: config.ControlRodKey, Fields: config.Hash{"0": bit}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.w.WaitVersion(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	rod("1")
	wantBody(t, p.do("POST", p.api+"/v2/sessions", `{"channel_id":"1"}`, authH), 503, "Logplex API temporarily in read-only mode")
	wantBody(t, p.do("GET", p.api+"/healthcheck", "", authH), 200, `{"status":"read_only"}`)
	want(t, p.do("PUT", p.v3+"/v3/channels/rod", `{}`, jsonH), 201) // v3 has its own status
	rod("0")
	want(t, p.do("POST", p.api+"/v2/sessions", `{"channel_id":"1"}`, authH), 201)
}

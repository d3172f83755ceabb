package controlplane_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/internal/testenv"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

// Each test here holds one line of docs/compat.md.

func TestCompatBadInputIs400(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "bad")
	p.channel("app-bad")
	cases := []struct {
		method, url, body string
		h                 hdr
		code              int
	}{
		{"POST", p.api + "/channels", `{"name":`, authH, 400},
		{"POST", p.api + "/channels", ``, authH, 400},
		{"POST", p.api + "/channels", `{"name":5}`, authH, 400},
		{"POST", p.api + "/channels", `{"tokens":[1,2]}`, authH, 400},
		{"POST", p.api + "/channels", `[1]`, authH, 400},
		{"POST", p.api + "/channels/" + id + "/token", `nope`, authH, 400},
		{"POST", p.api + "/channels/" + id + "/token", `{"name":7}`, authH, 400},
		{"POST", p.api + "/v2/channels/" + id + "/tokens", `{"name":[]}`, authH, 400},
		{"POST", p.api + "/v2/channels/" + id + "/drains", `{"url":5}`, authH, 400},
		{"POST", p.api + "/v2/channels/" + id + "/drains", `{"host":"example.com","port":"x"}`, authH, 400},
		{"POST", p.api + "/v2/sessions", `{`, authH, 400},
		{"POST", p.api + "/sessions", ``, authH, 400},
		{"PUT", p.v3 + "/v3/channels/app-bad", `{"tokens":[1]}`, jsonH, 400},
		{"PUT", p.v3 + "/v3/channels/app-bad", `{"tokens":"x"}`, jsonH, 400},
		{"PUT", p.v3 + "/v3/channels/app-bad", `{`, jsonH, 400},
		{"PUT", p.v3 + "/v3/channels/app-bad", ``, jsonH, 400},
		{"POST", p.v3 + "/v3/channels/app-bad/drains", ``, jsonH, 400},
		{"POST", p.v3 + "/v3/channels/app-bad/drains", `{"url":7}`, jsonH, 400},
		{"POST", p.v3 + "/v3/channels/app-bad/tokens", `{"name":7}`, jsonH, 400},
		{"POST", p.v3 + "/v3/sessions", `{"channel_id":1}`, jsonH, 400},
		{"POST", p.v3 + "/v3/sessions", ``, jsonH, 400},
		{"POST", p.v3 + "/v3/credentials", `{"grants":"full_api"}`, jsonH, 400},
	}
	for _, c := range cases {
		r := p.do(c.method, c.url, c.body, c.h)
		if r.code != c.code || r.body == "" {
			t.Errorf("%s %s %q: %d %q, want %d with a message", c.method, c.url, c.body, r.code, r.body, c.code)
		}
	}
}

func TestCompatInvalidBase64Is401(t *testing.T) {
	p := newPlane(t, nil)
	wantBody(t, p.do("GET", p.api+"/v2/channels/1", "", hdr{"Authorization", "Basic !!!not-base64"}), 401, "Not Authorized")
	want(t, p.do("GET", p.v3+"/v3/channels/x", "", hdr{"Authorization", "Basic !!!not-base64"}), 401)
	want(t, p.do("GET", p.v3+"/v3/channels/x", "", hdr{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon"))}), 401)
}

func TestCompatBodyLimit413(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxBodyBytes = 1024 })
	big := `{"name":"` + strings.Repeat("x", 2000) + `"}`
	want(t, p.do("POST", p.api+"/channels", big, authH), 413)
	want(t, p.do("POST", p.v3+"/v3/channels/x/tokens", big, jsonH), 413)
}

func TestCompatUnknownInfoAndShortSessionIDAre404(t *testing.T) {
	p := newPlane(t, nil)
	wantBody(t, p.do("GET", p.api+"/channels/424242/info", "", authH), 404, "Not found")
	wantBody(t, p.do("GET", p.api+"/sessions/abc", "", nil), 404, "Not found")
	wantBody(t, p.do("GET", p.api+"/sessions/"+newUUIDish(t, 1), "", nil), 404, "Not found")
	wantBody(t, p.do("GET", p.api+"/v2/canary-fetch/x-y", "", nil), 404, "Not found")
}

func TestCompatSessionNumAndBody(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "num", "app")
	p.seed(id, "<1>1 2020-01-01T00:00:00Z h app web.1 - - a", "<1>1 2020-01-01T00:00:01Z h app web.1 - - b")
	fetch := func(body string) resp {
		r := p.do("POST", p.api+"/v2/sessions", body, authH)
		want(t, r, 201)
		return p.do("GET", p.api+strings.TrimPrefix(r.json(t)["url"].(string), "http://localhost:8001"), "", nil)
	}
	wantBody(t, fetch(`{"channel_id":"`+id+`","num":"x1"}`), 400, "'num' must be a non-negative integer or a string of digits")
	wantBody(t, fetch(`{"channel_id":"`+id+`","num":1}`), 200, "2020-01-01T00:00:01Z app[web.1]: b\n")
	wantBody(t, fetch(`{"num":"1"}`), 400, "'channel_id' missing")
	want(t, p.do("POST", p.api+"/v2/sessions", `"just a string"`, authH), 400)
}

func TestCompatExactNumAndFilters(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "filters", "app")
	var msgs []string
	for i := 0; i < 50; i++ {
		ps := "web.1"
		if i%10 == 0 {
			ps = "worker.2"
		}
		msgs = append(msgs, "<1>1 2020-01-01T00:00:00Z h app "+ps+" - - m"+strings.Repeat("x", i%3)+string(rune('A'+i%26)))
	}
	p.seed(id, msgs...)
	r := p.do("POST", p.api+"/v2/sessions", `{"channel_id":"`+id+`","num":"3","ps":"worker"}`, authH)
	r = p.do("GET", p.api+strings.TrimPrefix(r.json(t)["url"].(string), "http://localhost:8001"), "", nil)
	// worker lines are i = 0,10,20,30,40: the newest 3 are 20, 30, 40, oldest first
	wantBody(t, r, 200, "2020-01-01T00:00:00Z app[worker.2]: mxxU\n2020-01-01T00:00:00Z app[worker.2]: mE\n2020-01-01T00:00:00Z app[worker.2]: mxO\n")
	r = p.do("POST", p.api+"/v2/sessions", `{"channel_id":"`+id+`","num":"2","source":"nope"}`, authH)
	r = p.do("GET", p.api+strings.TrimPrefix(r.json(t)["url"].(string), "http://localhost:8001"), "", nil)
	wantBody(t, r, 200, "")
	r = p.do("GET", p.v3+"/v3/channels/"+id+"/logs?num=2", "", authH)
	wantHeader(t, r, "Logplex-Msg-Count", "2")
	r = p.do("GET", p.v3+"/v3/channels/"+id+"/logs?num=-3", "", authH)
	wantHeader(t, r, "Logplex-Msg-Count", "50")
	r = p.do("GET", p.v3+"/v3/channels/"+id+"/logs?num=0", "", authH)
	wantHeader(t, r, "Logplex-Msg-Count", "0")
}

func TestCompatNextReadSeesWrite(t *testing.T) {
	p := newPlane(t, nil)
	for i := 0; i < 20; i++ {
		ch := "seq-" + string(rune('a'+i))
		want(t, p.do("PUT", p.v3+"/v3/channels/"+ch, `{"tokens":["a"]}`, jsonH), 201)
		want(t, p.do("GET", p.v3+"/v3/channels/"+ch, "", authH), 200)
		want(t, p.do("POST", p.v3+"/v3/channels/"+ch+"/tokens", `{"name":"b"}`, jsonH), 200)
		r := p.do("GET", p.v3+"/v3/channels/"+ch, "", authH)
		if len(tokenMap(t, r)) != 2 {
			t.Fatalf("read after write: %q", r.body)
		}
	}
}

// failingStore is the embedded store with a switch that makes every call
// fail as an unreachable Redis would.
type failingStore struct {
	*embedded.Config
	down atomic.Bool
}

// redisAddr is the address a failing store's errors name, as rueidis's do;
// it must reach the log and never a response body.
const redisAddr = "10.9.8.7:6379"

func (f *failingStore) fail() error {
	if f.down.Load() {
		return fmt.Errorf("dial tcp %s: connect: connection refused: %w", redisAddr, store.ErrUnavailable)
	}
	return nil
}

func (f *failingStore) Incr(ctx context.Context, key string) (int64, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Config.Incr(ctx, key)
}

func (f *failingStore) Write(ctx context.Context, ch ...config.Change) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Config.Write(ctx, ch...)
}

func (f *failingStore) PutSession(ctx context.Context, id string, b []byte, ttl time.Duration) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Config.PutSession(ctx, id, b, ttl)
}

func (f *failingStore) Session(ctx context.Context, id string) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Config.Session(ctx, id)
}

func TestCompatStoreDownIs503(t *testing.T) {
	emb, _ := embedded.OpenConfig("")
	fs := &failingStore{Config: emb}
	var logs testenv.Buffer
	p := newPlaneOn(t, emb, func(o *controlplane.Options) {
		o.Store = fs
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	id := createLegacyChannel(t, p, "down", "app")
	p.channel("app-down", "web")
	fs.down.Store(true)
	cases := []struct{ method, url, body string }{
		{"GET", p.api + "/healthcheck", ""},
		{"POST", p.api + "/channels", `{}`},
		{"DELETE", p.api + "/channels/" + id, ""},
		{"POST", p.api + "/v2/channels/" + id + "/tokens", `{"name":"x"}`},
		{"POST", p.api + "/v2/channels/" + id + "/drains", `{"url":"https://logs.example.com/"}`},
		{"POST", p.api + "/v2/sessions", `{"channel_id":"1"}`},
		{"GET", p.api + "/sessions/" + newUUIDish(t, 5), ""},
		{"PUT", p.v3 + "/v3/channels/app-down", `{}`},
		{"POST", p.v3 + "/v3/channels/app-down/tokens", `{"name":"x"}`},
		{"POST", p.v3 + "/v3/channels/app-down/drains", `{}`},
		{"POST", p.v3 + "/v3/sessions", `{"channel_id":"app-down"}`},
		{"POST", p.v3 + "/v3/credentials", `{"name":"n","grants":[]}`},
	}
	for _, c := range cases {
		r := p.do(c.method, c.url, c.body, jsonH)
		if r.code != 503 || !strings.Contains(r.body, "unavailable") {
			t.Errorf("%s %s: %d %q, want 503 saying the store is unavailable", c.method, c.url, r.code, r.body)
		}
		if strings.Contains(r.body, "10.9.8.7") || strings.Contains(r.body, "refused") {
			t.Errorf("%s %s: body %q shows the store's error; want a generic message (the detail goes to the log)", c.method, c.url, r.body)
		}
	}
	if n := strings.Count(logs.String(), redisAddr); n < len(cases) {
		t.Errorf("the log names %s %d times for %d failed requests; want the detail of each in the log", redisAddr, n, len(cases))
	}
	fs.down.Store(false)
	want(t, p.do("GET", p.api+"/healthcheck", "", authH), 200)
}

func TestCompatOrphansRefused(t *testing.T) {
	p := newPlane(t, nil)
	wantBody(t, p.do("POST", p.api+"/channels/777/token", `{"name":"x"}`, authH), 404, "Not found")
	wantBody(t, p.do("POST", p.api+"/v2/channels/777/tokens", `{"name":"x"}`, authH), 404, `{"error":"No such channel"}`)
	wantBody(t, p.do("POST", p.api+"/channels/777/drains/tokens", "", authH), 404, "Not found")
	wantBody(t, p.do("POST", p.api+"/v2/channels/777/drains", `{"url":"https://logs.example.com/"}`, authH), 404, `{"error":"No such channel"}`)
	if s := p.snapshot(); s.NumTokens() != 0 || s.NumDrains() != 0 {
		t.Fatalf("orphans stored: %d tokens, %d drains", s.NumTokens(), s.NumDrains())
	}
	wantBody(t, p.do("POST", p.api+"/foo/load", `[]`, authH), 404, "Not found")
}

func TestCompatV3ChannelIDs(t *testing.T) {
	p := newPlane(t, nil)
	want(t, p.do("PUT", p.v3+"/v3/channels/a:b", `{}`, jsonH), 400)
	want(t, p.do("PUT", p.v3+"/v3/channels/"+strings.Repeat("x", 201), `{}`, jsonH), 400)
	want(t, p.do("PUT", p.v3+"/v3/channels/a%0Ab", `{}`, jsonH), 400)
	want(t, p.do("PUT", p.v3+"/v3/channels/with%20space", `{}`, jsonH), 201)
	want(t, p.do("GET", p.v3+"/v3/channels/with%20space/", "", authH), 200) // trailing slash ignored
}

func TestCompatV3ErrorBodiesAndMethods(t *testing.T) {
	p := newPlane(t, nil)
	// auth before the body is read (cowboy checked malformed first; docs/compat.md)
	want(t, p.do("POST", p.v3+"/v3/channels/x/tokens", `{`, nil), 401)
	r := p.do("POST", p.v3+"/v3/channels/x/tokens", `{`, jsonH)
	want(t, r, 400) // malformed, with a reason
	if !strings.HasPrefix(r.body, `{"error":`) {
		t.Fatalf("body %q", r.body)
	}
	want(t, p.do("BREW", p.v3+"/v3/channels/x", "", authH), 501)
	wantBody(t, p.do("BREW", p.api+"/channels", "", authH), 404, "Not found")
	d := newPlane(t, func(o *controlplane.Options) { o.APIStatus = "read_only" })
	r = d.do("PUT", d.v3+"/v3/channels/x", `{}`, jsonH)
	if r.code != 503 || !strings.HasPrefix(r.body, `{"error":`) {
		t.Fatalf("read-only PUT: %d %q", r.code, r.body)
	}
	want(t, d.do("GET", d.v3+"/v3/channels/x", "", authH), 404)
}

func TestCompatNotReadyIs503(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	b := newPlaneOn(t, st, func(o *controlplane.Options) { o.Watcher = newIdleWatcher(st) })
	wantBody(t, b.do("POST", b.api+"/channels", `{}`, authH), 503, "SYSTEM BOOTING")
	want(t, b.do("PUT", b.v3+"/v3/channels/x", `{}`, jsonH), 503)
}

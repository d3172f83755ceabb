package controlplane_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

const testKey = "8c2f2c3e-2a8b-4d9a-9d6e-0f8a5c9b7e11" // LOGPLEX_AUTH_KEY in tests

var (
	reUUID    = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	reTokenID = regexp.MustCompile(`^t\.` + reUUID + `$`)
)

// plane is a control plane on loopback listeners over an in-memory
// embedded store, with the watcher running.
type plane struct {
	t      testing.TB
	cp     *controlplane.ControlPlane
	st     *embedded.Config
	spool  *embedded.Spool
	w      *store.Watcher
	api    string // http://127.0.0.1:port of the legacy listener
	v3     string // http://127.0.0.1:port of the v3 listener
	client *http.Client
}

func newPlane(t testing.TB, mod func(*controlplane.Options)) *plane {
	st, err := embedded.OpenConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return newPlaneOn(t, st, mod)
}

// newPlaneOn starts a plane over st; a nil watcher start (Options.Watcher
// preset by mod) is honoured.
func newPlaneOn(t testing.TB, st *embedded.Config, mod func(*controlplane.Options)) *plane {
	ctx, cancel := context.WithCancel(context.Background())
	p := &plane{t: t, st: st, spool: embedded.NewSpool(0, 0)}
	opts := controlplane.Options{APIAddr: "127.0.0.1:0", V3Addr: "127.0.0.1:0", AuthKey: testKey,
		Store: st, Spool: p.spool, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&opts)
	}
	if opts.Watcher == nil {
		opts.Watcher = store.NewWatcher(st, 0, nil)
		go opts.Watcher.Run(ctx)
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		if err := opts.Watcher.WaitVersion(wctx, ""); err != nil {
			t.Fatal("watcher never loaded:", err)
		}
	}
	p.w = opts.Watcher
	cp, err := controlplane.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	p.cp, p.api, p.v3 = cp, "http://"+cp.APIAddr().String(), "http://"+cp.V3Addr().String()
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	p.client = &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	t.Cleanup(func() {
		// connections the client dialed but never used are "new" to the
		// server, which waits 5 s for them on Shutdown: close them first
		p.client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Error("Run:", err)
		}
	})
	return p
}

// resp is a fully read response.
type resp struct {
	code   int
	status string // e.g. "201 Created"
	header http.Header
	body   string
	te     []string // Transfer-Encoding
	close  bool     // the server sent Connection: close
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// hdr is a list of header name, value pairs.
type hdr []string

var (
	authH = hdr{"Authorization", "Basic " + testKey}
	jsonH = hdr{"Authorization", "Basic " + testKey, "Content-Type", "application/json"}
)

func (p *plane) do(method, url, body string, h hdr) resp {
	p.t.Helper()
	r, err := p.try(method, url, body, h)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func (p *plane) try(method, url, body string, h hdr) (resp, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return resp{}, err
	}
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	res, err := p.client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{code: res.StatusCode, status: res.Status, header: res.Header, body: string(b), te: res.TransferEncoding, close: res.Close}, nil
}

// want fails unless r has the status code.
func want(t testing.TB, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d (%s), want %d; body %q", r.code, r.status, code, r.body)
	}
}

func wantBody(t testing.TB, r resp, code int, body string) {
	t.Helper()
	want(t, r, code)
	if r.body != body {
		t.Fatalf("body\n got %q\nwant %q", r.body, body)
	}
}

func wantHeader(t testing.TB, r resp, name, value string) {
	t.Helper()
	if got := r.header.Get(name); got != value {
		t.Fatalf("header %s = %q, want %q", name, got, value)
	}
}

// seed puts cooked messages into a channel's history, oldest first.
func (p *plane) seed(ch string, msgs ...string) {
	b := store.GetHistoryBatch()
	for _, m := range msgs {
		b.Add(ch, []byte(m))
	}
	p.spool.Write(b)
}

// channel creates v3 channel id with tokens and returns name → token id.
func (p *plane) channel(id string, tokens ...string) map[string]string {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"tokens": tokens})
	r := p.do("PUT", p.v3+"/v3/channels/"+id, string(body), jsonH)
	if r.code != 201 && r.code != 200 {
		p.t.Fatalf("PUT channel %s: %d %q", id, r.code, r.body)
	}
	out := map[string]string{}
	if m, ok := r.json(p.t)["tokens"].(map[string]any); ok {
		for k, v := range m {
			out[k] = v.(string)
		}
	}
	return out
}

// snapshot is the watcher's current config.
func (p *plane) snapshot() *config.Snapshot { return p.w.Current() }

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newIdleWatcher is a watcher over st that is never run: it stays "booting".
func newIdleWatcher(st store.ConfigStore) *store.Watcher { return store.NewWatcher(st, 0, nil) }

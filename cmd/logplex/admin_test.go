package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
)

func startAdmin(t *testing.T, o adminOptions) string {
	t.Helper()
	a, err := newAdmin("127.0.0.1:0", o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.mux.HandleFunc("POST /control-rods/{verb}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a.addr()
}

func adminDo(t *testing.T, method, url string, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The admin address refuses DNS rebinding (a Host that is a foreign name),
// cross-origin requests, and writes without the token when one is set.
func TestAdminGuard(t *testing.T) {
	addr := startAdmin(t, adminOptions{token: "s3cret", allowedHosts: []string{"ops.internal"}})
	base := "http://" + addr
	cases := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		want   int
	}{
		{"metrics by IP", "GET", "/metrics", nil, 200},
		{"metrics by localhost", "GET", "/metrics", map[string]string{"Host": "localhost:5565"}, 200},
		{"metrics by an allowed name", "GET", "/metrics", map[string]string{"Host": "OPS.internal:5565"}, 200},
		{"rebinding: foreign Host", "GET", "/metrics", map[string]string{"Host": "attacker.example:5565"}, 403},
		{"rebinding: write", "POST", "/control-rods/deny_logs_ingress", map[string]string{"Host": "attacker.example", "Authorization": "Bearer s3cret"}, 403},
		{"cross-origin write", "POST", "/control-rods/deny_logs_ingress", map[string]string{"Origin": "https://attacker.example", "Authorization": "Bearer s3cret"}, 403},
		{"cross-site fetch", "GET", "/metrics", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-origin read", "GET", "/metrics", map[string]string{"Origin": base}, 200},
		{"write without token", "POST", "/control-rods/deny_logs_ingress", nil, 401},
		{"write with a wrong token", "POST", "/control-rods/deny_logs_ingress", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"write with the token", "POST", "/control-rods/deny_logs_ingress", map[string]string{"Authorization": "Bearer s3cret"}, 200},
	}
	for _, c := range cases {
		if got := adminDo(t, c.method, base+c.path, c.hdr); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	open := startAdmin(t, adminOptions{})
	if got := adminDo(t, "POST", "http://"+open+"/control-rods/x", nil); got != 200 {
		t.Errorf("no token configured: write answered %d", got)
	}
}

// /debug/pprof/cmdline hides secret flag values in every spelling.
func TestAdminCmdlineRedacted(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"logplex", "all", "--auth-key", "KEY1", "-auth-key=KEY2", "--config-redis-url=redis://:PW1@h:6379",
		"--shard-urls", "redis://:PW2@a:1,redis://b:2", "--admin-token", "TOK", "--log-level", "debug"}
	addr := startAdmin(t, adminOptions{})
	res, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, secret := range []string{"KEY1", "KEY2", "PW1", "PW2", "TOK"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("cmdline shows %s: %q", secret, b)
		}
	}
	if !bytes.Contains(b, []byte("redis://***@h:6379")) || !bytes.Contains(b, []byte("debug")) {
		t.Errorf("cmdline over-redacted: %q", b)
	}
}

// A secret given as a flag is warned about; the same in the environment is not.
func TestWarnSecretFlags(t *testing.T) {
	var s settings
	fs := newFlagSet("t", &s)
	if err := fs.Parse([]string{"--auth-key", "k", "--config-redis-url", "redis://h:6379"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	warnSecretFlags(fs, slog.New(slog.NewTextHandler(&out, nil)))
	if !strings.Contains(out.String(), "--auth-key") || strings.Contains(out.String(), "config-redis-url") {
		t.Fatalf("warnings: %s", out.String())
	}
	out.Reset()
	warnSecretFlags(flag.NewFlagSet("empty", flag.ContinueOnError), slog.New(slog.NewTextHandler(&out, nil)))
	if out.Len() != 0 {
		t.Fatalf("warned without flags: %s", out.String())
	}
}

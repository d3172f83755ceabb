package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

var reCreated = regexp.MustCompile(`(?m)^id: ([0-9A-F]{32})\npassword: ([0-9A-F]{64})\nname: ops\ngrants: full_api,any_channel\n`)

func TestCredCreateListRevokeOnDataDir(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if rc := runCred([]string{"create", "--data-dir", dir, "--name", "ops", "--grant", "full_api,any_channel"}, &out, &errb); rc != 0 {
		t.Fatalf("create: %d %s", rc, errb.String())
	}
	m := reCreated.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("create output %q", out.String())
	}
	out.Reset()
	if rc := runCred([]string{"list", "--data-dir", dir}, &out, &errb); rc != 0 || !strings.Contains(out.String(), m[1]+"  ops") || strings.Contains(out.String(), m[2]) {
		t.Fatalf("list: %d %q (must show the id, never the password)", rc, out.String())
	}
	if rc := runCred([]string{"revoke", "--data-dir", dir, m[1]}, &out, &errb); rc != 0 {
		t.Fatalf("revoke: %d %s", rc, errb.String())
	}
	out.Reset()
	runCred([]string{"list", "--data-dir", dir}, &out, &errb)
	if strings.Contains(out.String(), m[1]) {
		t.Fatalf("revoked credential still listed: %q", out.String())
	}
	errb.Reset()
	if rc := runCred([]string{"revoke", "--data-dir", dir, m[1]}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "no such credential") {
		t.Fatalf("second revoke: %d %q", rc, errb.String())
	}
	for _, args := range [][]string{nil, {"bogus"}, {"revoke"}, {"create", "--grant", "root", "--data-dir", dir},
		{"create", "--data-dir", dir}, {"create", "--name", " ", "--data-dir", dir}} {
		if rc := runCred(args, io.Discard, io.Discard); rc == 0 {
			t.Errorf("runCred(%q) = 0", args)
		}
	}
}

// TestCredWorksForAPI: a credential made by `logplex cred create` opens the
// API; `logplex cred revoke` closes it for the next request.
func TestCredWorksForAPI(t *testing.T) {
	st, err := embedded.OpenConfig("")
	if err != nil {
		t.Fatal(err)
	}
	saved := openStoreForCred
	openStoreForCred = func(string, bool) (store.ConfigStore, error) { return st, nil }
	t.Cleanup(func() { openStoreForCred = saved })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := store.NewWatcher(st, 0, nil)
	go w.Run(ctx)
	cp, err := controlplane.New(controlplane.Options{APIAddr: "127.0.0.1:0", V3Addr: "127.0.0.1:0", Store: st, Watcher: w,
		Spool: embedded.NewSpool(0, 0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go cp.Run(ctx)

	var out bytes.Buffer
	if rc := runCred([]string{"create", "--name", "ops", "--grant", "full_api,any_channel"}, &out, io.Discard); rc != 0 {
		t.Fatal("create failed")
	}
	m := reCreated.FindStringSubmatch(out.String())
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(m[1]+":"+m[2]))
	url := "http://" + cp.V3Addr().String() + "/v3/channels/none"
	status := func() int {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", basic)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitFor(t, time.Second, func() bool { return status() == 404 }) // authorised: the channel does not exist
	if rc := runCred([]string{"revoke", m[1]}, io.Discard, io.Discard); rc != 0 {
		t.Fatal("revoke failed")
	}
	waitFor(t, time.Second, func() bool { return status() == 401 })
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCredListNeedsAStore: list and revoke on a directory without a store
// fail and leave it without one; create without --name is a usage error
// (no nameless credential is made).
func TestCredListNeedsAStore(t *testing.T) {
	dir := t.TempDir() + "/typo"
	var errb bytes.Buffer
	for _, args := range [][]string{{"list", "--data-dir", dir}, {"revoke", "--data-dir", dir, "ABC"}} {
		errb.Reset()
		if rc := runCred(args, io.Discard, &errb); rc != 1 || !strings.Contains(errb.String(), "no embedded store in --data-dir") {
			t.Errorf("%q: exit %d, %q", args, rc, errb.String())
		}
	}
	if rc := runCred([]string{"create", "--data-dir", dir}, io.Discard, io.Discard); rc != 2 {
		t.Errorf("create without --name: exit %d, want 2", rc)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a store directory was created: %v", err)
	}
}

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeAPI answers POST /v2/sessions and GET /sessions/<id> as the control
// plane does, recording what it was sent.
type fakeAPI struct {
	auth    string
	session map[string]any
	url     string // what POST answers; "" = the path only
}

func (f *fakeAPI) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/sessions", func(w http.ResponseWriter, r *http.Request) {
		f.auth = r.Header.Get("Authorization")
		if err := json.NewDecoder(r.Body).Decode(&f.session); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"url":"`+f.url+`/sessions/0b8a0c4e-1111-4222-8333-444455556666"}`)
	})
	mux.HandleFunc("GET /sessions/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Heroku-Warning", "Warning: log history discarded due to excessive volume.")
		io.WriteString(w, "2012-12-10T03:00:48Z app[web.1]: one\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "2012-12-10T03:00:49Z app[web.1]: two\n")
	})
	return mux
}

func TestTailCommandTalksLikeHeroku(t *testing.T) {
	f := &fakeAPI{}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := runTail([]string{"--api", srv.URL + "/", "--channel", "42", "--ps", "web", "--source", "app", "--num", "5",
		"--user", "U", "--password", "P"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != "2012-12-10T03:00:48Z app[web.1]: one\n2012-12-10T03:00:49Z app[web.1]: two\n" {
		t.Fatalf("stdout %q", out.String())
	}
	if f.auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("U:P")) {
		t.Fatalf("Authorization %q", f.auth)
	}
	want := map[string]any{"channel_id": "42", "num": "5", "tail": true, "ps": "web", "source": "app"}
	for k, v := range want {
		if f.session[k] != v {
			t.Fatalf("session body %v, want %v", f.session, want)
		}
	}
	if !strings.Contains(errb.String(), "log history discarded") || !strings.Contains(errb.String(), "ended the session") {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestTailCommandCredentialsAndErrors(t *testing.T) {
	f := &fakeAPI{}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	f.url = srv.URL // an absolute session URL is used as given

	t.Setenv("LOGPLEX_TAIL_USER", "")
	t.Setenv("LOGPLEX_AUTH_KEY", "master")
	var out, errb bytes.Buffer
	if code := runTail([]string{"--api", srv.URL, "--channel", "7"}, &out, &errb); code != 0 || f.auth != "Basic master" {
		t.Fatalf("master key: exit %d, Authorization %q, %s", code, f.auth, errb.String())
	}
	t.Setenv("LOGPLEX_TAIL_USER", "envuser")
	t.Setenv("LOGPLEX_TAIL_PASSWORD", "envpass")
	if code := runTail([]string{"--api", srv.URL, "--channel", "7"}, &out, &errb); code != 0 ||
		f.auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("envuser:envpass")) {
		t.Fatalf("env credential: exit %d, Authorization %q", code, f.auth)
	}

	t.Setenv("LOGPLEX_TAIL_USER", "")
	t.Setenv("LOGPLEX_AUTH_KEY", "")
	errb.Reset()
	if code := runTail([]string{"--api", srv.URL, "--channel", "7"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no credential") {
		t.Fatalf("no credential: exit %d, %s", code, errb.String())
	}
	if code := runTail([]string{"--api", srv.URL}, &out, io.Discard); code != 2 {
		t.Fatalf("no --channel: exit %d, want 2", code)
	}
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Not Authorized", http.StatusUnauthorized)
	}))
	defer denied.Close()
	errb.Reset()
	if code := runTail([]string{"--api", denied.URL, "--channel", "7", "--user", "u"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "401") {
		t.Fatalf("refused: exit %d, %s", code, errb.String())
	}
}

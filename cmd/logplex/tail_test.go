package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
	mux.HandleFunc("GET /v2/channels/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "404" {
			http.Error(w, `{"error":"Not Found"}`, http.StatusNotFound)
		}
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
		"--user", "U", "--password", "P", "--reconnect=false"}, &out, &errb)
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
	if code := runTail([]string{"--api", srv.URL, "--channel", "7", "--reconnect=false"}, &out, &errb); code != 0 || f.auth != "Basic master" {
		t.Fatalf("master key: exit %d, Authorization %q, %s", code, f.auth, errb.String())
	}
	t.Setenv("LOGPLEX_TAIL_USER", "envuser")
	t.Setenv("LOGPLEX_TAIL_PASSWORD", "envpass")
	if code := runTail([]string{"--api", srv.URL, "--channel", "7", "--reconnect=false"}, &out, &errb); code != 0 ||
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

// A channel that does not exist ends `logplex tail` at once, non-zero,
// before any "streaming" line.
func TestTailCommandUnknownChannel(t *testing.T) {
	f := &fakeAPI{}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := runTail([]string{"--api", srv.URL, "--channel", "404", "--user", "U", "--password", "P"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "channel 404 does not exist") || strings.Contains(errb.String(), "streaming") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if f.session != nil {
		t.Fatalf("a session was created: %v", f.session)
	}
}

// A stream that breaks is resumed: lines already printed are skipped, and
// stderr says whether messages may be missing. The channel's deletion ends
// the tail (exit 1).
func TestTailCommandReconnects(t *testing.T) {
	streams := []struct{ lines []string }{
		{[]string{"a 1\n", "a 2\n"}},                   // then the connection breaks
		{[]string{"a 1\n", "a 2\n", "a 3\n", "a 4\n"}}, // history overlaps: no gap
		{[]string{"a 9\n"}},                            // no overlap: a gap
	}
	var fetches, checks atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/channels/{id}", func(w http.ResponseWriter, _ *http.Request) {
		if int(checks.Add(1)) > len(streams) {
			http.Error(w, "Not Found", http.StatusNotFound) // deleted
		}
	})
	mux.HandleFunc("POST /v2/sessions", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"url":"/sessions/0b8a0c4e-1111-4222-8333-444455556666"}`)
	})
	mux.HandleFunc("GET /sessions/{id}", func(w http.ResponseWriter, _ *http.Request) {
		s := streams[fetches.Add(1)-1]
		for _, l := range s.lines {
			io.WriteString(w, l)
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "a partial line")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the control plane dies mid-stream
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var out, errb bytes.Buffer
	code := runTail([]string{"--api", srv.URL, "--channel", "5", "--user", "U", "--password", "P"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "channel 5 does not exist") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if out.String() != "a 1\na 2\na 3\na 4\na 9\n" {
		t.Fatalf("stdout %q", out.String())
	}
	for _, want := range []string{"stream: unexpected EOF; reconnecting in 250ms", "reconnecting in 500ms",
		"the history covered the break", `messages after "a 4" and before "a 9" may be missing`} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

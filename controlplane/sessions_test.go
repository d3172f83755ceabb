package controlplane_test

import (
	"bufio"
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

// sessionURL creates a legacy v2 session and returns its path on :8001.
func (p *plane) sessionPath(body string) string {
	p.t.Helper()
	r := p.do("POST", p.api+"/v2/sessions", body, authH)
	want(p.t, r, 201)
	return strings.TrimPrefix(r.json(p.t)["url"].(string), "http://localhost:8001")
}

func TestSessionLineByteExact(t *testing.T) {
	p := newPlane(t, nil)
	id := createLegacyChannel(t, p, "exact", "app")
	p.seed(id, "<134>1 2012-12-10T03:00:48.123456Z erlang app console.1 - - Logsplat test message 1")
	r := p.do("GET", p.api+p.sessionPath(`{"channel_id":"`+id+`"}`), "", nil)
	wantBody(t, r, 200, "2012-12-10T03:00:48.123456Z app[console.1]: Logsplat test message 1\n") // case 21
	if !r.close {
		t.Fatal("session responses carry Connection: close")
	}
	for i, sd := range []string{`-`, `[meta sequenceId="518"]`, `[meta testName="bob\]"]`, `[meta sequenceId="518"][meta somethingElse="blah\]"]`} {
		ch := "syslog-" + string(rune('a'+i))
		p.channel(ch, "token")
		p.seed(ch, `<133>1 2013-05-24T06:48:51.740194+00:00 host token process - `+sd+` this is the message`)
		r := p.do("GET", p.api+p.sessionPath(`{"channel_id":"`+ch+`"}`), "", nil)
		wantBody(t, r, 200, "2013-05-24T06:48:51.740194+00:00 token[process]: this is the message\n") // case 23
		r = p.do("GET", p.v3+"/v3/channels/"+ch+"/logs", "", authH)
		wantBody(t, r, 200, "81 <133>1 2013-05-24T06:48:51.740194+00:00 host token process - this is the message\n")
	}
}

func TestSessionNoRedisWarningAndL20(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("flags", "app")
	v, err := p.st.Write(t.Context(), config.Change{Key: config.ChannelKey("flags"), Fields: config.ChannelHash("", "no_redis:no_tail")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.w.WaitVersion(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	r := p.do("GET", p.api+p.sessionPath(`{"channel_id":"flags","tail":false}`), "", nil)
	want(t, r, 200)
	wantHeader(t, r, "X-Heroku-Warning", "Warning: log history discarded due to excessive volume.") // case 22
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 Logplex: Error L20 \(Tail sessions forbidden\) Tail sessions for this app are forbidden due to log volume\.\n$`).MatchString(r.body) {
		t.Fatalf("L20 body %q", r.body)
	}
	r = p.do("POST", p.api+"/v2/canary-sessions", `{"channel_id":"flags","tail":true}`, authH)
	r = p.do("GET", p.api+r.json(t)["url"].(string), "", nil)
	wantBody(t, r, 200, "") // canary: no warning, never tails
	if r.header.Get("X-Heroku-Warning") != "" {
		t.Fatal("canary fetch must not warn")
	}
}

// chanTails is an in-test TailSource: Subscribe hands out a Tail fed by
// the test through feed.
type chanTails struct {
	subscribed chan string
	feed       chan controlplane.TailBatch
}

type chanTail struct{ src *chanTails }

func (c *chanTails) Subscribe(_ context.Context, ch string) (controlplane.Tail, error) {
	c.subscribed <- ch
	return chanTail{c}, nil
}

func (t chanTail) Next(ctx context.Context) (controlplane.TailBatch, error) {
	select {
	case b, ok := <-t.src.feed:
		if !ok {
			return controlplane.TailBatch{}, io.EOF
		}
		return b, nil
	case <-ctx.Done():
		return controlplane.TailBatch{}, ctx.Err()
	}
}

func (chanTail) Close() error { return nil }

func TestSessionTailFollowsHistory(t *testing.T) {
	tails := &chanTails{subscribed: make(chan string, 1), feed: make(chan controlplane.TailBatch)}
	p := newPlane(t, func(o *controlplane.Options) { o.Tails = tails })
	p.channel("tailme", "app")
	p.seed("tailme", "<1>1 2020-01-01T00:00:00Z h app web.1 - - history")
	res, err := p.client.Get(p.api + p.sessionPath(`{"channel_id":"tailme","tail":true,"ps":"web"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if <-tails.subscribed != "tailme" {
		t.Fatal("subscribed to the wrong channel")
	}
	rd := bufio.NewReader(res.Body)
	readLine := func() string {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := readLine(); l != "2020-01-01T00:00:00Z app[web.1]: history\n" {
		t.Fatalf("history line %q", l)
	}
	since := time.Date(2020, 1, 1, 0, 0, 5, 0, time.UTC)
	tails.feed <- controlplane.TailBatch{Msgs: [][]byte{
		[]byte("<1>1 2020-01-01T00:00:01Z h app worker.1 - - filtered out"),
		[]byte("<1>1 2020-01-01T00:00:02Z h app web.2 - - live"),
	}}
	if l := readLine(); l != "2020-01-01T00:00:02Z app[web.2]: live\n" {
		t.Fatalf("live line %q", l)
	}
	tails.feed <- controlplane.TailBatch{Dropped: 3, DroppedSince: since, Msgs: [][]byte{[]byte("<1>1 2020-01-01T00:00:03Z h app web.1 - - after")}}
	if l := readLine(); l != "2020-01-01T00:00:03Z app[web.1]: after\n" { // L11 (source logplex, ps 1) does not pass ps=web
		t.Fatalf("line %q", l)
	}
	close(tails.feed)
	if rest, _ := io.ReadAll(rd); len(rest) != 0 {
		t.Fatalf("after the tail ended: %q", rest)
	}
}

func TestSessionTailL11(t *testing.T) {
	tails := &chanTails{subscribed: make(chan string, 1), feed: make(chan controlplane.TailBatch)}
	p := newPlane(t, func(o *controlplane.Options) { o.Tails = tails })
	p.channel("tail2", "app")
	req, _ := http.NewRequest("GET", p.api+p.sessionPath(`{"channel_id":"tail2","tail":null}`), nil)
	res, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	<-tails.subscribed
	tails.feed <- controlplane.TailBatch{Dropped: 2, DroppedSince: time.Date(2020, 1, 1, 0, 0, 5, 0, time.UTC)}
	l, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || !regexp.MustCompile(`^\S+ logplex\[1\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped 2 messages since 2020-01-01T00:00:05\+00:00\.\n$`).MatchString(l) {
		t.Fatalf("L11 line %q %v", l, err)
	}
}

func TestSessionDenyTailEndsAfterHistory(t *testing.T) {
	tails := &chanTails{subscribed: make(chan string, 1), feed: make(chan controlplane.TailBatch)}
	p := newPlane(t, func(o *controlplane.Options) { o.Tails = tails; o.DenyTailSessions = true })
	p.channel("deny", "app")
	p.seed("deny", "<1>1 2020-01-01T00:00:00Z h app web.1 - - only")
	wantBody(t, p.do("GET", p.api+p.sessionPath(`{"channel_id":"deny","tail":true}`), "", nil), 200, "2020-01-01T00:00:00Z app[web.1]: only\n")
	if len(tails.subscribed) != 0 {
		t.Fatal("subscribed although tail sessions are denied")
	}
}

// Run's shutdown ends live tails and returns.
func TestShutdownEndsTails(t *testing.T) {
	tails := &chanTails{subscribed: make(chan string, 1), feed: make(chan controlplane.TailBatch)}
	st, _ := embedded.OpenConfig("")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := store.NewWatcher(st, 0, nil)
	go w.Run(ctx)
	cp, err := controlplane.New(controlplane.Options{APIAddr: "127.0.0.1:0", V3Addr: "127.0.0.1:0", AuthKey: testKey,
		Store: st, Watcher: w, Spool: embedded.NewSpool(0, 0), Tails: tails, ShutdownTimeout: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cp.Run(runCtx) }()
	if err := w.WaitVersion(ctx, ""); err != nil {
		t.Fatal(err)
	}
	api := "http://" + cp.APIAddr().String()
	req, _ := http.NewRequest("POST", api+"/v2/sessions", strings.NewReader(`{"channel_id":"x","tail":true}`))
	req.Header.Set("Authorization", "Basic "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ URL string }
	_ = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	// the channel does not exist: no tail. Create it, then tail.
	req, _ = http.NewRequest("PUT", "http://"+cp.V3Addr().String()+"/v3/channels/x", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Basic "+testKey)
	req.Header.Set("Content-Type", "application/json")
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = http.Get(api + strings.TrimPrefix(created.URL, "http://localhost:8001"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	<-tails.subscribed
	began := time.Now()
	stop()
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("tail body did not end cleanly: %v", err)
	}
	if err := <-done; err != nil || time.Since(began) > 2*time.Second {
		t.Fatalf("Run returned %v after %v", err, time.Since(began))
	}
}

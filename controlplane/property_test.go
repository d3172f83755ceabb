package controlplane_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPropertyNoServerErrors sends random requests (methods, paths from the
// route grammar plus garbage, JSON-ish bodies, random Authorization,
// Content-Type and Accept) to both listeners over keep-alive connections
// and checks that no answer is a 5xx other than the deliberate 501s.
// 100 000 requests (about 5 s, 20 s under -race, on 2 cores); 5 000 with
// -short. Status codes are tallied so a generator that stops reaching the
// handlers (everything 401 or 404) shows in the log and fails.
func TestPropertyNoServerErrors(t *testing.T) {
	total := 100_000
	if testing.Short() {
		total = 5_000
	}
	p := newPlane(t, nil)
	g := newGrammar(t, p)
	const workers = 8
	var next, fails atomic.Int64
	var codes [600]atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 0x10c9))
			for next.Add(1) <= int64(total) && fails.Load() < 10 {
				rq := g.request(rng)
				r, err := p.try(rq.method, rq.url, rq.body, rq.h)
				if err != nil {
					fails.Add(1)
					t.Errorf("%s %s: %v", rq.method, rq.url, err)
					continue
				}
				codes[r.code].Add(1)
				if r.code >= 500 && !deliberate(rq, r) {
					fails.Add(1)
					t.Errorf("%s %s %q %v: %d %q", rq.method, rq.url, rq.body, rq.h, r.code, r.body)
				}
			}
		}(uint64(w + 1))
	}
	wg.Wait()
	t.Logf("%d requests in %v", total, time.Since(start).Round(time.Millisecond))
	tally := map[int]int64{}
	for c := range codes {
		if n := codes[c].Load(); n > 0 {
			tally[c] = n
		}
	}
	t.Logf("status codes: %v", tally)
	for _, c := range []int{200, 201, 204, 400, 401, 404, 405, 409, 413, 415, 422} {
		if tally[c] == 0 {
			t.Errorf("no request answered %d: the generator misses a part of the API", c)
		}
	}
}

// deliberate: 501 for the deprecated v1 drain routes and for methods cowboy
// does not know. Nothing else (the store is up, the status normal).
func deliberate(rq genRequest, r resp) bool {
	if r.code != 501 {
		return false
	}
	return strings.HasPrefix(r.body, "V1 Drain") || (rq.v3 && !knownMethod[rq.method])
}

var knownMethod = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

type genRequest struct {
	v3          bool
	method, url string
	body        string
	h           hdr
}

// grammar generates requests against a plane seeded with some entities.
type grammar struct {
	p        *plane
	chans    []string // legacy and v3 channel ids
	drains   []string
	sessions []string
	auths    []string
}

func newGrammar(t *testing.T, p *plane) *grammar {
	g := &grammar{p: p}
	for i := 0; i < 3; i++ {
		g.chans = append(g.chans, createLegacyChannel(t, p, "prop", "web", "app"))
		g.chans = append(g.chans, fmt.Sprintf("app-%d", i))
		p.channel(g.chans[len(g.chans)-1], "web")
	}
	for _, ch := range g.chans {
		p.seed(ch, "<134>1 2012-12-10T03:00:48Z erlang app web.1 - - hello", "junk", "<1>1 T h web worker.2 - [x y=\"1\"] hi\n")
		r := p.do("POST", p.v3+"/v3/channels/"+ch+"/drains", `{"url":"https://logs.example.com/`+ch+`"}`, jsonH)
		g.drains = append(g.drains, strings.Trim(strings.Split(strings.Split(r.body, `"id":`)[1], ",")[0], " "))
		r = p.do("POST", p.api+"/v2/sessions", `{"channel_id":"`+ch+`","tail":true,"num":"2"}`, authH)
		g.sessions = append(g.sessions, r.json(t)["url"].(string)[len("http://localhost:8001/sessions/"):])
	}
	r := p.do("POST", p.v3+"/v3/credentials", `{"name":"prop","grants":["full_api"]}`, jsonH)
	m := r.json(t)
	cred := base64.StdEncoding.EncodeToString([]byte(m["id"].(string) + ":" + m["password"].(string)))
	g.auths = []string{"Basic " + testKey, "Basic " + testKey, "Basic " + cred, "Basic bad", "Basic !!!", "Bearer x",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), ""}
	return g
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

var (
	methods      = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "BREW"}
	contentTypes = []string{"application/json", "application/json", "application/json", "text/plain", "application/json; charset=utf-8", ""}
	accepts      = []string{"", "", "", "*/*", "application/json", "text/html", "application/*;q=0", "application/logplex-1"}
	// routes: "METHOD path body-kind", weighted by repetition. The method is
	// replaced by a random one now and then.
	legacyRoutes = []string{"POST /channels channel", "GET /v2/channels/{id} -", "GET /v2/channels/{id} -", "DELETE /channels/{id} -",
		"DELETE /v2/channels/{id} -", "POST /channels/{id}/token token", "POST /v2/channels/{id}/tokens token",
		"POST /sessions session", "POST /v2/sessions session", "POST /v2/canary-sessions session", "GET /sessions/{sid} -",
		"GET /sessions/{sid} -", "GET /v2/canary-fetch/{sid} -", "GET /channels/{id}/info -", "POST /channels/{id}/drains/tokens -",
		"POST /channels/{id}/drains/{did} drain", "POST /v2/channels/{id}/drains/{did} drain", "POST /channels/{id}/drains drain",
		"POST /v2/channels/{id}/drains drain", "POST /v2/channels/{id}/drains drain", "GET /channels/{id}/drains -",
		"DELETE /channels/{id}/drains -", "DELETE /v2/channels/{id}/drains/{did} -", "GET /healthcheck -", "GET /x/healthcheck/y -",
		"POST /x/load any", "GET /{junk} any", "POST /v2/{junk}/{id} any"}
	v3Routes = []string{"PUT /v3/channels/{id} channel", "PUT /v3/channels/{id} channel", "GET /v3/channels/{id} -", "GET /v3/channels/{id}/ -",
		"DELETE /v3/channels/{id} -", "POST /v3/channels/{id}/drains drain", "POST /v3/channels/{id}/drains drain",
		"POST /v3/channels/{id}/drains drain", "PUT /v3/channels/{id}/drains/{did} drain", "PUT /v3/channels/{id}/drains/{did} drain",
		"DELETE /v3/channels/{id}/drains/{did} -", "POST /v3/channels/{id}/tokens token", "GET /v3/channels/{id}/logs -",
		"GET /v3/channels/{id}/logs?num={num} -", "POST /v3/sessions session", "POST /v3/sessions/{junk} session",
		"GET /v3/healthcheck -", "POST /v3/credentials cred", "GET /v3/credentials -", "GET /v3/credentials/{junk} -",
		"DELETE /v3/credentials/{junk} -", "GET /v3/{junk} any", "POST /{junk} any", "PUT /v3/channels/{id}/drains/{junk} drain",
		"POST /v3/channels//drains drain"}
	junk = []string{"", "x", "%2F", "%00", "..", "123123123123123123123123", "-1", "a:b", "%E2%82%AC", "%ff", "load", "tokens", strings.Repeat("z", 300)}
	urls = []string{"https://logs.example.com/a", "https://logs.example.com/a", "http://my.drain.com/x", "syslog://logs.example.com",
		"syslog+tls://h.example.com:6514/#insecure", "ftp://x", "udpsyslog://h", "http://127.0.0.1/", "i am not a url", "http://x y",
		"http://[::1", "syslog://h:99999", ""}
)

func (g *grammar) request(rng *rand.Rand) genRequest {
	rq := genRequest{v3: rng.IntN(2) == 0}
	base, routes := g.p.api, legacyRoutes
	if rq.v3 {
		base, routes = g.p.v3, v3Routes
	}
	f := strings.Fields(pick(rng, routes))
	rq.method, rq.url = f[0], base+g.fill(rng, f[1])
	if rng.IntN(8) == 0 {
		rq.method = pick(rng, methods)
	}
	rq.body = g.body(rng, f[2])
	if a := pick(rng, g.auths); a != "" {
		rq.h = append(rq.h, "Authorization", a)
	}
	if c := pick(rng, contentTypes); c != "" {
		rq.h = append(rq.h, "Content-Type", c)
	}
	if a := pick(rng, accepts); a != "" {
		rq.h = append(rq.h, "Accept", a)
	}
	if rng.IntN(10) == 0 {
		rq.h = append(rq.h, "Request-Id", "r-1")
	}
	return rq
}

func (g *grammar) fill(rng *rand.Rand, path string) string {
	r := strings.NewReplacer("{id}", g.id(rng), "{did}", g.drainID(rng), "{sid}", g.sessionID(rng),
		"{junk}", pick(rng, junk), "{num}", pick(rng, []string{"1", "0", "-5", "x", "999999", ""}))
	return r.Replace(path)
}

func (g *grammar) id(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return fmt.Sprint(rng.IntN(50))
	case 1:
		return pick(rng, junk)
	}
	return url.PathEscape(pick(rng, g.chans))
}

func (g *grammar) drainID(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return pick(rng, []string{"0", "99999999", "123123123123123123123123", "abc"})
	}
	return pick(rng, g.drains)
}

func (g *grammar) sessionID(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return pick(rng, []string{"abc", "00000000-0000-4000-8000-000000000000", strings.Repeat("-", 36)})
	}
	return pick(rng, g.sessions)
}

// body returns a JSON-ish body for a route's body kind: the keys it reads
// with random values, sometimes other keys, garbage, empty or oversized.
func (g *grammar) body(rng *rand.Rand, kind string) string {
	val := func() string {
		return pick(rng, []string{`"x"`, `"web"`, `1`, `-1`, `null`, `true`, `[]`, `{}`, `["a","b"]`, `[1]`, `"` + pick(rng, g.chans) + `"`,
			`"` + pick(rng, urls) + `"`, `"gzip"`, `"br"`, `"full_api"`, `["full_api","any_channel"]`, `"\u0000"`, `"5"`})
	}
	good := map[string]func() string{
		"channel": func() string { return `"name":"n","tokens":` + pick(rng, []string{`["web"]`, `["a","b","web"]`, `[]`}) },
		"token":   func() string { return `"name":` + pick(rng, []string{`"web"`, `"t"`}) },
		"drain":   func() string { return `"url":"` + pick(rng, urls) + `"` },
		"session": func() string { return `"channel_id":"` + pick(rng, g.chans) + `","num":"2"` },
		"cred":    func() string { return `"name":"c","grants":["full_api"]` },
	}
	switch rng.IntN(16) {
	case 0:
		return ""
	case 1:
		return pick(rng, []string{"{", "[", `{"a":}`, "nul", "\x00\xff", `"str"`, `[1,2]`, "  "})
	case 2:
		if rng.IntN(50) == 0 {
			return `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
		}
	case 3, 4, 5, 6, 7, 8, 9, 10:
		if fn := good[kind]; fn != nil {
			return "{" + fn() + "}"
		}
	}
	keys := []string{"name", "tokens", "url", "host", "port", "compression", "channel_id", "num", "tail", "ps", "source", "grants"}
	var parts []string
	for i, n := 0, rng.IntN(4); i < n; i++ {
		parts = append(parts, `"`+pick(rng, keys)+`":`+val())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

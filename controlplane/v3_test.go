package controlplane_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
)

// docs/logplex.md §10 group D (cases 34–71): the v3 API on :8002.

func newUUIDish(t *testing.T, n int) string { return fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", n, n) }

func TestCase34ServiceUnavailable(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.APIStatus = "disabled" })
	r := p.do("GET", p.v3+"/v3/channels/app-1", "", authH)
	want(t, r, 503)
	if r.status != "503 Service Unavailable" || r.header.Get("Request-Id") == "" {
		t.Fatalf("status %q request-id %q", r.status, r.header.Get("Request-Id"))
	}
	wantBody(t, p.do("GET", p.v3+"/v3/healthcheck", "", nil), 200, "OK") // ignores the API status
}

func TestCase35MethodNotAllowed(t *testing.T) {
	p := newPlane(t, nil)
	for _, m := range []string{"POST", "HEAD", "OPTIONS", "PATCH"} {
		r := p.do(m, p.v3+"/v3/channels/app-1", "", nil)
		want(t, r, 405)
		if r.status != "405 Method Not Allowed" || r.header.Get("Allow") != "PUT, GET, DELETE" {
			t.Fatalf("%s: %q allow %q", m, r.status, r.header.Get("Allow"))
		}
	}
}

func TestCase36NotAuthorized(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("GET", p.v3+"/v3/channels/app-1", "", hdr{"Authorization", "Basic bad-token"})
	wantBody(t, r, 401, "")
	if r.status != "401 Unauthorized" {
		t.Fatal(r.status)
	}
	wantHeader(t, r, "Www-Authenticate", "Basic realm=Logplex")
}

func TestCase37to42ChannelPutGet(t *testing.T) {
	p := newPlane(t, nil)
	ch := "app-" + newUUIDish(t, 37)
	r := p.do("PUT", p.v3+"/v3/channels/"+ch, `{}`, jsonH)
	wantBody(t, r, 201, `{"channel":"`+ch+`"}`)
	wantHeader(t, r, "Content-Type", "application/json")
	if !regexp.MustCompile(`^` + reUUID + `$`).MatchString(r.header.Get("Request-Id")) {
		t.Fatalf("request-id %q", r.header.Get("Request-Id"))
	}
	names := []string{"token-1", "token-2", "token-3", "token-4", "token-5"}
	// 39: existing channel without tokens gets 5 → 200
	r = p.do("PUT", p.v3+"/v3/channels/"+ch, `{"tokens":[`+quoteAll(names)+`]}`, jsonH)
	want(t, r, 200)
	toks := tokenMap(t, r)
	if len(toks) != 5 {
		t.Fatalf("tokens %v", toks)
	}
	// 40: keep the last 3, same ids
	r = p.do("PUT", p.v3+"/v3/channels/"+ch, `{"tokens":[`+quoteAll(names[2:])+`]}`, jsonH)
	want(t, r, 200)
	kept := tokenMap(t, r)
	if len(kept) != 3 || kept["token-3"] != toks["token-3"] || kept["token-5"] != toks["token-5"] {
		t.Fatalf("kept %v of %v", kept, toks)
	}
	// 42: GET shows the same set
	r = p.do("GET", p.v3+"/v3/channels/"+ch, "", authH)
	want(t, r, 200)
	if got := tokenMap(t, r); fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("GET tokens %v want %v", got, kept)
	}
	wantBody(t, r, 200, `{"channel":"`+ch+`","tokens":{"token-3":"`+kept["token-3"]+`","token-4":"`+kept["token-4"]+`","token-5":"`+kept["token-5"]+`"}}`)
	// 41: {} nukes all tokens
	wantBody(t, p.do("PUT", p.v3+"/v3/channels/"+ch, `{}`, jsonH), 200, `{"channel":"`+ch+`"}`)
	wantBody(t, p.do("GET", p.v3+"/v3/channels/"+ch, "", authH), 200, `{"channel":"`+ch+`"}`)
}

func TestCase38CreateChannelWithTokens(t *testing.T) {
	p := newPlane(t, nil)
	var names []string
	for i := 1; i <= 5; i++ {
		names = append(names, "token-"+newUUIDish(t, i))
	}
	r := p.do("PUT", p.v3+"/v3/channels/app-38", `{"tokens":[`+quoteAll(names)+`]}`, jsonH)
	want(t, r, 201)
	toks := tokenMap(t, r)
	var got []string
	for n, id := range toks {
		got = append(got, n)
		if !reTokenID.MatchString(id) {
			t.Fatalf("token id %q", id)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("names %v want %v", got, names)
	}
}

func tokenMap(t *testing.T, r resp) map[string]string {
	t.Helper()
	out := map[string]string{}
	if m, ok := r.json(t)["tokens"].(map[string]any); ok {
		for k, v := range m {
			out[k] = v.(string)
		}
	}
	return out
}

func TestCase43DeleteChannel(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-43", "a", "b")
	want(t, p.do("POST", p.v3+"/v3/channels/app-43/drains", `{"url":"https://logs.example.com/x"}`, jsonH), 201)
	r := p.do("DELETE", p.v3+"/v3/channels/app-43", "", authH)
	wantBody(t, r, 204, "")
	if r.status != "204 No Content" {
		t.Fatal(r.status)
	}
	want(t, p.do("DELETE", p.v3+"/v3/channels/app-43", "", authH), 404)
	// spec case 91: tokens and drains are gone from the store too
	s := p.snapshot()
	if s.NumTokens() != 0 || s.NumDrains() != 0 || s.Channel("app-43") != nil {
		t.Fatalf("left behind: %d tokens %d drains", s.NumTokens(), s.NumDrains())
	}
}

func TestCase44RejectInvalidChannelPayload(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("PUT", p.v3+"/v3/channels/app-44", `["asdf",123,["test"]]`, jsonH)
	wantBody(t, r, 400, `{"error":"invalid payload"}`)
	wantHeader(t, r, "Content-Type", "application/json")
	if r.status != "400 Bad Request" || r.header.Get("Request-Id") == "" {
		t.Fatalf("%q %v", r.status, r.header)
	}
}

func TestCase45RetainFlags(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-45")
	v, err := p.st.Write(t.Context(), config.Change{Key: config.ChannelKey("app-45"), Fields: config.ChannelHash("", "no_redis")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.w.WaitVersion(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	want(t, p.do("PUT", p.v3+"/v3/channels/app-45", `{}`, jsonH), 200)
	if c := p.snapshot().Channel("app-45"); c == nil || c.Flags != "no_redis" {
		t.Fatalf("flags lost: %+v", c)
	}
}

func TestCase46DrainsUnavailableAndUnauthorized(t *testing.T) {
	d := newPlane(t, func(o *controlplane.Options) { o.APIStatus = "disabled" })
	want(t, d.do("POST", d.v3+"/v3/channels/app-46/drains", "", nil), 503)
	p := newPlane(t, nil)
	p.channel("app-46")
	r := p.do("POST", p.v3+"/v3/channels/app-46/drains", `{}`, hdr{"Authorization", "Basic bad", "Content-Type", "application/json"})
	want(t, r, 401)
}

var reDrainReserved = regexp.MustCompile(`^\{"id":(\d+),"token":"(d\.` + reUUID + `)"\}$`)

func TestCase47to51Drains(t *testing.T) {
	p := newPlane(t, nil)
	ch := "app-47"
	p.channel(ch)
	r := p.do("POST", p.v3+"/v3/channels/"+ch+"/drains", `{}`, jsonH)
	want(t, r, 201)
	m := reDrainReserved.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("reserve body %q", r.body)
	}
	wantHeader(t, r, "Location", "http://localhost:8002/v3/channels/"+ch+"/drains/"+m[1])
	wantHeader(t, r, "Content-Type", "application/json")
	if r.header.Get("Request-Id") == "" {
		t.Fatal("no request-id")
	}
	// 48
	url1 := "http://my.drain.com/" + newUUIDish(t, 48)
	r = p.do("POST", p.v3+"/v3/channels/"+ch+"/drains", `{"url":"`+url1+`"}`, jsonH)
	want(t, r, 201)
	d2 := regexp.MustCompile(`^\{"id":(\d+),"token":"(d\.` + reUUID + `)","url":"` + regexp.QuoteMeta(url1) + `"\}$`).FindStringSubmatch(r.body)
	if d2 == nil {
		t.Fatalf("create body %q", r.body)
	}
	wantHeader(t, r, "Location", "http://localhost:8002/v3/channels/"+ch+"/drains/"+d2[1])
	// 49: update the reserved drain
	url2 := "http://my.drain.com/" + newUUIDish(t, 49)
	r = p.do("PUT", p.v3+"/v3/channels/"+ch+"/drains/"+m[1], `{"url":"`+url2+`"}`, jsonH)
	wantBody(t, r, 200, `{"id":`+m[1]+`,"token":"`+m[2]+`","url":"`+url2+`"}`)
	if r.status != "200 OK" || r.header.Get("Location") != "" {
		t.Fatalf("%q location %q", r.status, r.header.Get("Location"))
	}
	// 50
	want(t, p.do("PUT", p.v3+"/v3/channels/"+ch+"/drains/"+m[1], `{"url":"i am not a url"}`, jsonH), 400)
	// 51
	r = p.do("GET", p.v3+"/v3/channels/"+ch, "", authH)
	wantBody(t, r, 200, `{"channel":"`+ch+`","drains":[{"id":`+m[1]+`,"token":"`+m[2]+`","url":"`+url2+`"},{"id":`+d2[1]+`,"token":"`+d2[2]+`","url":"`+url1+`"}]}`)
	// 52: duplicate
	r = p.do("POST", p.v3+"/v3/channels/"+ch+"/drains", `{"url":"`+url1+`"}`, jsonH)
	want(t, r, 409)
	wantHeader(t, r, "Content-Type", "application/json")
	if r.header.Get("Request-Id") == "" {
		t.Fatal("no request-id on 409")
	}
}

func TestCase53MaxDrains(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxDrainsPerChannel = 1 })
	p.channel("app-53")
	want(t, p.do("POST", p.v3+"/v3/channels/app-53/drains", `{"url":"http://my.drain.com/1"}`, jsonH), 201)
	r := p.do("POST", p.v3+"/v3/channels/app-53/drains", `{"url":"http://my.drain.com/2"}`, jsonH)
	wantBody(t, r, 422, `{"error":"maximum number of drains reached"}`)
	wantHeader(t, r, "Content-Type", "application/json")
	if r.status != "422 Unprocessable Entity" {
		t.Fatal(r.status)
	}
}

func TestCase54to56DrainNotFound(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-54")
	// 54: an id beyond int64 is still a drain id (Logplex's integers have
	// no bound): the drain's JSON 404 with a request id, as for a small one.
	for _, id := range []string{"123123123123123123123123", "123123123123"} {
		r := p.do("PUT", p.v3+"/v3/channels/app-54/drains/"+id, `{"url":"http://x.example.com/"}`, jsonH)
		want(t, r, 404)
		wantHeader(t, r, "Content-Type", "application/json")
		if r.header.Get("Request-Id") == "" {
			t.Fatalf("drain %s: no request-id", id)
		}
	}
	var r resp
	// 55: unknown channel
	for _, m := range []string{"POST /drains", "PUT /drains/123123123123", "PUT /drains/123123123123123123123123"} {
		method, path, _ := strings.Cut(m, " ")
		r = p.do(method, p.v3+"/v3/channels/no-such"+path, `{"url":"http://x.example.com/"}`, jsonH)
		want(t, r, 404)
		if r.header.Get("Request-Id") == "" {
			t.Fatal("no request-id")
		}
	}
	// 56
	r = p.do("POST", p.v3+"/v3/channels/app-54/drains", `{}`, jsonH)
	id := reDrainReserved.FindStringSubmatch(r.body)[1]
	wantBody(t, p.do("DELETE", p.v3+"/v3/channels/app-54/drains/"+id, "", authH), 204, "")
	want(t, p.do("DELETE", p.v3+"/v3/channels/app-54/drains/"+id, "", authH), 404)
	want(t, p.do("DELETE", p.v3+"/v3/channels/app-54/drains/123123123123", "", authH), 404)
	want(t, p.do("DELETE", p.v3+"/v3/channels/app-54/drains/123123123123123123123123", "", authH), 404)
}

func TestCase57to60Tokens(t *testing.T) {
	d := newPlane(t, func(o *controlplane.Options) { o.APIStatus = "disabled" })
	want(t, d.do("POST", d.v3+"/v3/channels/app-57/tokens", "", nil), 503)
	p := newPlane(t, nil)
	p.channel("app-57")
	name := "token-" + newUUIDish(t, 57)
	want(t, p.do("POST", p.v3+"/v3/channels/app-57/tokens", `{"name":"`+name+`"}`, hdr{"Authorization", "Basic bad", "Content-Type", "application/json"}), 401)
	r := p.do("POST", p.v3+"/v3/channels/app-57/tokens", `{"name":"`+name+`"}`, jsonH)
	want(t, r, 200)
	if r.status != "200 OK" || !regexp.MustCompile(`^\{"token":"t\.`+reUUID+`","name":"`+name+`"\}$`).MatchString(r.body) {
		t.Fatalf("%q %q", r.status, r.body)
	}
	wantHeader(t, r, "Content-Type", "application/json")
	r = p.do("POST", p.v3+"/v3/channels/app-57/tokens", `{}`, jsonH)
	want(t, r, 400)
	if r.header.Get("Request-Id") == "" {
		t.Fatal("no request-id")
	}
	want(t, p.do("POST", p.v3+"/v3/channels/no-such/tokens", `{"name":"x"}`, jsonH), 404)
}

func TestCase61to67ChannelLogs(t *testing.T) {
	d := newPlane(t, func(o *controlplane.Options) { o.APIStatus = "disabled" })
	want(t, d.do("POST", d.v3+"/v3/channels/app-61/logs", "", nil), 503)
	p := newPlane(t, nil)
	p.channel("app-61")
	want(t, p.do("GET", p.v3+"/v3/channels/app-61/logs", "", hdr{"Authorization", "Basic bad"}), 401)
	var msgs, lines []string
	for k := 1; k <= 5; k++ {
		u := newUUIDish(t, k)
		msgs = append(msgs, fmt.Sprintf("<%d>1 aaaa bbbb cccc dddd eeee - %s", k, u))
		lines = append(lines, fmt.Sprintf("64 <%d>1 aaaa host cccc dddd - %s\n", k, u))
	}
	p.seed("app-61", msgs...)
	r := p.do("GET", p.v3+"/v3/channels/app-61/logs", "", authH)
	wantBody(t, r, 200, strings.Join(lines, ""))
	wantHeader(t, r, "Content-Type", "application/logplex-1")
	wantHeader(t, r, "Logplex-Msg-Count", "5")
	if len(r.te) != 1 || r.te[0] != "chunked" || !r.close {
		t.Fatalf("te %v connection-close %v", r.te, r.close)
	}
	// 66 (decision: exactly num, the newest)
	r = p.do("GET", p.v3+"/v3/channels/app-61/logs?num=3", "", authH)
	wantBody(t, r, 200, strings.Join(lines[2:], ""))
	wantHeader(t, r, "Logplex-Msg-Count", "3")
	// 67
	r = p.do("GET", p.v3+"/v3/channels/app-61/logs?num=invalid", "", authH)
	want(t, r, 200)
	wantHeader(t, r, "Logplex-Msg-Count", "5")
}

func TestCase63to65LogFormat(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-63")
	p.seed("app-63", `<158>1 2018-03-02T23:22:34.901697+00:00 hermes.537018@staging.herokudev.com heroku router - - at=info code=H81 desc="Blank app" method=GET path="/" host=direwolf-d99daa9eda.staging.herokuappdev.com request_id=56a11b1c-1f68-4658-80e4-8213a09a81c2 fwd="54.163.94.153" dyno= connect= service= status=502 bytes= protocol=https`)
	r := p.do("GET", p.v3+"/v3/channels/app-63/logs", "", authH)
	wantBody(t, r, 200, `290 <158>1 2018-03-02T23:22:34.901697+00:00 host heroku router - at=info code=H81 desc="Blank app" method=GET path="/" host=direwolf-d99daa9eda.staging.herokuappdev.com request_id=56a11b1c-1f68-4658-80e4-8213a09a81c2 fwd="54.163.94.153" dyno= connect= service= status=502 bytes= protocol=https`+"\n")
	wantHeader(t, r, "Logplex-Msg-Count", "1")

	p.channel("app-64")
	u := newUUIDish(t, 64)
	p.seed("app-64", "<1>1 aaaa bbbb cccc dddd eeee - "+u, "<42> blafasel")
	r = p.do("GET", p.v3+"/v3/channels/app-64/logs", "", authH)
	wantBody(t, r, 200, "64 <1>1 aaaa host cccc dddd - "+u+"\n")
	wantHeader(t, r, "Logplex-Msg-Count", "2")

	p.channel("app-65")
	p.seed("app-65", "<1>1 a b c d e - 1", "<1>1 a b c d e - 2", "<1>1 a b c d e - 3")
	r = p.do("GET", p.v3+"/v3/channels/app-65/logs?num=5", "", authH)
	wantHeader(t, r, "Logplex-Msg-Count", "3")
	if strings.Count(r.body, "\n") != 3 {
		t.Fatalf("body %q", r.body)
	}
}

func TestCase68to70Sessions(t *testing.T) {
	d := newPlane(t, func(o *controlplane.Options) { o.DenyTailSessions = true })
	want(t, d.do("POST", d.v3+"/v3/sessions/session-"+newUUIDish(t, 68), `{"channel_id":"1"}`, jsonH), 503)
	p := newPlane(t, nil)
	p.channel("app-69", "web")
	r := p.do("POST", p.v3+"/v3/sessions", `{"channel_id":"app-69"}`, jsonH)
	want(t, r, 201)
	loc := r.header.Get("Location")
	if !regexp.MustCompile(`^http://localhost:8001/sessions/` + reUUID + `$`).MatchString(loc) {
		t.Fatalf("location %q", loc)
	}
	wantBody(t, r, 201, `{"url":"`+loc+`"}`)
	wantHeader(t, r, "Content-Type", "application/json")
	want(t, p.do("GET", p.api+strings.TrimPrefix(loc, "http://localhost:8001"), "", nil), 200)
	r = p.do("POST", p.v3+"/v3/sessions", `{"channel_id":"no-such"}`, jsonH)
	wantBody(t, r, 422, `{"error":"channel not found"}`)
	if r.header.Get("Request-Id") == "" {
		t.Fatal("no request-id")
	}
}

func TestCase71Healthcheck(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("GET", p.v3+"/v3/healthcheck", "", nil)
	wantBody(t, r, 200, "OK")
	if r.status != "200 OK" || r.header.Get("Request-Id") != "" {
		t.Fatalf("%q request-id %q", r.status, r.header.Get("Request-Id"))
	}
	// a plane whose watcher never loads is booting
	st := p.st
	b := newPlaneOn(t, st, func(o *controlplane.Options) { o.Watcher = newIdleWatcher(st) })
	wantBody(t, b.do("POST", b.v3+"/v3/healthcheck", "", nil), 503, "SYSTEM BOOTING")
	want(t, b.do("GET", b.v3+"/v3/channels/x", "", authH), 503)
	want(t, b.do("GET", b.api+"/v2/channels/1", "", authH), 503)
}

func TestRequestIDNotEchoed(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("GET", p.v3+"/v3/channels/none", "", hdr{"Authorization", "Basic " + testKey, "Request-Id", "mine"})
	want(t, r, 404)
	if r.header.Get("Request-Id") != "" {
		t.Fatal("request-id must not be emitted when the client sent one")
	}
	r = p.do("GET", p.v3+"/v3/nothing", "", nil)
	if r.code != 404 || r.header.Get("Request-Id") != "" {
		t.Fatalf("router 404: %d request-id %q", r.code, r.header.Get("Request-Id"))
	}
}

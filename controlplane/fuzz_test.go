package controlplane_test

import (
	"strings"
	"testing"
)

// fuzzRoutes are the routes that read a JSON body, one per body kind and
// API; the fuzzer picks one by index.
var fuzzRoutes = []string{
	"POST /channels", "POST /v2/channels/{id}/tokens", "POST /v2/sessions", "POST /v2/canary-sessions",
	"POST /v2/channels/{id}/drains", "POST /v2/channels/{id}/drains/{did}",
	"PUT /v3/channels/{id}", "POST /v3/channels/{id}/drains", "PUT /v3/channels/{id}/drains/{did}",
	"POST /v3/channels/{id}/tokens", "POST /v3/sessions", "POST /v3/credentials",
}

// FuzzAPIJSONBody posts arbitrary bodies to every route that decodes JSON,
// with a valid credential and content type so the body is what gets
// parsed: no answer may be a 5xx (a 500 for bad input is a bug) and the
// connection must keep working.
func FuzzAPIJSONBody(f *testing.F) {
	p := newPlane(f, nil)
	ch := createLegacyChannel(f, p, "fz", "web")
	p.channel("fz3", "web")
	r := p.do("POST", p.v3+"/v3/channels/fz3/drains", `{"url":"https://logs.example.com/fz"}`, jsonH)
	did := strings.Trim(strings.Split(strings.Split(r.body, `"id":`)[1], ",")[0], " ")
	for i, b := range []string{
		`{"tokens":["app"]}`, `{"name":"web"}`, `{"channel_id":"` + ch + `","num":"2","tail":true}`, `{"channel_id":"1"}`,
		`{"url":"https://logs.example.com/x"}`, `{"url":"syslog://logs.example.com:601"}`,
		`{"tokens":["a","b"]}`, `{"url":"syslog+tls://h.example.com:6514/#insecure"}`, `{"url":"http://x y"}`,
		`{"name":"t"}`, `{"channel_id":"fz3","num":"-1"}`, `{"name":"c","grants":["full_api","any_channel"]}`,
		``, `{`, `{"tokens":[1,{}]}`, "\x00\xff", `{"url":"` + strings.Repeat("a", 300) + `"}`,
	} {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		method, path, _ := strings.Cut(rt, " ")
		id, base := ch, p.api
		if strings.HasPrefix(path, "/v3/") {
			id, base = "fz3", p.v3
		}
		path = strings.NewReplacer("{id}", id, "{did}", did).Replace(path)
		h := authH
		if base == p.v3 {
			h = jsonH
		}
		r, err := p.try(method, base+path, string(body), h)
		if err != nil {
			t.Fatalf("%s %s %q: %v", method, path, body, err)
		}
		if r.code >= 500 {
			t.Fatalf("%s %s %q: %d %q", method, path, body, r.code, r.body)
		}
	})
}

package controlplane_test

import (
	"strings"
	"testing"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
)

// OTLP drains (an extension): created through v2 and v3 with headers and
// compression, headers stored with the drain and redacted on every read.
func TestOTLPDrainAPI(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxDrainsPerChannel = 3 })
	p.channel("app-o")
	a := createLegacyChannel(t, p, "o")
	const secret = "hc-s3cret-value"
	r := p.do("POST", p.v3+"/v3/channels/app-o/drains",
		`{"url":"otlp+https://api.honeycomb.io/v1/logs","headers":{"x-honeycomb-team":"`+secret+`","X-Dataset":"logs"}}`, jsonH)
	want(t, r, 201)
	if !strings.HasSuffix(r.body, `,"url":"otlp+https://api.honeycomb.io/v1/logs","headers":{"x-honeycomb-team":"***","X-Dataset":"***"}}`) &&
		!strings.HasSuffix(r.body, `,"url":"otlp+https://api.honeycomb.io/v1/logs","headers":{"X-Dataset":"***","x-honeycomb-team":"***"}}`) {
		t.Fatalf("v3 create: %q", r.body)
	}
	r = p.do("POST", p.api+"/v2/channels/"+a+"/drains", `{"url":"otlp+https://otlp.example.com/v1/logs","compression":"none","headers":{"DD-API-KEY":"`+secret+`"}}`, authH)
	want(t, r, 201)
	if !strings.HasSuffix(r.body, `"compression":"none","headers":{"DD-API-KEY":"***"}}`) {
		t.Fatalf("v2 create: %q", r.body)
	}
	for _, rd := range []resp{p.do("GET", p.v3+"/v3/channels/app-o", "", jsonH), p.do("GET", p.api+"/v2/channels/"+a, "", authH)} {
		if strings.Contains(rd.body, secret) || !strings.Contains(rd.body, `":"***"`) {
			t.Errorf("read back: %d %q", rd.code, rd.body)
		}
	}
	var d *config.Drain
	for _, x := range p.snapshot().Channel("app-o").Drains {
		d = x
	}
	if d == nil || d.Headers != "X-Dataset: logs\nx-honeycomb-team: "+secret {
		t.Fatalf("stored drain %+v", d)
	}
	for _, bad := range []string{
		`{"url":"https://l.example.com/","headers":{"x-k":"v"}}`,                  // not an OTLP drain
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"bad name":"v"}}`, // not a token
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"x-k":"a\r\nInjected: 1"}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"x-k":" padded"}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"Host":"evil"}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"x-k":1}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":["x-k"]}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"x-k":"` + strings.Repeat("v", 5000) + `"}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","headers":{"a":"1","b":"1","c":"1","d":"1","e":"1","f":"1","g":"1","h":"1","i":"1","j":"1","k":"1","l":"1","m":"1","n":"1","o":"1","p":"1","q":"1"}}`,
		`{"url":"otlp+https://l.example.com/v1/logs","compression":"br"}`,
		`{"url":"https://l.example.com/","compression":"none"}`,
		`{"url":"otlp+http://127.0.0.1:4318/v1/logs"}`, // private
		`{"url":"otlp+https:///v1/logs"}`,
	} {
		r := p.do("POST", p.v3+"/v3/channels/app-o/drains", bad, jsonH)
		if r.code != 422 && r.code != 400 {
			t.Errorf("v3 %s: %d %q, want 422", bad, r.code, r.body)
		}
		if strings.Contains(r.body, "Injected") || strings.Contains(r.body, "padded") {
			t.Errorf("v3 %s: the error echoes a header value: %q", bad, r.body)
		}
		if r := p.do("POST", p.api+"/v2/channels/"+a+"/drains", bad, authH); r.code != 422 && r.code != 400 {
			t.Errorf("v2 %s: %d %q, want 422", bad, r.code, r.body)
		}
	}
	if n := len(p.snapshot().Channel("app-o").Drains); n != 1 {
		t.Fatalf("%d drains on app-o, want 1", n)
	}
	// OTLP drains count toward max_drains_per_channel (3 here)
	want(t, p.do("POST", p.v3+"/v3/channels/app-o/drains", `{"url":"otlp+https://b.example.com/v1/logs"}`, jsonH), 201)
	want(t, p.do("POST", p.v3+"/v3/channels/app-o/drains", `{"url":"otlp+http://c.example.com:4318/v1/logs"}`, jsonH), 201)
	want(t, p.do("POST", p.v3+"/v3/channels/app-o/drains", `{"url":"otlp+https://d.example.com/v1/logs"}`, jsonH), 422)
}

// A PUT that does not name headers keeps them; one that does replaces them.
func TestOTLPDrainPutHeaders(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-q")
	r := p.do("POST", p.v3+"/v3/channels/app-q/drains", `{"url":"otlp+https://a.example.com/v1/logs","headers":{"x-k":"one"}}`, jsonH)
	want(t, r, 201)
	loc := r.header.Get("Location")
	loc = p.v3 + loc[strings.Index(loc, "/v3/"):]
	want(t, p.do("PUT", loc, `{"url":"otlp+https://a.example.com/v2/logs"}`, jsonH), 200)
	if d := p.snapshot().Channel("app-q").Drains[0]; d.Headers != "x-k: one" || d.URL != "otlp+https://a.example.com/v2/logs" {
		t.Fatalf("after PUT without headers: %+v", d)
	}
	want(t, p.do("PUT", loc, `{"headers":{"x-k":"two"}}`, jsonH), 200)
	if d := p.snapshot().Channel("app-q").Drains[0]; d.Headers != "x-k: two" {
		t.Fatalf("after PUT with headers: %+v", d)
	}
	r = p.do("PUT", loc, `{"url":"https://a.example.com/"}`, jsonH)
	want(t, r, 200)
	if d := p.snapshot().Channel("app-q").Drains[0]; d.Headers != "" || strings.Contains(r.body, "headers") {
		t.Fatalf("an HTTP drain kept headers: %+v %q", d, r.body)
	}
}

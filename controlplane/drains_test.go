package controlplane_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/logplex/logplex/controlplane"
)

func TestCompatV3ValidatesScheme(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-d")
	for url, reason := range map[string]string{
		"ftp://x.example.com/":       `{unknown_scheme,\"ftp\"}`,
		"httpx://x.example.com/":     `invalid_http_uri`,
		"syslog://x.example.com:0/":  `invalid_tcpsyslog_uri`,
		"syslog+tcp://x.example.com": `invalid_tcpsyslog_uri`,
		"syslog+udp://x.example.com": `invalid_udpsyslog_uri`,
	} {
		r := p.do("POST", p.v3+"/v3/channels/app-d/drains", `{"url":"`+url+`"}`, jsonH)
		if r.code != 422 || !strings.HasPrefix(r.body, `{"error":"`+reason) {
			t.Errorf("%s: %d %q, want 422 with %s", url, r.code, r.body, reason)
		}
	}
	want(t, p.do("POST", p.v3+"/v3/channels/app-d/drains", `{"url":"http://x y"}`, jsonH), 400)
	r := p.do("POST", p.api+"/v2/channels/1/drains", `{"url":"http://x y"}`, authH)
	wantBody(t, r, 422, `{"error":"Invalid drain destination: invalid_uri"}`)
	if s := p.snapshot(); s.NumDrains() != 0 {
		t.Fatalf("%d drains stored", s.NumDrains())
	}
}

func TestCompatUDPRefused(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-u")
	id := createLegacyChannel(t, p, "u")
	r := p.do("POST", p.v3+"/v3/channels/app-u/drains", `{"url":"udpsyslog://logs.example.com:514"}`, jsonH)
	want(t, r, 422)
	if !strings.Contains(r.body, `{unsupported_scheme,\"udpsyslog\"}`) {
		t.Fatalf("body %q", r.body)
	}
	r = p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"url":"syslog+udp://logs.example.com"}`, authH)
	want(t, r, 422)
	if !strings.HasPrefix(r.body, `{"error":"Invalid drain destination: invalid_udpsyslog_uri`) {
		t.Fatalf("body %q", r.body)
	}
}

func TestCompatPrivateDrains(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-p")
	id := createLegacyChannel(t, p, "p")
	for _, u := range []string{"http://127.0.0.1/", "https://localhost:8080/x", "syslog://10.1.2.3", "syslog+tls://[::1]:6514",
		"http://169.254.169.254/latest", "http://0.0.0.0/", "http://127.1/", "http://2130706433/", "syslog://192.168.0.1:514",
		"http://[fe80::1]/", "http://[::ffff:10.0.0.1]/", "http://app.localhost/"} {
		r := p.do("POST", p.v3+"/v3/channels/app-p/drains", `{"url":"`+u+`"}`, jsonH)
		if r.code != 422 || !strings.Contains(r.body, "private") {
			t.Errorf("v3 %s: %d %q", u, r.code, r.body)
		}
		r = p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"url":"`+u+`"}`, authH)
		if r.code != 422 || !strings.HasPrefix(r.body, `{"error":"Invalid drain destination: drain host`) {
			t.Errorf("v2 %s: %d %q", u, r.code, r.body)
		}
	}
	want(t, p.do("POST", p.api+"/v2/channels/"+id+"/drains", `{"host":"127.0.0.1","port":514}`, authH), 422)
	a := newPlane(t, func(o *controlplane.Options) { o.AllowPrivateDrains = true })
	a.channel("app-p")
	want(t, a.do("POST", a.v3+"/v3/channels/app-p/drains", `{"url":"http://127.0.0.1:9999/"}`, jsonH), 201)
}

func TestCompatDrainPutIdempotentAndScoped(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxDrainsPerChannel = 2 })
	p.channel("app-a")
	p.channel("app-b")
	r := p.do("POST", p.v3+"/v3/channels/app-a/drains", `{"url":"https://a.example.com/1"}`, jsonH)
	id := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(r.body)[1]
	// its own unchanged URL: 200, not 409
	want(t, p.do("PUT", p.v3+"/v3/channels/app-a/drains/"+id, `{"url":"https://a.example.com/1"}`, jsonH), 200)
	// another drain's URL: 409, empty body
	r = p.do("POST", p.v3+"/v3/channels/app-a/drains", `{}`, jsonH)
	res := reDrainReserved.FindStringSubmatch(r.body)[1]
	wantBody(t, p.do("PUT", p.v3+"/v3/channels/app-a/drains/"+res, `{"url":"https://a.example.com/1"}`, jsonH), 409, "")
	// 409 on POST leaves no reservation behind
	before := p.snapshot().NumDrains()
	want(t, p.do("POST", p.v3+"/v3/channels/app-a/drains", `{"url":"https://a.example.com/1"}`, jsonH), 409)
	if p.snapshot().NumDrains() != before {
		t.Fatal("409 left a reservation behind")
	}
	// the drain of app-a is not reachable through app-b
	want(t, p.do("PUT", p.v3+"/v3/channels/app-b/drains/"+id, `{"url":"https://b.example.com/"}`, jsonH), 404)
	want(t, p.do("DELETE", p.v3+"/v3/channels/app-b/drains/"+id, "", authH), 404)
	// max drains is checked when a PUT gives a reservation its first URL
	want(t, p.do("PUT", p.v3+"/v3/channels/app-a/drains/"+res, `{"url":"https://a.example.com/2"}`, jsonH), 200)
	r = p.do("POST", p.v3+"/v3/channels/app-a/drains", `{}`, jsonH)
	want(t, r, 422) // 2 drains with URL: even a reservation is refused (docs/logplex.md §4.3.2)
	p2 := newPlane(t, func(o *controlplane.Options) { o.MaxDrainsPerChannel = 1 })
	p2.channel("c")
	r1 := reDrainReserved.FindStringSubmatch(p2.do("POST", p2.v3+"/v3/channels/c/drains", `{}`, jsonH).body)[1]
	r2 := reDrainReserved.FindStringSubmatch(p2.do("POST", p2.v3+"/v3/channels/c/drains", `{}`, jsonH).body)[1]
	want(t, p2.do("PUT", p2.v3+"/v3/channels/c/drains/"+r1, `{"url":"https://c.example.com/1"}`, jsonH), 200)
	wantBody(t, p2.do("PUT", p2.v3+"/v3/channels/c/drains/"+r2, `{"url":"https://c.example.com/2"}`, jsonH),
		422, `{"error":"maximum number of drains reached"}`)
}

func TestCompatV2FinishDrain(t *testing.T) {
	p := newPlane(t, nil)
	a := createLegacyChannel(t, p, "a")
	b := createLegacyChannel(t, p, "b")
	r := p.do("POST", p.api+"/channels/"+a+"/drains/tokens", "", authH)
	want(t, r, 201)
	wantHeader(t, r, "Content-Type", "text/html")
	m := regexp.MustCompile(`^\{"id":(\d+),"token":"(d\.` + reUUID + `)","msg":"Successfully reserved drain token"\}$`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("reserve body %q", r.body)
	}
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+b+"/drains/"+m[1], `{"url":"syslog://logs.example.com"}`, authH), 404, `{"error":"Unknown drain."}`)
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains/"+m[1], `{"host":"logs.example.com"}`, authH),
		201, `{"id":`+m[1]+`,"token":"`+m[2]+`","url":"syslog://logs.example.com:514"}`)
	// an invalid URL drops a bare reservation (as Logplex)
	r = p.do("POST", p.api+"/channels/"+a+"/drains/tokens", "", authH)
	id2 := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(r.body)[1]
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains/"+id2, `{"url":"ftp://x"}`, authH), 422, `{"error":"Invalid drain destination: {unknown_scheme,\"ftp\"}"}`)
	want(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains/"+id2, `{"url":"syslog://logs2.example.com"}`, authH), 404)
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains/"+m[1], `{}`, authH), 422, `{"error":"Invalid drain destination: missing_host_param"}`)
	// v2 delete checks the channel too
	wantBody(t, p.do("DELETE", p.api+"/v2/channels/"+b+"/drains/"+m[1], "", authH), 404, `{"error":"Not found"}`)
	wantBody(t, p.do("DELETE", p.api+"/v2/channels/"+a+"/drains/"+m[1], "", authH), 200, "")
}

func TestCompatV2MaxDrains(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.MaxDrainsPerChannel = 1 })
	a := createLegacyChannel(t, p, "a")
	want(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains", `{"url":"https://logs.example.com/1"}`, authH), 201)
	wantBody(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains", `{"url":"https://logs.example.com/2"}`, authH),
		422, `{"error":"You have already added the maximum number of drains allowed"}`)
}

func TestCompatCompression(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) { o.DrainDefaultCompression = "zstd" })
	p.channel("app-c")
	a := createLegacyChannel(t, p, "c")
	r := p.do("POST", p.v3+"/v3/channels/app-c/drains", `{"url":"https://logs.example.com/gz","compression":"gzip"}`, jsonH)
	want(t, r, 201)
	if !strings.HasSuffix(r.body, `,"url":"https://logs.example.com/gz","compression":"gzip"}`) {
		t.Fatalf("body %q", r.body)
	}
	r = p.do("POST", p.v3+"/v3/channels/app-c/drains", `{"url":"https://logs.example.com/default"}`, jsonH)
	if !strings.HasSuffix(r.body, `"compression":"zstd"}`) {
		t.Fatalf("default compression not applied: %q", r.body)
	}
	r = p.do("POST", p.v3+"/v3/channels/app-c/drains", `{"url":"syslog://logs.example.com"}`, jsonH)
	if r.code != 201 || strings.Contains(r.body, "compression") {
		t.Fatalf("syslog drain: %d %q", r.code, r.body)
	}
	for _, body := range []string{`{"url":"https://l.example.com/","compression":"br"}`, `{"url":"https://l.example.com/","compression":1}`,
		`{"url":"syslog://l.example.com","compression":"gzip"}`} {
		want(t, p.do("POST", p.v3+"/v3/channels/app-c/drains", body, jsonH), 422)
		want(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains", body, authH), 422)
	}
	r = p.do("POST", p.api+"/v2/channels/"+a+"/drains", `{"url":"https://logs.example.com/v2","compression":"gzip"}`, authH)
	want(t, r, 201)
	var stored []string
	for _, d := range p.snapshot().Channel("app-c").Drains {
		stored = append(stored, d.Compression)
	}
	if strings.Join(stored, ",") != "gzip,zstd," {
		t.Fatalf("stored compression %v", stored)
	}
}

// TestDrainBufferField: the "buffer" extension (issue 19) is stored like
// "compression" and shown back; it is "disk" or "memory", kept by a PUT
// that does not name it, cleared by null, and refused otherwise (422).
func TestDrainBufferField(t *testing.T) {
	p := newPlane(t, nil)
	p.channel("app-b")
	a := createLegacyChannel(t, p, "b")
	r := p.do("POST", p.v3+"/v3/channels/app-b/drains", `{"url":"https://logs.example.com/d","buffer":"disk"}`, jsonH)
	want(t, r, 201)
	if !strings.HasSuffix(r.body, `,"url":"https://logs.example.com/d","buffer":"disk"}`) {
		t.Fatalf("body %q", r.body)
	}
	id := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(r.body)[1]
	r = p.do("PUT", p.v3+"/v3/channels/app-b/drains/"+id, `{"url":"https://logs.example.com/e"}`, jsonH)
	if r.code != 200 || !strings.Contains(r.body, `"buffer":"disk"`) {
		t.Fatalf("PUT without buffer: %d %q", r.code, r.body)
	}
	r = p.do("PUT", p.v3+"/v3/channels/app-b/drains/"+id, `{"buffer":null}`, jsonH)
	if r.code != 200 || strings.Contains(r.body, "buffer") {
		t.Fatalf("PUT buffer null: %d %q", r.code, r.body)
	}
	r = p.do("POST", p.api+"/v2/channels/"+a+"/drains", `{"url":"syslog://logs.example.com","buffer":"memory"}`, authH)
	if r.code != 201 || !strings.Contains(r.body, `"buffer":"memory"`) {
		t.Fatalf("v2: %d %q", r.code, r.body)
	}
	for _, body := range []string{`{"url":"https://l.example.com/x","buffer":"ssd"}`, `{"url":"https://l.example.com/y","buffer":1}`} {
		want(t, p.do("POST", p.v3+"/v3/channels/app-b/drains", body, jsonH), 422)
		want(t, p.do("POST", p.api+"/v2/channels/"+a+"/drains", body, authH), 422)
	}
	var stored []string
	for _, ch := range []string{"app-b", a} {
		for _, d := range p.snapshot().Channel(ch).Drains {
			stored = append(stored, d.Buffer)
		}
	}
	if strings.Join(stored, ",") != ",memory" {
		t.Fatalf("stored buffers %q", stored)
	}
}

package controlplane_test

import (
	"regexp"
	"testing"
)

// PUT/GET /v3/channels/<id>/flags (an extension): the master key sets and
// reads a channel's flags; they take effect in the snapshot; credentials,
// unknown flags and unknown channels are refused.
func TestChannelFlagsEndpoint(t *testing.T) {
	p := newPlane(t, nil)
	want(t, p.do("PUT", p.v3+"/v3/channels/fl", `{}`, jsonH), 201)
	wantBody(t, p.do("GET", p.v3+"/v3/channels/fl/flags", "", authH), 200, `{"flags":[]}`)
	wantBody(t, p.do("PUT", p.v3+"/v3/channels/fl/flags", `{"flags":["no_tail","no_redis","no_tail"]}`, jsonH), 200,
		`{"flags":["no_redis","no_tail"]}`)
	if ch := p.w.Current().Channel("fl"); ch == nil || ch.Flags != "no_redis:no_tail" || !ch.NoTail || !ch.NoRedis {
		t.Fatalf("snapshot channel = %+v", ch)
	}
	wantBody(t, p.do("GET", p.v3+"/v3/channels/fl/flags", "", authH), 200, `{"flags":["no_redis","no_tail"]}`)
	// a v3 PUT of the channel keeps its flags
	want(t, p.do("PUT", p.v3+"/v3/channels/fl", `{"tokens":["web"]}`, jsonH), 200)
	if ch := p.w.Current().Channel("fl"); ch == nil || ch.Flags != "no_redis:no_tail" {
		t.Fatalf("after PUT of the channel: %+v", ch)
	}
	wantBody(t, p.do("PUT", p.v3+"/v3/channels/fl/flags", `{"flags":[]}`, jsonH), 200, `{"flags":[]}`)
	if ch := p.w.Current().Channel("fl"); ch == nil || ch.NoTail || ch.NoRedis {
		t.Fatalf("flags cleared, snapshot channel = %+v", ch)
	}
	want(t, p.do("PUT", p.v3+"/v3/channels/fl/flags", `{"flags":["no_fun"]}`, jsonH), 400)
	want(t, p.do("PUT", p.v3+"/v3/channels/fl/flags", `{}`, jsonH), 400)
	want(t, p.do("PUT", p.v3+"/v3/channels/none/flags", `{"flags":[]}`, jsonH), 404)
	// a credential with full_api is not the master key
	r := p.do("POST", p.v3+"/v3/credentials", `{"name":"ops","grants":["full_api","any_channel"]}`, jsonH)
	m := regexp.MustCompile(`"id":"([^"]+)".*"password":"([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("credential: %s", r.body)
	}
	want(t, p.do("GET", p.v3+"/v3/channels/fl/flags", "", basicCred(m[1], m[2])), 401)
}

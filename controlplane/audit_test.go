package controlplane_test

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/internal/testenv"
)

// apiWrites returns the "api write" lines of a JSON log.
func apiWrites(log string) []map[string]any {
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(ln), &m) == nil && m["msg"] == "api write" {
			out = append(out, m)
		}
	}
	return out
}

// TestAuditLogLinePerWrite: every write request, refused or not, is one
// "api write" line naming the caller, the method and path, the config keys
// it wrote and the status; reads are not logged; no secret appears.
func TestAuditLogLinePerWrite(t *testing.T) {
	var logs testenv.Buffer
	p := newPlane(t, func(o *controlplane.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	r := p.do("POST", p.v3+"/v3/credentials", `{"name":"ops","grants":["full_api","any_channel"]}`, jsonH)
	want(t, r, 201)
	m := regexp.MustCompile(`"id":"([0-9A-F]{32})","password":"([0-9A-F]{64})"`).FindStringSubmatch(r.body)
	cred := basicCred(m[1], m[2])
	want(t, p.do("PUT", p.v3+"/v3/channels/audited", `{}`, cred), 201)
	want(t, p.do("GET", p.v3+"/v3/channels/audited", "", cred), 200)
	want(t, p.do("POST", p.api+"/channels", `{"tokens":["app"]}`, cred), 201)
	r = p.do("POST", p.api+"/v2/channels/1/drains", `{"url":"https://user:drainsecret@example.com/logs"}`, cred)
	want(t, r, 201)
	want(t, p.do("DELETE", p.v3+"/v3/channels/audited", "", basicCred(m[1], "wrong")), 401)
	want(t, p.do("DELETE", p.v3+"/v3/credentials/"+m[1], "", authH), 204)

	got := apiWrites(logs.String())
	type line struct{ cred, method, path, objects string }
	wantLines := []struct {
		line
		status float64
	}{
		{line{"auth-key", "POST", "/v3/credentials", "cred:" + m[1]}, 201},
		{line{m[1], "PUT", "/v3/channels/audited", "ch:audited:data"}, 201},
		{line{m[1], "POST", "/channels", "ch:1:data,tok:t."}, 201},
		{line{m[1], "POST", "/v2/channels/1/drains", "drain:"}, 201},
		{line{m[1], "DELETE", "/v3/channels/audited", ""}, 401},
		{line{"auth-key", "DELETE", "/v3/credentials/" + m[1], "cred:" + m[1]}, 204},
	}
	if len(got) != len(wantLines) {
		t.Fatalf("%d audit lines, want %d: %v", len(got), len(wantLines), got)
	}
	for i, w := range wantLines {
		g := got[i]
		if g["cred"] != w.cred || g["method"] != w.method || g["path"] != w.path ||
			!strings.HasPrefix(g["objects"].(string), w.objects) || g["status"] != w.status ||
			(w.objects == "" && g["objects"] != "") {
			t.Errorf("line %d: %v, want %+v", i, g, w)
		}
	}
	all := logs.String()
	for _, secret := range []string{m[2], testKey, "drainsecret"} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret is in the logs: %q", secret)
		}
	}
}

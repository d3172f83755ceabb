package controlplane_test

import (
	"encoding/base64"
	"regexp"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

func basicCred(id, pass string) hdr {
	return hdr{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+pass)), "Content-Type", "application/json"}
}

func TestCredentialsExtension(t *testing.T) {
	p := newPlane(t, nil)
	r := p.do("POST", p.v3+"/v3/credentials", `{"name":"ops","grants":["full_api"]}`, jsonH)
	want(t, r, 201)
	m := regexp.MustCompile(`^\{"id":"([0-9A-F]{32})","password":"([0-9A-F]{64})","name":"ops","grants":\["full_api"\]\}$`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("body %q", r.body)
	}
	wantHeader(t, r, "Location", "http://localhost:8002/v3/credentials/"+m[1])
	cred := basicCred(m[1], m[2])
	// the credential opens both APIs ...
	want(t, p.do("PUT", p.v3+"/v3/channels/cred-ch", `{}`, cred), 201)
	want(t, p.do("GET", p.api+"/v2/channels/1", "", cred), 404)
	wantBody(t, p.do("GET", p.api+"/healthcheck", "", cred), 200, `{"status":"normal"}`)
	// ... but not credential management, which needs the auth key
	want(t, p.do("GET", p.v3+"/v3/credentials", "", cred), 401)
	want(t, p.do("GET", p.v3+"/v3/credentials", "", basicCred(m[1], "wrong")), 401)
	// listing and showing never reveal the password
	r = p.do("GET", p.v3+"/v3/credentials", "", authH)
	wantBody(t, r, 200, `[{"id":"`+m[1]+`","name":"ops","grants":["full_api"]}]`)
	wantBody(t, p.do("GET", p.v3+"/v3/credentials/"+m[1], "", authH), 200, `{"id":"`+m[1]+`","name":"ops","grants":["full_api"]}`)
	// a credential without full_api cannot use the API
	r = p.do("POST", p.v3+"/v3/credentials", `{"name":"shipper","grants":["any_channel"]}`, jsonH)
	m2 := regexp.MustCompile(`"id":"([0-9A-F]{32})","password":"([0-9A-F]{64})"`).FindStringSubmatch(r.body)
	want(t, p.do("GET", p.v3+"/v3/channels/cred-ch", "", basicCred(m2[1], m2[2])), 401)
	wantBody(t, p.do("POST", p.v3+"/v3/credentials", `{"name":"x","grants":["root"]}`, jsonH), 422, `{"error":"unknown grant (known: full_api, any_channel): \"root\""}`)
	// revocation takes effect on the next request
	wantBody(t, p.do("DELETE", p.v3+"/v3/credentials/"+m[1], "", authH), 204, "")
	want(t, p.do("GET", p.v3+"/v3/channels/cred-ch", "", cred), 401)
	want(t, p.do("DELETE", p.v3+"/v3/credentials/"+m[1], "", authH), 404)
	want(t, p.do("GET", p.v3+"/v3/credentials/"+m[1], "", authH), 404)
	if c := p.snapshot().Cred(m2[1]); c == nil || c.Pass != "" || len(c.PassSHA256) != 64 {
		t.Fatalf("stored credential must hold only the password hash: %+v", c)
	}
}

func TestLogplexPlaintextCredential(t *testing.T) {
	p := newPlane(t, nil)
	// written the way Logplex operators write cred:<id> hashes
	v, err := p.st.Write(t.Context(), config.Change{Key: config.CredKey("807F8703C9739F61C78FC7B79972F27A"),
		Fields: config.Hash{"pass": "secret", "name": "legacy", "full_api": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.w.WaitVersion(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	want(t, p.do("GET", p.v3+"/v3/channels/x", "", basicCred("807F8703C9739F61C78FC7B79972F27A", "secret")), 404)
	want(t, p.do("GET", p.v3+"/v3/channels/x", "", basicCred("807F8703C9739F61C78FC7B79972F27A", "Secret")), 401)
	// revoked from another writer (e.g. logplex cred revoke): refused within a second
	if _, err := p.st.Write(t.Context(), config.Change{Key: config.CredKey("807F8703C9739F61C78FC7B79972F27A")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "revoked credential refused", func() bool {
		return p.do("GET", p.v3+"/v3/channels/x", "", basicCred("807F8703C9739F61C78FC7B79972F27A", "secret")).code == 401
	})
}

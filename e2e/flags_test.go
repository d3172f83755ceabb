package e2e

import (
	"fmt"
	"testing"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// TestRedisFlagsSurviveUpdates: operators (and Logplex nodes) write config
// hashes with HMSET, without logplex's change stream, so logplex's snapshot
// may not have those fields yet. An update of the channel through the API
// keeps them in Redis, and the flags endpoint writes the flags field only.
func TestRedisFlagsSurviveUpdates(t *testing.T) {
	rs := redistest.Start(t)
	key := "flags-key"
	p := Start(t, binPath, "all", t.TempDir(), []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL(), "LOGPLEX_AUTH_KEY=" + key})
	hdr := map[string]string{"Authorization": "Basic " + key, "Content-Type": "application/json"}
	v3 := "http://" + p.V3
	if r := Do(t, "PUT", v3+"/v3/channels/app-f", "", "", hdr, []byte(`{"tokens":["web"]}`)); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	rs.MustDo(t, "HMSET", "ch:app-f:data", "flags", "no_tail", "owner", "ops") // as an operator would
	if r := Do(t, "PUT", v3+"/v3/channels/app-f", "", "", hdr, []byte(`{"tokens":["web","worker"]}`)); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if got := hash(t, rs, "ch:app-f:data"); got["flags"] != "no_tail" || got["owner"] != "ops" {
		t.Fatalf("after an API update the channel hash is %v: the operator's fields were lost", got)
	}
	if r := Do(t, "PUT", v3+"/v3/channels/app-f/flags", "", "", hdr, []byte(`{"flags":["no_redis"]}`)); r.Status != 200 || r.Body != `{"flags":["no_redis"]}` {
		t.Fatalf("flags: %d %s", r.Status, r.Body)
	}
	if got := hash(t, rs, "ch:app-f:data"); got["flags"] != "no_redis" || got["owner"] != "ops" {
		t.Fatalf("after PUT …/flags the channel hash is %v", got)
	}
}

// hash is HGETALL key.
func hash(t *testing.T, rs *redistest.Server, key string) map[string]string {
	t.Helper()
	v, ok := rs.MustDo(t, "HGETALL", key).([]any)
	if !ok {
		t.Fatalf("HGETALL %s: %v", key, v)
	}
	h := map[string]string{}
	for i := 0; i+1 < len(v); i += 2 {
		h[fmt.Sprint(v[i])] = fmt.Sprint(v[i+1])
	}
	return h
}

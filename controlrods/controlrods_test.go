package controlrods

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
	"github.com/logplex/logplex/store/redisstore"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// fakePlanes records what the rods set; it is each of Router, Ingest and API.
type fakePlanes struct {
	mu  sync.Mutex
	set map[string]string
}

func (f *fakePlanes) put(k, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = map[string]string{}
	}
	f.set[k] = v
}
func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
func (f *fakePlanes) SetDenyRedisBuffers(on bool) { f.put("router.deny_redis_buffers", onOff(on)) }
func (f *fakePlanes) SetDenyDrainForwarding(on bool) {
	f.put("router.deny_drain_forwarding", onOff(on))
}
func (f *fakePlanes) SetDenyTailSessions(on bool) { f.put("deny_tail_sessions", onOff(on)) }
func (f *fakePlanes) SetFirehoseDisabled(on bool) { f.put("router.disable_firehose", onOff(on)) }
func (f *fakePlanes) SetDenyLogsIngress(on bool)  { f.put("ingest.deny_logs_ingress", onOff(on)) }
func (f *fakePlanes) SetAPIStatus(s string)       { f.put("api.api_status", s) }
func (f *fakePlanes) SetLegacyAPIStatus(s string) { f.put("api.legacy_api_status", s) }
func (f *fakePlanes) KillTailSessions() int       { return 3 }

func (f *fakePlanes) get(k string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set[k]
}

// node is one logplex node's rods with its own store client and watcher.
type node struct {
	rods   *Rods
	planes *fakePlanes
	watch  *store.Watcher
	srv    *httptest.Server
}

func newNode(t *testing.T, st store.ConfigStore) *node {
	t.Helper()
	n := &node{planes: &fakePlanes{}, watch: store.NewWatcher(st, time.Minute, nil)}
	n.rods = New(Options{Router: n.planes, Ingest: n.planes, API: n.planes, Store: st, Watcher: n.watch,
		Boot: Boot{DenyLogsIngress: true, LegacyAPIStatus: "read_only"}})
	mux := http.NewServeMux()
	n.rods.Register(mux)
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.srv.Close)
	return n
}

// run starts the node's watcher and the rods' Follow.
func (n *node) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go n.watch.Run(ctx)
	go n.rods.Follow(ctx)
}

func (n *node) post(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Post(n.srv.URL+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Boot settings reach the planes; a node-scoped verb sets one rod on this
// node's planes and the reply is the node's settings; unknown verbs and
// scopes are refused; kill_tail_sessions is an action.
func TestRodsOnOneNode(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	n := newNode(t, st)
	for k, want := range map[string]string{"ingest.deny_logs_ingress": "on", "api.legacy_api_status": "read_only",
		"api.api_status": "normal", "router.deny_redis_buffers": "off"} {
		if got := n.planes.get(k); got != want {
			t.Errorf("at boot %s = %q, want %q", k, got, want)
		}
	}
	code, body := n.post(t, "/control-rods/deny_drain_forwarding")
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got["deny_drain_forwarding"] != "on" {
		t.Fatalf("POST deny_drain_forwarding: %d %q", code, body)
	}
	if n.planes.get("router.deny_drain_forwarding") != "on" {
		t.Error("the router was not switched")
	}
	if code, _ := n.post(t, "/control-rods/no_such_rod"); code != http.StatusNotFound {
		t.Errorf("unknown verb: %d, want 404", code)
	}
	if code, _ := n.post(t, "/control-rods/deny_redis_buffers?scope=planet"); code != http.StatusBadRequest {
		t.Errorf("bad scope: %d, want 400", code)
	}
	if code, body := n.post(t, "/control-rods/kill_tail_sessions"); code != 200 || !strings.Contains(body, `"killed_tail_sessions":3`) {
		t.Errorf("kill_tail_sessions: %d %q", code, body)
	}
}

// Two nodes on one store change different rods cluster-wide, first while
// neither has followed the other's change yet (a node's snapshot lags the
// store), then all at once: every change survives in the stored hash and
// reaches both nodes. A write of the whole hash from a node's own (lagging)
// view loses the other node's rod. On a real Redis (two clients) and on the
// embedded store (one, shared).
func TestClusterRodsKeepConcurrentChanges(t *testing.T) {
	want := map[string]string{"deny_redis_buffers": "on", "api_status": "disabled", "deny_tail_sessions": "on",
		"deny_drain_forwarding": "on", "legacy_api_status": "normal", "disable_firehose": "on", "deny_logs_ingress": "off"}
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		open := func() store.ConfigStore {
			st, err := redisstore.OpenConfig(context.Background(), redisstore.ConfigOptions{URL: srv.URL()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		a, b := newNode(t, open()), newNode(t, open())
		changeConcurrently(t, a, b, want)
		stored, err := srv.Do("HGETALL", config.ControlRodsKey)
		if err != nil {
			t.Fatal(err)
		}
		if l, _ := stored.([]any); len(l) != 2*len(want) {
			t.Errorf("stored hash %v, want the %d rods %v", stored, len(want), want)
		}
	})
	t.Run("embedded", func(t *testing.T) {
		st, err := embedded.OpenConfig("")
		if err != nil {
			t.Fatal(err)
		}
		a, b := newNode(t, st), newNode(t, st)
		changeConcurrently(t, a, b, want)
		snap, err := st.Load(context.Background())
		if err != nil || !maps.Equal(snap.Rods, want) {
			t.Errorf("stored rods %v (%v), want %v", snap.Rods, err, want)
		}
	})
}

// changeConcurrently makes the changes of want on a and b (see
// TestClusterRodsKeepConcurrentChanges) and waits until both nodes have
// every setting of want.
func changeConcurrently(t *testing.T, a, b *node, want map[string]string) {
	t.Helper()
	// Neither node follows the store yet.
	if code, body := a.post(t, "/control-rods/deny_redis_buffers?scope=cluster"); code != 200 {
		t.Fatalf("a: %d %s", code, body)
	}
	if code, body := b.post(t, "/control-rods/disable_api?scope=cluster"); code != 200 {
		t.Fatalf("b: %d %s", code, body)
	}
	a.run(t)
	b.run(t)
	// Now both follow; the other rods change at the same time on both.
	var wg sync.WaitGroup
	for i, verb := range []string{"deny_tail_sessions", "deny_drain_forwarding", "enable_legacy_api", "disable_firehose", "allow_logs_ingress"} {
		wg.Go(func() {
			n := []*node{a, b}[i%2]
			if code, body := n.post(t, "/control-rods/"+verb+"?scope=cluster"); code != 200 {
				t.Errorf("%s: %d %s", verb, code, body)
			}
		})
	}
	wg.Wait()
	for name, n := range map[string]*node{"a": a, "b": b} {
		waitFor(t, "node "+name+" has every cluster-wide rod", func() bool {
			s := n.rods.Settings()
			for k, v := range want {
				if s[k] != v {
					return false
				}
			}
			return true
		})
		if got := n.planes.get("router.deny_redis_buffers"); got != "on" {
			t.Errorf("node %s router deny_redis_buffers = %q, want on", name, got)
		}
		if got := n.planes.get("api.api_status"); got != "disabled" {
			t.Errorf("node %s api_status = %q, want disabled", name, got)
		}
	}
}

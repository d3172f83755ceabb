// Package controlrods owns logplex's control rods, Logplex's runtime
// switches: their setting on this node, the admin endpoints that change
// them, their cluster-wide propagation through the config store, and the
// logplex_control_rod gauges. The planes expose small setters (Router,
// Ingest, API); the rods call them and nothing else of the planes.
//
//	POST /control-rods/<verb>[?scope=node|cluster]   change a rod (verbs: Verbs)
//	GET  /control-rods                                this node's settings, JSON
//
// Each node starts with its flags (Boot). scope=node (the default) sets a
// rod on this node only. scope=cluster also stores it as one field of the
// hash config.ControlRodsKey (rod → setting): the store sets that field
// alone (config.Change.Merge), so concurrent changes of different rods from
// different nodes all stay; every node follows the hash through the change feed
// (Follow) and applies the rods whose setting changed. The latest change of
// a rod wins.
//
// Settings: boolean rods are "on"/"off"; api_status and legacy_api_status
// are "normal", "read_only" or "disabled". kill_tail_sessions is an action,
// not a setting: it ends this node's live tail sessions.
//
// controlrods imports config, store, VictoriaMetrics/metrics and the
// standard library; it never imports the planes.
package controlrods

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// Router is what the rods switch in the data plane's router.
type Router interface {
	SetDenyRedisBuffers(on bool)    // deny_redis_buffers: no history writes
	SetDenyDrainForwarding(on bool) // deny_drain_forwarding: nothing to drains
	SetDenyTailSessions(on bool)    // deny_tail_sessions: no tail publishing
	SetFirehoseDisabled(on bool)    // disable_firehose
}

// Ingest is what the rods switch in the data plane's inputs.
type Ingest interface {
	SetDenyLogsIngress(on bool) // deny_logs_ingress: POST /logs answers 503
}

// API is what the rods switch in the control plane.
type API interface {
	SetDenyTailSessions(on bool)      // deny_tail_sessions: no new sessions
	SetAPIStatus(status string)       // api_status (/v3)
	SetLegacyAPIStatus(status string) // legacy_api_status
	KillTailSessions() int            // kill_tail_sessions: returns how many ended
}

// Boot is a node's settings at start (its flags). The zero value is every
// rod off and both APIs "normal".
type Boot struct {
	DenyRedisBuffers, DenyTailSessions, DenyLogsIngress, DisableFirehose bool
	// APIStatus and LegacyAPIStatus: "normal" ("" is "normal"), "read_only"
	// or "disabled".
	APIStatus, LegacyAPIStatus string
}

// Options configure Rods. A nil plane is one this node does not run.
type Options struct {
	Router Router
	Ingest Ingest
	API    API
	// Store holds the cluster-wide settings (config.ControlRodsKey).
	Store store.ConfigStore
	// Watcher follows Store; Follow reads the cluster-wide settings from it.
	Watcher *store.Watcher
	Boot    Boot
}

// Verbs maps Logplex's rod commands to (rod, setting).
var Verbs = map[string][2]string{
	"deny_redis_buffers": {"deny_redis_buffers", "on"}, "allow_redis_buffers": {"deny_redis_buffers", "off"},
	"deny_tail_sessions": {"deny_tail_sessions", "on"}, "allow_tail_sessions": {"deny_tail_sessions", "off"},
	"deny_drain_forwarding": {"deny_drain_forwarding", "on"}, "allow_drain_forwarding": {"deny_drain_forwarding", "off"},
	"deny_logs_ingress": {"deny_logs_ingress", "on"}, "allow_logs_ingress": {"deny_logs_ingress", "off"},
	"disable_api": {"api_status", "disabled"}, "enable_api": {"api_status", "normal"},
	"set_api_read_only":  {"api_status", "read_only"},
	"disable_legacy_api": {"legacy_api_status", "disabled"}, "enable_legacy_api": {"legacy_api_status", "normal"},
	"set_legacy_api_read_only": {"legacy_api_status", "read_only"},
	"disable_firehose":         {"disable_firehose", "on"}, "enable_firehose": {"disable_firehose", "off"},
}

// rodNames are the rods, each with a gauge.
var rodNames = []string{"deny_redis_buffers", "deny_tail_sessions", "deny_drain_forwarding", "deny_logs_ingress",
	"api_status", "legacy_api_status", "disable_firehose"}

// gauges are logplex_control_rod{rod,state}, per rod and state: 1 for the
// state the rod is in, 0 for its other states (on/off; an API status:
// normal, read_only, disabled). A process has one Rods; its settings are
// what the gauges show.
var gauges = func() map[string]map[string]*metrics.Gauge {
	g := map[string]map[string]*metrics.Gauge{}
	for _, rod := range rodNames {
		states := []string{"on", "off"}
		if rod == "api_status" || rod == "legacy_api_status" {
			states = []string{"normal", "read_only", "disabled"}
		}
		g[rod] = map[string]*metrics.Gauge{}
		for _, st := range states {
			g[rod][st] = metrics.NewGauge(fmt.Sprintf(`logplex_control_rod{rod=%q,state=%q}`, rod, st), nil)
		}
	}
	return g
}()

// writeTimeout bounds a cluster-wide write.
const writeTimeout = 3 * time.Second

// Rods holds this node's control rods. It is safe for concurrent use.
type Rods struct {
	o Options

	mu          sync.Mutex
	state       map[string]string // rod → setting on this node
	lastCluster map[string]string // the cluster hash Follow applied last
}

// New returns the rods of a node, each set to its Boot setting on the
// node's planes.
func New(o Options) *Rods {
	r := &Rods{o: o, state: map[string]string{}}
	onOff := map[bool]string{true: "on", false: "off"}
	b := o.Boot
	for rod, v := range map[string]string{
		"deny_redis_buffers": onOff[b.DenyRedisBuffers], "deny_tail_sessions": onOff[b.DenyTailSessions],
		"deny_drain_forwarding": "off", "deny_logs_ingress": onOff[b.DenyLogsIngress],
		"api_status": cmp.Or(b.APIStatus, "normal"), "legacy_api_status": cmp.Or(b.LegacyAPIStatus, "normal"),
		"disable_firehose": onOff[b.DisableFirehose],
	} {
		r.Apply(rod, v)
	}
	return r
}

// Settings returns a copy of this node's settings (rod → setting).
func (r *Rods) Settings() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.state)
}

// Apply sets rod to v on this node's planes. An unknown rod is recorded
// and changes nothing else.
func (r *Rods) Apply(rod, v string) {
	r.mu.Lock()
	r.state[rod] = v
	r.mu.Unlock()
	for st, g := range gauges[rod] {
		g.Set(map[bool]float64{true: 1}[st == v])
	}
	on := v == "on"
	rt, in, api := r.o.Router, r.o.Ingest, r.o.API
	switch rod {
	case "deny_redis_buffers":
		if rt != nil {
			rt.SetDenyRedisBuffers(on)
		}
	case "deny_drain_forwarding":
		if rt != nil {
			rt.SetDenyDrainForwarding(on)
		}
	case "disable_firehose":
		if rt != nil {
			rt.SetFirehoseDisabled(on)
		}
	case "deny_logs_ingress":
		if in != nil {
			in.SetDenyLogsIngress(on)
		}
	case "deny_tail_sessions":
		if api != nil {
			api.SetDenyTailSessions(on)
		}
		if rt != nil {
			rt.SetDenyTailSessions(on)
		}
	case "api_status":
		if api != nil {
			api.SetAPIStatus(v)
		}
	case "legacy_api_status":
		if api != nil {
			api.SetLegacyAPIStatus(v)
		}
	}
}

// Follow applies cluster-wide changes as the watcher's snapshots arrive,
// until ctx ends.
func (r *Rods) Follow(ctx context.Context) {
	w := r.o.Watcher
	for {
		changed := w.Changed()
		if s := w.Current(); s != nil && !maps.Equal(s.Rods, r.lastCluster) {
			for rod, v := range s.Rods {
				if r.lastCluster[rod] != v {
					r.Apply(rod, v)
				}
			}
			r.lastCluster = maps.Clone(s.Rods)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// Register adds the admin endpoints to mux.
func (r *Rods) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /control-rods", func(w http.ResponseWriter, _ *http.Request) { r.reply(w) })
	mux.HandleFunc("POST /control-rods/{verb}", r.post)
}

func (r *Rods) post(w http.ResponseWriter, req *http.Request) {
	verb := req.PathValue("verb")
	if verb == "kill_tail_sessions" { // an action on this node, not a setting
		n := 0
		if r.o.API != nil {
			n = r.o.API.KillTailSessions()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"killed_tail_sessions\":%d}\n", n)
		return
	}
	rv, ok := Verbs[verb]
	if !ok {
		names := []string{"kill_tail_sessions"}
		for k := range Verbs {
			names = append(names, k)
		}
		sort.Strings(names)
		http.Error(w, fmt.Sprintf("unknown control rod %q; known: %v", verb, names), http.StatusNotFound)
		return
	}
	switch req.URL.Query().Get("scope") {
	case "", "node":
	case "cluster":
		if err := r.WriteCluster(req.Context(), rv[0], rv[1]); err != nil {
			http.Error(w, "cluster-wide control rod not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	default:
		http.Error(w, "scope must be node or cluster", http.StatusBadRequest)
		return
	}
	r.Apply(rv[0], rv[1])
	r.reply(w)
}

// WriteCluster stores one rod's setting in the cluster-wide hash: that
// field only (a Merge change: HMSET without DEL on Redis), so a concurrent
// change of another rod stays.
func (r *Rods) WriteCluster(ctx context.Context, rod, v string) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	_, err := r.o.Store.Write(ctx, config.Change{Key: config.ControlRodsKey, Fields: config.Hash{rod: v}, Merge: true})
	return err
}

func (r *Rods) reply(w http.ResponseWriter) {
	b, _ := json.Marshal(r.Settings())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

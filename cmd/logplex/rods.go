package main

import (
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
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/dataplane"
	"github.com/logplex/logplex/store"
)

// Control rods (spec §8.2) are runtime switches. Each node starts with its
// flags; `POST /control-rods/<verb>` on the admin address sets one on this
// node, and with `?scope=cluster` writes it to the config store
// (config.ControlRodsKey), which every node follows. The latest change wins.
//
// Settings: boolean rods are "on"/"off"; api_status and legacy_api_status
// are "normal", "read_only" or "disabled". kill_tail_sessions is an action,
// not a setting: it ends this node's live tail sessions.

// rodVerbs maps Logplex's rod commands to (rod, setting).
var rodVerbs = map[string][2]string{
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

// rodGaugeValue: on/normal 0 … for gauges: boolean rods 1 when on; statuses
// 0 normal, 1 read_only, 2 disabled.
func rodGaugeValue(v string) float64 {
	switch v {
	case "on", "read_only":
		return 1
	case "disabled":
		return 2
	}
	return 0
}

type rods struct {
	dp    *dataplane.DataPlane
	cp    *controlplane.ControlPlane
	st    store.ConfigStore
	watch *store.Watcher

	mu          sync.Mutex
	state       map[string]string
	lastCluster map[string]string
}

func newRods(s *settings, dp *dataplane.DataPlane, cp *controlplane.ControlPlane, st store.ConfigStore, w *store.Watcher) *rods {
	r := &rods{dp: dp, cp: cp, st: st, watch: w, state: map[string]string{}}
	onOff := map[bool]string{true: "on", false: "off"}
	for rod, v := range map[string]string{
		"deny_redis_buffers": onOff[s.denyRedisBuffers], "deny_tail_sessions": onOff[s.denyTailSessions],
		"deny_drain_forwarding": "off", "deny_logs_ingress": onOff[s.denyLogsIngress],
		"api_status": s.apiStatus, "legacy_api_status": s.legacyAPIStatus,
		"disable_firehose": onOff[s.disableFirehose],
	} {
		r.apply(rod, v)
		metrics.GetOrCreateGauge(fmt.Sprintf(`logplex_control_rod{rod=%q}`, rod), func() float64 {
			r.mu.Lock()
			defer r.mu.Unlock()
			return rodGaugeValue(r.state[rod])
		})
	}
	return r
}

// apply sets rod on this node's planes.
func (r *rods) apply(rod, v string) {
	r.mu.Lock()
	r.state[rod] = v
	r.mu.Unlock()
	on := v == "on"
	switch rod {
	case "deny_redis_buffers":
		if r.dp != nil {
			r.dp.Router.DenyRedisBuffers.Store(on)
		}
	case "deny_drain_forwarding":
		if r.dp != nil {
			r.dp.Router.DenyDrainForwarding.Store(on)
		}
	case "disable_firehose":
		if r.dp != nil {
			r.dp.Router.SetFirehoseDisabled(on)
		}
	case "deny_logs_ingress":
		if r.dp != nil {
			r.dp.SetDenyLogsIngress(on)
		}
	case "deny_tail_sessions":
		if r.cp != nil {
			r.cp.SetDenyTailSessions(on)
		}
		if r.dp != nil {
			r.dp.Router.DenyTailSessions.Store(on)
		}
	case "api_status":
		if r.cp != nil {
			r.cp.SetAPIStatus(v)
		}
	case "legacy_api_status":
		if r.cp != nil {
			r.cp.SetLegacyAPIStatus(v)
		}
	}
}

// follow applies cluster-wide rod changes as snapshots arrive.
func (r *rods) follow(ctx context.Context) {
	for {
		changed := r.watch.Changed()
		if s := r.watch.Current(); s != nil && !maps.Equal(s.Rods, r.lastCluster) {
			for rod, v := range s.Rods {
				if r.lastCluster[rod] != v {
					r.apply(rod, v)
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

// register adds the admin endpoints.
func (r *rods) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /control-rods", func(w http.ResponseWriter, _ *http.Request) { r.reply(w) })
	mux.HandleFunc("POST /control-rods/{verb}", r.post)
}

func (r *rods) post(w http.ResponseWriter, req *http.Request) {
	if req.PathValue("verb") == "kill_tail_sessions" { // an action on this node, not a setting
		n := 0
		if r.cp != nil {
			n = r.cp.KillTailSessions()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"killed_tail_sessions\":%d}\n", n)
		return
	}
	rv, ok := rodVerbs[req.PathValue("verb")]
	if !ok {
		names := []string{"kill_tail_sessions"}
		for k := range rodVerbs {
			names = append(names, k)
		}
		sort.Strings(names)
		http.Error(w, fmt.Sprintf("unknown control rod %q; known: %v", req.PathValue("verb"), names), http.StatusNotFound)
		return
	}
	switch req.URL.Query().Get("scope") {
	case "", "node":
		r.apply(rv[0], rv[1])
	case "cluster":
		if err := r.writeCluster(req.Context(), rv[0], rv[1]); err != nil {
			http.Error(w, "cluster-wide control rod not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		r.apply(rv[0], rv[1])
	default:
		http.Error(w, "scope must be node or cluster", http.StatusBadRequest)
		return
	}
	r.reply(w)
}

// writeCluster stores the rod in the shared hash (whole hash, as every config write).
func (r *rods) writeCluster(ctx context.Context, rod, v string) error {
	fields := config.Hash{}
	if s := r.watch.Current(); s != nil {
		maps.Copy(fields, s.Rods)
	}
	fields[rod] = v
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := r.st.Write(ctx, config.Change{Key: config.ControlRodsKey, Fields: fields})
	return err
}

func (r *rods) reply(w http.ResponseWriter) {
	r.mu.Lock()
	b, _ := json.Marshal(r.state)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

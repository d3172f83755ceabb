package main

import (
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/controlrods"
	"github.com/logplex/logplex/dataplane"
	"github.com/logplex/logplex/store"
)

// newRods returns this node's control rods (package controlrods) on the
// planes it runs (nil: not run here), set to their flags at start.
func newRods(s *settings, dp *dataplane.DataPlane, cp *controlplane.ControlPlane, st store.ConfigStore, w *store.Watcher) *controlrods.Rods {
	o := controlrods.Options{Store: st, Watcher: w, Boot: controlrods.Boot{
		DenyRedisBuffers: s.denyRedisBuffers, DenyTailSessions: s.denyTailSessions,
		DenyLogsIngress: s.denyLogsIngress, DisableFirehose: s.disableFirehose,
		APIStatus: s.apiStatus, LegacyAPIStatus: s.legacyAPIStatus,
	}}
	if dp != nil {
		o.Router, o.Ingest = dp.Router, dp
	}
	if cp != nil {
		o.API = cp
	}
	return controlrods.New(o)
}

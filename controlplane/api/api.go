// Package api serves Logplex's HTTP APIs (docs/logplex.md §4): the legacy and /v2 API
// with session fetches (Legacy, port 8001) and the /v3 API (V3, port 8002),
// byte-compatible with Logplex where docs/logplex.md is byte-exact, plus a
// credentials extension on /v3.
//
//	client ─► Legacy()/V3() ─► route ─► status/auth checks ─► handler
//	                                           │ reads: Watcher.Current() snapshot
//	                                           │ writes: Store.Write ─► Watcher.WaitVersion
//	                                           └ history: Spool.Range ─► frame formats
//
// Every mutation goes through the ConfigStore and waits (bounded) until the
// watcher's snapshot includes it, so the next request on this node sees it.
// Store failures answer 503; bad input answers 4xx, never 500.
//
// api imports frame, config, store, controlplane/auth, controlplane/session,
// VictoriaMetrics/metrics and the standard library. Never dataplane/.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/auth"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/store"
)

// Status is an API status (docs/logplex.md §4.6).
type Status int

// API statuses.
const (
	StatusNormal   Status = iota // everything works
	StatusReadOnly               // mutating routes answer 503
	StatusDisabled               // every route answers 503
)

// ParseStatus reads "normal", "read_only" or "disabled"; anything else is
// normal, as in Logplex.
func ParseStatus(s string) Status {
	switch s {
	case "read_only":
		return StatusReadOnly
	case "disabled":
		return StatusDisabled
	}
	return StatusNormal
}

// Config is what the API needs; controlplane.Options fills it with defaults
// applied (every field must be set, except Tails).
type Config struct {
	AuthKey        string // LOGPLEX_AUTH_KEY
	APIEndpointURL string // prefix of session URLs
	HTTPV3URL      string // prefix of v3 drain Locations

	Store   store.ConfigStore
	Watcher *store.Watcher
	Spool   store.Spool
	Tails   session.TailSource // nil: sessions never tail
	// DrainStatus holds the data planes' drain reports; nil: the status
	// endpoint answers 503.
	DrainStatus store.StatusBoard

	SessionExpiry        time.Duration // TTL of stored sessions
	SessionLookupTimeout time.Duration // bound on a session lookup
	StoreTimeout         time.Duration // bound on each store call
	WriteWait            time.Duration // bound on waiting for a write to reach the snapshot

	MaxDrainsPerChannel     int
	AllowPrivateDrains      bool
	DrainDefaultCompression string // "", "gzip" or "zstd"
	MaxBodyBytes            int64
	Limits                  Limits

	LegacyStatus     Status
	V3Status         Status
	DenyTailSessions bool

	Logger *slog.Logger
	// Stopping ends when the server shuts down; live tails stop then.
	Stopping context.Context
}

// Server holds the API handlers' shared state; it is safe for concurrent use.
type Server struct {
	cfg  Config
	auth auth.Checker
	log  *slog.Logger

	// runtime switches (control rods), initialised from cfg
	legacy, v3 atomic.Int32 // Status
	denyTail   atomic.Bool

	fetches  fetchGate    // concurrent session fetches
	sessions *windowCount // sessions created per channel

	probe storeProbe // StoreWritable (health.go)
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, auth: auth.Checker{AuthKey: cfg.AuthKey}, log: cfg.Logger,
		sessions: newWindowCount(cfg.SessionExpiry, time.Now)}
	s.SetLegacyStatus(cfg.LegacyStatus)
	s.SetV3Status(cfg.V3Status)
	s.SetDenyTailSessions(cfg.DenyTailSessions)
	return s
}

// SetLegacyStatus switches the legacy API (control rods enable_legacy_api,
// set_legacy_api_read_only, disable_legacy_api).
func (s *Server) SetLegacyStatus(st Status) { s.legacy.Store(int32(st)) }

// SetV3Status switches the v3 API (enable_api, set_api_read_only, disable_api).
func (s *Server) SetV3Status(st Status) { s.v3.Store(int32(st)) }

// SetDenyTailSessions is the deny_tail_sessions rod.
func (s *Server) SetDenyTailSessions(on bool) { s.denyTail.Store(on) }

// Legacy returns the handler of the legacy and /v2 API listener.
func (s *Server) Legacy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		s.boundBodyRead(w, r)
		r, a := withAudit(r)
		ep := s.serveLegacy(rec, r)
		countRequest("legacy", ep, rec.code)
		s.audit("legacy", r, a, rec.code)
	})
}

// V3 returns the handler of the /v3 API listener.
func (s *Server) V3() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		s.boundBodyRead(w, r)
		r, a := withAudit(r)
		ep := s.serveV3(rec, r)
		countRequest("v3", ep, rec.code)
		s.audit("v3", r, a, rec.code)
	})
}

// snapshot returns the current config, or nil before the first load.
func (s *Server) snapshot() *config.Snapshot { return s.cfg.Watcher.Current() }

// Package controlplane runs logplex's control plane: the legacy and /v2 HTTP
// API with session fetches (APIAddr, Logplex's :8001) and the /v3 API
// (V3Addr, :8002), over a config store, a config watcher and the history
// spool.
//
//	 :8001 legacy + /v2 + /sessions/<id>      :8002 /v3
//	                └──────── api.Server ────────┘
//	reads: Watcher.Current()   writes: Store.Write → Watcher.WaitVersion
//	history: Spool.Range        live tails: TailSource (optional)
//
// The control plane is stateless: run two or more behind a load balancer.
// Sub-packages: api (routes and handlers), auth (API auth and credentials),
// session (session JSON, history lines, tails).
//
// controlplane imports frame, config, store and its own sub-packages, never
// dataplane/.
package controlplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/logplex/logplex/controlplane/api"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/store"
)

// TailSource delivers live messages to tail sessions; see session.TailSource.
type TailSource = session.TailSource

// Tail is one live subscription; see session.Tail.
type Tail = session.Tail

// TailBatch is what a Tail yields; see session.TailBatch.
type TailBatch = session.TailBatch

// Options configure a control plane. The zero value of each field means its
// default; Store, Watcher and Spool are required.
type Options struct {
	// APIAddr is the legacy + /v2 API listen address. Default ":8001".
	APIAddr string
	// V3Addr is the /v3 API listen address. Default ":8002".
	V3Addr string
	// AuthKey is LOGPLEX_AUTH_KEY, compared raw with the text after
	// "Basic ". Default "": only credentials authorise.
	AuthKey string
	// APIEndpointURL prefixes session URLs (LOGPLEX_API_ENDPOINT_URL).
	// Default "http://localhost:8001".
	APIEndpointURL string
	// HTTPV3URL prefixes v3 drain Locations. Default "http://localhost:8002".
	HTTPV3URL string

	// Store is the config store. Required.
	Store store.ConfigStore
	// Watcher follows Store; the caller runs it. Required.
	Watcher *store.Watcher
	// Spool holds channel history for sessions and v3 logs. Required.
	Spool store.Spool
	// Tails feeds live tail sessions. Default: a Tails over Bus when Bus
	// is set (tails.go), else nil: sessions end after their history.
	Tails TailSource
	// Bus is the tail bus the default Tails subscribes to. Default nil.
	Bus store.Bus
	// MaxTailSessions bounds this node's live tails (default 10000) and
	// MaxTailsPerChannel one channel's (default 100); beyond them a session
	// answers 429 with Retry-After.
	MaxTailSessions, MaxTailsPerChannel int
	// TailBuffersMaxBytes bounds the memory of every tail session's buffer
	// on this node together (TailsOptions.BuffersMaxBytes). 0 (the Options
	// default; the flag sets its own): each is bounded in messages only.
	TailBuffersMaxBytes int64
	// DrainStatus holds what data planes report about their drains, for
	// GET /v3/channels/:id/drains/:drain_id/status. Default: Store, when it
	// implements store.StatusBoard (both stores do).
	DrainStatus store.StatusBoard

	// SessionExpiry is how long a created session can be fetched. Default 360 s.
	SessionExpiry time.Duration
	// SessionLookupTimeout bounds a session lookup. Default 5 s.
	SessionLookupTimeout time.Duration
	// StoreTimeout bounds each store call of a request. Default 3 s.
	StoreTimeout time.Duration
	// WriteWait bounds the wait for a write to reach this node's config
	// snapshot (Logplex's default_redis_poll_ms). Default 2 s.
	WriteWait time.Duration
	// MaxDrainsPerChannel caps drains with a URL per channel. Default 6.
	MaxDrainsPerChannel int
	// AllowPrivateDrains allows drains to loopback, private, link-local and
	// unspecified addresses. Default false.
	AllowPrivateDrains bool
	// DrainDefaultCompression is stored on new HTTP(S) drains that name no
	// compression: "" or "none", "gzip", "zstd". Default "" (none).
	DrainDefaultCompression string
	// MaxBodyBytes caps request bodies (413 above). Default 1 MiB.
	MaxBodyBytes int64

	// Bounds against hostile tenants and clients (docs/security.md).

	// MaxTokensPerChannel caps one channel's tokens (422 above). Default 100.
	MaxTokensPerChannel int
	// MaxDrainReservationsPerChannel caps one channel's drains without a URL
	// (POST /channels/<id>/drains/tokens; 422 above). Default 20.
	MaxDrainReservationsPerChannel int
	// MaxSessionBodyBytes caps a session body (413 above). Default 4096.
	MaxSessionBodyBytes int64
	// MaxSessionsPerChannel caps the sessions one channel can create on this
	// node within SessionExpiry (429 above). Default 1000.
	MaxSessionsPerChannel int
	// MaxFetchesPerSession caps concurrent GET /sessions/<id> of one session
	// on this node (429 above). Default 4.
	MaxFetchesPerSession int
	// MaxSessionFetches caps the histories (session fetches and v3 logs)
	// this node writes at once (429 above); each holds up to num messages in memory (1500 of 10 KB:
	// 15 MB). Default 8.
	MaxSessionFetches int
	// SessionFetchWriteTimeout bounds the writing of a session's (or v3
	// logs') history, and of each tail batch after it; a client that does not read in time
	// is disconnected. Default 30 s.
	SessionFetchWriteTimeout time.Duration
	// APIReadTimeout bounds the reading of a request's header, and of its
	// body from the time the header was read. Default 10 s.
	APIReadTimeout time.Duration
	// APIIdleTimeout closes keep-alive connections idle this long. Default 2 min.
	APIIdleTimeout time.Duration
	// MaxAPIConnections caps the open connections of each API listener;
	// beyond it new connections are closed at once. Default 1024.
	MaxAPIConnections int

	// LegacyAPIStatus is "normal", "read_only" or "disabled"
	// (LEGACY_API_STATUS; anything else is normal). Default "normal".
	LegacyAPIStatus string
	// APIStatus is the v3 status, same values (API_STATUS). Default "normal".
	APIStatus string
	// DenyTailSessions makes POST /v3/sessions answer 503 and legacy
	// sessions end after their history (DENY_TAIL_SESSIONS). Default false.
	DenyTailSessions bool

	// ShutdownTimeout bounds the graceful shutdown of Run. Default 10 s.
	ShutdownTimeout time.Duration
	// Logger receives the control plane's logs. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Store == nil || o.Watcher == nil || o.Spool == nil {
		return o, errors.New("controlplane: Options.Store, Watcher and Spool are required")
	}
	if b, ok := o.Store.(store.StatusBoard); ok && o.DrainStatus == nil {
		o.DrainStatus = b
	}
	switch o.DrainDefaultCompression {
	case "none":
		o.DrainDefaultCompression = ""
	case "", "gzip", "zstd":
	default:
		return o, fmt.Errorf("controlplane: drain default compression %q: want none, gzip or zstd", o.DrainDefaultCompression)
	}
	o.APIAddr = cmp.Or(o.APIAddr, ":8001")
	o.V3Addr = cmp.Or(o.V3Addr, ":8002")
	o.APIEndpointURL = cmp.Or(o.APIEndpointURL, "http://localhost:8001")
	o.HTTPV3URL = cmp.Or(o.HTTPV3URL, "http://localhost:8002")
	o.SessionExpiry = cmp.Or(o.SessionExpiry, 360*time.Second)
	o.SessionLookupTimeout = cmp.Or(o.SessionLookupTimeout, 5*time.Second)
	o.StoreTimeout = cmp.Or(o.StoreTimeout, 3*time.Second)
	o.WriteWait = cmp.Or(o.WriteWait, 2*time.Second)
	o.MaxDrainsPerChannel = cmp.Or(o.MaxDrainsPerChannel, 6)
	o.MaxBodyBytes = cmp.Or(o.MaxBodyBytes, 1<<20)
	o.MaxTokensPerChannel = cmp.Or(o.MaxTokensPerChannel, 100)
	o.MaxDrainReservationsPerChannel = cmp.Or(o.MaxDrainReservationsPerChannel, 20)
	o.MaxSessionBodyBytes = cmp.Or(o.MaxSessionBodyBytes, 4096)
	o.MaxSessionsPerChannel = cmp.Or(o.MaxSessionsPerChannel, 1000)
	o.MaxFetchesPerSession = cmp.Or(o.MaxFetchesPerSession, 4)
	o.MaxSessionFetches = cmp.Or(o.MaxSessionFetches, 8)
	o.SessionFetchWriteTimeout = cmp.Or(o.SessionFetchWriteTimeout, 30*time.Second)
	o.APIReadTimeout = cmp.Or(o.APIReadTimeout, 10*time.Second)
	o.APIIdleTimeout = cmp.Or(o.APIIdleTimeout, 2*time.Minute)
	o.MaxAPIConnections = cmp.Or(o.MaxAPIConnections, 1024)
	o.ShutdownTimeout = cmp.Or(o.ShutdownTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.APIEndpointURL = strings.TrimSuffix(o.APIEndpointURL, "/")
	o.HTTPV3URL = strings.TrimSuffix(o.HTTPV3URL, "/")
	return o, nil
}

// ControlPlane serves the APIs on two bound listeners.
type ControlPlane struct {
	opts      Options
	legacyLn  net.Listener
	v3Ln      net.Listener
	legacySrv *http.Server
	v3Srv     *http.Server
	stopTails context.CancelFunc
	tailsCtx  context.Context
	log       *slog.Logger
	api       *api.Server
}

// SetLegacyAPIStatus switches the legacy API at run time: "normal",
// "read_only" or "disabled" (anything else is normal).
func (c *ControlPlane) SetLegacyAPIStatus(status string) {
	c.api.SetLegacyStatus(api.ParseStatus(status))
}

// SetAPIStatus switches the v3 API at run time.
func (c *ControlPlane) SetAPIStatus(status string) { c.api.SetV3Status(api.ParseStatus(status)) }

// SetDenyTailSessions is the deny_tail_sessions control rod.
func (c *ControlPlane) SetDenyTailSessions(on bool) { c.api.SetDenyTailSessions(on) }

// KillTailSessions is the kill_tail_sessions control rod: it ends every
// live tail session on this node (when Tails can, as the default does)
// and returns how many.
func (c *ControlPlane) KillTailSessions() int {
	if k, ok := c.opts.Tails.(interface{ Kill() int }); ok {
		return k.Kill()
	}
	return 0
}

// StoreWritable reports whether the config store can serve writes (a
// cached probe, shared with /v3/healthcheck): nil, or why not.
func (c *ControlPlane) StoreWritable(ctx context.Context) error { return c.api.StoreWritable(ctx) }

// New binds both listeners (so ":0" ports can be read back with APIAddr and
// V3Addr) and prepares the servers; Run serves.
func New(opts Options) (*ControlPlane, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Tails == nil && opts.Bus != nil {
		opts.Tails = NewTails(TailsOptions{Bus: opts.Bus, Store: opts.Store, Watcher: opts.Watcher, Logger: opts.Logger,
			MaxSessions: opts.MaxTailSessions, MaxPerChannel: opts.MaxTailsPerChannel, BuffersMaxBytes: opts.TailBuffersMaxBytes})
	}
	c := &ControlPlane{opts: opts, log: opts.Logger.With("component", "controlplane")}
	c.tailsCtx, c.stopTails = context.WithCancel(context.Background())
	if c.legacyLn, err = net.Listen("tcp", opts.APIAddr); err != nil {
		return nil, fmt.Errorf("controlplane: listen on API address %s: %w", opts.APIAddr, err)
	}
	if c.v3Ln, err = net.Listen("tcp", opts.V3Addr); err != nil {
		c.legacyLn.Close()
		return nil, fmt.Errorf("controlplane: listen on v3 address %s: %w", opts.V3Addr, err)
	}
	srv := api.New(c.apiConfig())
	c.api = srv
	c.legacySrv = c.newHTTPServer(srv.Legacy())
	c.v3Srv = c.newHTTPServer(srv.V3())
	c.legacyLn = newCappedListener(c.legacyLn, "legacy", opts.MaxAPIConnections)
	c.v3Ln = newCappedListener(c.v3Ln, "v3", opts.MaxAPIConnections)
	return c, nil
}

func (c *ControlPlane) apiConfig() api.Config {
	o := c.opts
	return api.Config{AuthKey: o.AuthKey, APIEndpointURL: o.APIEndpointURL, HTTPV3URL: o.HTTPV3URL,
		Store: o.Store, Watcher: o.Watcher, Spool: o.Spool, Tails: o.Tails, DrainStatus: o.DrainStatus,
		SessionExpiry: o.SessionExpiry, SessionLookupTimeout: o.SessionLookupTimeout,
		StoreTimeout: o.StoreTimeout, WriteWait: o.WriteWait,
		MaxDrainsPerChannel: o.MaxDrainsPerChannel, AllowPrivateDrains: o.AllowPrivateDrains,
		DrainDefaultCompression: o.DrainDefaultCompression, MaxBodyBytes: o.MaxBodyBytes,
		Limits: api.Limits{MaxTokensPerChannel: o.MaxTokensPerChannel,
			MaxDrainReservationsPerChannel: o.MaxDrainReservationsPerChannel,
			MaxSessionBodyBytes:            o.MaxSessionBodyBytes, MaxSessionsPerChannel: o.MaxSessionsPerChannel,
			MaxFetchesPerSession: o.MaxFetchesPerSession, MaxSessionFetches: o.MaxSessionFetches,
			FetchWriteTimeout: o.SessionFetchWriteTimeout, BodyReadTimeout: o.APIReadTimeout},
		LegacyStatus: api.ParseStatus(o.LegacyAPIStatus), V3Status: api.ParseStatus(o.APIStatus),
		DenyTailSessions: o.DenyTailSessions, Logger: c.log, Stopping: c.tailsCtx}
}

// newHTTPServer bounds the header read and idle connections here; the body
// read is bounded per request (api, APIReadTimeout), and writes per session
// fetch (SessionFetchWriteTimeout): a server-wide WriteTimeout would cut
// live tails. Accept errors (EMFILE) never stop the server: net/http
// retries them with a backoff of 5 ms to 1 s, and cappedListener counts them.
func (c *ControlPlane) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.opts.APIReadTimeout, IdleTimeout: c.opts.APIIdleTimeout,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
}

// APIAddr is the bound legacy API address.
func (c *ControlPlane) APIAddr() net.Addr { return c.legacyLn.Addr() }

// V3Addr is the bound v3 API address.
func (c *ControlPlane) V3Addr() net.Addr { return c.v3Ln.Addr() }

// Run serves until ctx ends, then stops accepting, ends live tails, lets
// in-flight requests finish (at most ShutdownTimeout) and returns. It
// returns an error only if a listener fails.
func (c *ControlPlane) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- serve(c.legacySrv, c.legacyLn) }()
	go func() { errc <- serve(c.v3Srv, c.v3Ln) }()
	c.log.Info("control plane listening", "api", c.APIAddr().String(), "v3", c.V3Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("controlplane: serve: %w", err)
	}
	c.stopTails()
	sctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownTimeout)
	defer cancel()
	err = errors.Join(err, c.legacySrv.Shutdown(sctx), c.v3Srv.Shutdown(sctx))
	return err
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

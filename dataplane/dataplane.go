// Package dataplane is the ingest and routing node: TCP syslog and
// `POST /logs` in (ingest), token lookup and rewriting on the current config
// snapshot (route), and delivery to history (store.Spool), drains and the
// tail bus (store.Bus). It follows config through a store.Watcher the
// caller runs, and never depends on the control plane.
//
//	TCP :6001 (ingest/tcp.go, gnet) ─┐                     ┌─► store.Spool.Write   history, one call per batch
//	TLS :6514 (ingest/tls.go, opt.) ─┼─► route.Batch ─Flush─┼─► drain.Buffer.PushRun per drain (drain.Manager's senders)
//	HTTP :8601 (ingest/http.go) ─────┘   (route/route.go)   ├─► store.Bus.Publish   tailed channels (route/tail.go)
//	                                                        └─► firehose channels' drains (route/firehose.go)
//
// The snapshot comes from the Watcher (store/watch.go); drain senders are
// started and stopped by drain.Manager as the snapshot's drain table changes.
//
// dataplane imports frame, ringbuf, config, store and its own subpackages;
// never controlplane.
package dataplane

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/dataplane/ingest"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store"
)

// Options configure a data plane. Zero values mean the documented defaults.
type Options struct {
	SyslogAddr        string // TCP syslog listen address; default ":6001"
	HTTPInputAddr     string // POST /logs listen address; default ":8601"
	EventLoops        int    // gnet event loops; default one per CPU
	ReadBufferCap     int    // bytes read per TCP readable event; default 64 KiB
	MaxTCPConnections int    // open syslog connections at most; default from the fd limit (ingest.DefaultMaxTCPConnections)
	// SyslogIdleTimeout and SyslogFrameTimeout: see ingest.TCPOptions
	// (defaults: never, 30 s).
	SyslogIdleTimeout, SyslogFrameTimeout time.Duration
	// SyslogReadCoalesce: see ingest.TCPOptions.ReadCoalesce (default 0: off).
	SyslogReadCoalesce time.Duration
	MaxLogsBodyBytes   int // largest /logs body (encoded and decoded); default 8 MB
	MaxHTTPConns       int // concurrent /logs connections; default 1024
	// InflightLogsBytes bounds the /logs bodies held at once (then 503 +
	// Retry-After, as above 80% of GOMEMLIMIT); default 256 MiB.
	InflightLogsBytes int64
	// LogsReadTimeout bounds reading a /logs request; default 15 s.
	LogsReadTimeout time.Duration
	// Dedup and FrameIDTTL: Logplex-Frame-Id de-duplication on /logs (see
	// ingest.HTTPOptions); nil Dedup: none.
	Dedup      store.FrameDeduper
	FrameIDTTL time.Duration
	// MaxFrameIDs: frame ids remembered per sender per FrameIDTTL (see
	// ingest.HTTPOptions); default 100000, negative: no bound.
	MaxFrameIDs int
	// StatsLog receives Logplex's per-minute "m=logplex_stats" lines; nil: off.
	StatsLog io.Writer
	// SyslogTLS is the optional syslog-over-TLS listener (Addr "": off).
	SyslogTLS ingest.TLSOptions
	// FirehoseChannels and FirehoseTokens (token names): docs/logplex.md §8.1; either
	// empty: no firehose.
	FirehoseChannels, FirehoseTokens []string

	Watcher *store.Watcher // config; the caller runs it (required)
	Spool   store.Spool    // history; nil: no history
	Drains  drain.Options  // drain knobs (zero: Logplex's defaults)
	// Bus receives the messages of tailed channels (live tail sessions);
	// nil: tails get nothing from this node.
	Bus store.Bus
	// ShutdownTimeout bounds the whole shutdown; default 10 s. Ingest gets
	// the first half to read what senders already wrote (TCP connections
	// until they are quiet for ShutdownIdle, /logs requests in flight), the
	// drains the rest to flush.
	ShutdownTimeout time.Duration
	// ShutdownIdle: TCP connections quiet this long are done (default 250 ms).
	ShutdownIdle time.Duration
	// StatusBoard receives this node's drain status every StatusInterval
	// (default 5 s) under NodeName (default hostname:pid); nil: not published.
	StatusBoard    store.StatusBoard
	StatusInterval time.Duration
	NodeName       string
	Logger         *slog.Logger // default slog.Default()
}

// DataPlane is a running ingest and routing node.
type DataPlane struct {
	opts   Options
	log    *slog.Logger
	Router *route.Router
	Drains *drain.Manager
	tcp    *ingest.TCP
	http   *ingest.HTTP
	tls    *ingest.TLS // nil: no TLS listener
}

// New builds the data plane and binds the HTTP listener (the TCP listener
// binds in Run; wait on SyslogReady before reading SyslogAddr).
func New(opts Options) (*DataPlane, error) {
	if opts.Watcher == nil {
		return nil, errors.New("dataplane: Options.Watcher is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 5 * time.Second
	}
	if opts.NodeName == "" {
		host, _ := os.Hostname()
		opts.NodeName = host + ":" + strconv.Itoa(os.Getpid())
	}
	log := opts.Logger.With("plane", "data")
	d := &DataPlane{opts: opts, log: log}
	if opts.Drains.Logger == nil {
		opts.Drains.Logger = log
	}
	var router *route.Router
	opts.Drains.Notify = func(ch string, msg []byte) { router.Notice(ch, msg) }
	opts.Drains.TokenNamed = func(ch, name string) string {
		if c := opts.Watcher.Current().Channel(ch); c != nil {
			for _, t := range c.Tokens {
				if t.Name == name {
					return t.ID
				}
			}
		}
		return ""
	}
	d.Drains = drain.NewManager(opts.Drains)
	router = route.New(opts.Watcher.Current, opts.Spool, d.Drains)
	router.SetFirehose(route.NewFirehose(opts.FirehoseChannels, opts.FirehoseTokens))
	router.SetBus(opts.Bus)
	d.Router = router
	d.tcp = ingest.NewTCP(ingest.TCPOptions{Addr: opts.SyslogAddr, EventLoops: opts.EventLoops,
		ReadBufferCap: opts.ReadBufferCap, MaxConnections: opts.MaxTCPConnections,
		IdleTimeout: opts.SyslogIdleTimeout, FrameTimeout: opts.SyslogFrameTimeout, ReadCoalesce: opts.SyslogReadCoalesce,
		DrainIdle: opts.ShutdownIdle, DrainTimeout: opts.ShutdownTimeout / 2}, d.Router, log)
	h, err := ingest.NewHTTP(ingest.HTTPOptions{Addr: opts.HTTPInputAddr, MaxBodyBytes: opts.MaxLogsBodyBytes,
		MaxConnections: opts.MaxHTTPConns, InflightBudget: opts.InflightLogsBytes, ReadTimeout: opts.LogsReadTimeout,
		Dedup: opts.Dedup, FrameIDTTL: opts.FrameIDTTL, MaxFrameIDs: opts.MaxFrameIDs,
		ShutdownTimeout: opts.ShutdownTimeout / 2}, d.Router, opts.Watcher.Ready, log)
	if err != nil {
		return nil, err
	}
	d.http = h
	if opts.SyslogTLS.Addr != "" {
		opts.SyslogTLS.DrainIdle, opts.SyslogTLS.DrainTimeout = opts.ShutdownIdle, opts.ShutdownTimeout/2
		if d.tls, err = ingest.NewTLS(opts.SyslogTLS, d.Router, log); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SyslogTLSAddr is the bound syslog-over-TLS address, or nil.
func (d *DataPlane) SyslogTLSAddr() net.Addr {
	if d.tls == nil {
		return nil
	}
	return d.tls.Addr()
}

// ReloadTLS re-reads the TLS listener's certificate (SIGHUP); the old one
// stays on failure.
func (d *DataPlane) ReloadTLS() error {
	if d.tls == nil {
		return nil
	}
	return d.tls.Reload()
}

// HTTPAddr is the bound /logs address.
func (d *DataPlane) HTTPAddr() net.Addr { return d.http.Addr() }

// SyslogReady is closed once the TCP syslog listener accepts connections.
func (d *DataPlane) SyslogReady() <-chan struct{} { return d.tcp.Ready() }

// SyslogAddr is the bound TCP syslog address (valid after SyslogReady).
func (d *DataPlane) SyslogAddr() net.Addr { return d.tcp.Addr() }

// SetDenyLogsIngress sets the deny_logs_ingress control rod.
func (d *DataPlane) SetDenyLogsIngress(on bool) { d.http.DenyLogsIngress.Store(on) }

// Run serves until ctx ends; it returns the first listener error. On the
// way out it drains ingest first (ShutdownTimeout/2 at most: see
// Options.ShutdownTimeout), then lets every drain flush what it holds until
// ShutdownTimeout after the start of the shutdown, and logs what was
// discarded and what the drains could not deliver.
func (d *DataPlane) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follow := make(chan struct{})
	go func() { defer close(follow); d.followDrains(ctx) }()
	go d.publishStatus(ctx)
	if d.opts.StatsLog != nil {
		go d.logStats(ctx, d.opts.StatsLog)
	}
	listeners := []func(context.Context) error{d.tcp.Run, d.http.Run}
	if d.tls != nil {
		listeners = append(listeners, d.tls.Run)
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errc <- l(ctx) }()
	}
	err := <-errc
	cancel()
	start := time.Now()
	for range len(listeners) - 1 {
		if err2 := <-errc; err == nil {
			err = err2
		}
	}
	<-follow
	read := time.Since(start)
	sctx, scancel := context.WithDeadline(context.Background(), start.Add(d.opts.ShutdownTimeout))
	defer scancel()
	undelivered := d.Drains.Close(sctx)
	disc := d.tcp.Discarded()
	bytes, frames := disc.Bytes.Load(), disc.Frames.Load()
	if d.tls != nil {
		bytes += d.tls.Discarded().Bytes.Load()
	}
	d.log.Info("data plane stopped", "ingest_drained_in", read.String(), "took", time.Since(start).String(),
		"discarded_bytes", bytes, "discarded_frames", frames, "refused_connections", disc.Conns.Load(),
		"drains_undelivered", undelivered)
	return err
}

// followDrains keeps the running drains in line with each new snapshot, on
// its own goroutine: stopping a drain may take its flush time.
func (d *DataPlane) followDrains(ctx context.Context) {
	for {
		changed := d.opts.Watcher.Changed()
		d.Drains.Update(d.opts.Watcher.Current())
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

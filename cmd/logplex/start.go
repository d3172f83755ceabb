package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/dataplane"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/dataplane/ingest"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

// stores are the backends a role runs on.
type stores struct {
	config store.ConfigStore
	spool  store.Spool
	bus    store.Bus // live tails: in-process (embedded) or Redis pub/sub
	desc   string
}

func openStores(ctx context.Context, role string, s *settings) (*stores, error) {
	if s.configRedisURL != "" {
		return openRedisStores(ctx, s)
	}
	if role != "all" {
		return nil, fmt.Errorf("logplex %s needs Redis: set --config-redis-url or LOGPLEX_CONFIG_REDIS_URL "+
			"(only `logplex all` runs on the embedded store)", role)
	}
	cfg, err := embedded.OpenConfig(s.dataDir)
	if err != nil {
		return nil, err
	}
	sp := embedded.NewSpool(s.logHistory, time.Duration(s.redisBufferExpiry)*time.Second)
	return &stores{config: cfg, spool: sp, bus: embedded.NewBus(), desc: "embedded store in " + s.dataDir}, nil
}

// start runs the role until ctx ends.
func start(ctx context.Context, role string, s *settings, stdout io.Writer, log *slog.Logger, hup *reloader) error {
	if err := portsFree(listenAddrs(role, s)); err != nil {
		return err
	}
	st, err := openStores(ctx, role, s)
	if err != nil {
		return err
	}
	defer st.config.Close()
	defer st.spool.Close()
	defer st.bus.Close()
	adm, err := newAdmin(s.adminAddr, adminOptions{token: s.adminToken, allowedHosts: config.SplitList(s.adminAllowedHosts)}, log)
	if err != nil {
		return err
	}
	watcher := store.NewWatcher(st.config, s.resyncInterval, nil)
	watcher.SetGuard(s.configGuard.guard())
	watcher.SetFullResync(s.fullResync)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watcher.Run(ctx)

	var runners []func(context.Context) error
	var b banner
	b.role, b.store, b.admin = role, st.desc, adm.addr()
	if role == "all" || role == "dataplane" {
		dp, err := newDataPlane(s, watcher, st, log)
		if err != nil {
			return err
		}
		runners = append(runners, dp.Run)
		b.dp = dp
		hup.dp.Store(dp)
	}
	if role == "all" || role == "controlplane" {
		cp, err := newControlPlane(s, watcher, st, log)
		if err != nil {
			return err
		}
		runners = append(runners, cp.Run)
		b.cp = cp
	}
	rods := newRods(s, b.dp, b.cp, st.config, watcher)
	hl := &health{watcher: watcher, cp: b.cp}
	if adm != nil {
		rods.Register(adm.mux)
		hl.register(adm.mux)
	}
	go rods.Follow(ctx)
	b.authKey = s.authKey
	runners = append(runners, adm.run)
	ready := func() error {
		if role == "all" && s.authKey == "" {
			var err error
			if b.credID, b.credPass, b.credNew, err = bootstrapCredential(ctx, st.config, watcher, s.dataDir, log); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while the store did not answer
				}
				return err
			}
			b.credFile = filepath.Join(s.dataDir, "bootstrap-credential")
		}
		// The banner's credential must work when it is printed: wait for the
		// snapshot that holds it (on Redis the write reaches the watcher
		// through the change feed a moment later).
		waitReady(ctx, watcher, 10*time.Second, log, func(snap *config.Snapshot) bool {
			return b.credID == "" || snap.Cred(b.credID) != nil
		})
		if ctx.Err() != nil {
			return nil
		}
		b.print(stdout)
		// ready only now: tools (e2e, bench) read the banner's credential
		// once /readyz says ok
		hl.started.Store(true)
		return nil
	}
	return runAll(ctx, cancel, runners, ready, b.dp, s.shutdownTimeout, log)
}

// runAll runs every runner, and onReady once the data plane's syslog
// listener is up (beside them: it may wait for the config store); the first
// error of either (or ctx's end) stops them all, and they get the shutdown
// timeout to finish.
func runAll(ctx context.Context, cancel context.CancelFunc, runners []func(context.Context) error,
	onReady func() error, dp *dataplane.DataPlane, shutdown time.Duration, log *slog.Logger) error {
	errc := make(chan error, len(runners))
	for _, r := range runners {
		go func() { errc <- r(ctx) }()
	}
	pending := len(runners)
	var first error
	if dp != nil {
		select {
		case <-dp.SyslogReady():
		case first = <-errc:
			pending--
		}
	}
	if first == nil {
		readyErr := make(chan error, 1)
		go func() { readyErr <- onReady() }()
	wait:
		for {
			select {
			case first = <-errc:
				pending--
				break wait
			case err := <-readyErr: // once
				if err != nil {
					first = err
					break wait
				}
			case <-ctx.Done():
				break wait
			}
		}
	}
	log.Info("shutting down", "timeout", shutdown)
	cancel()
	deadline := time.After(shutdown + 2*time.Second) // the planes bound their own work by shutdown
	for ; pending > 0; pending-- {
		select {
		case err := <-errc:
			if first == nil && !errors.Is(err, context.Canceled) {
				first = err
			}
		case <-deadline:
			return errors.Join(first, fmt.Errorf("shutdown took longer than %s", shutdown))
		}
	}
	return first
}

// reserveP returns the number of TCP event loops and makes sure one P is
// left over when they all wait. A gnet event loop waits in epoll_wait, a
// raw syscall that keeps the loop's P; with every P held that way, nothing
// but sysmon polls Go's own network poller, where the drain senders wait
// for their endpoints, and on a quiet process sysmon looks only every
// 10 ms: an HTTP drain's response then waited up to 10 ms
// (tcp-to-http-drain@50k: p99 10.9-11.7 ms whenever the loops held every P,
// 0.8-1.4 ms with one P spare; docs/tuning.md).
//
// Unless GOMAXPROCS is set in the environment it becomes one more than the
// loops (loops: --event-loops, or GOMAXPROCS's default, one per CPU). When
// it is set, it is kept, and the default loop count is one less (at least
// one).
func reserveP(loops int, log *slog.Logger) int {
	procs := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		if loops <= 0 {
			loops = max(1, procs-1)
		}
		return loops
	}
	if loops <= 0 {
		loops = procs
	}
	if procs <= loops {
		runtime.GOMAXPROCS(loops + 1)
		log.Debug("GOMAXPROCS raised for a P the event loops do not hold", "event_loops", loops, "gomaxprocs", loops+1)
	}
	return loops
}

func newDataPlane(s *settings, w *store.Watcher, st *stores, log *slog.Logger) (*dataplane.DataPlane, error) {
	sp, cs := st.spool, st.config
	board, _ := cs.(store.StatusBoard)
	var dedup store.FrameDeduper
	if d, ok := cs.(store.FrameDeduper); ok && s.frameIDTTL > 0 {
		dedup = d
	}
	dp, err := dataplane.New(dataplane.Options{
		SyslogAddr: s.syslogAddr, HTTPInputAddr: s.httpInputAddr, EventLoops: reserveP(s.eventLoops, log),
		ReadBufferCap: s.readBufferCap, MaxTCPConnections: tcpConnCap(s.maxTCPConnections, log),
		MaxLogsBodyBytes: s.maxLogsBodyBytes, MaxHTTPConns: s.httpLogInputMaxConns, InflightLogsBytes: s.maxInflightLogsBytes,
		LogsReadTimeout: s.logsReadTimeout, SyslogIdleTimeout: s.syslogIdleTimeout, SyslogFrameTimeout: never(s.syslogFrameTimeout),
		SyslogReadCoalesce: s.syslogReadCoalesce,
		Watcher:            w, Spool: sp, Bus: st.bus, Logger: log, Drains: drainOptions(s, log), ShutdownTimeout: s.shutdownTimeout,
		ShutdownIdle: s.shutdownIdle,
		StatusBoard:  board, StatusInterval: s.statusInterval, Dedup: dedup, FrameIDTTL: s.frameIDTTL, MaxFrameIDs: zeroToNegative(s.maxFrameIDsPerSender),
		FirehoseChannels: config.SplitList(s.firehoseChannelIDs), FirehoseTokens: config.SplitList(s.firehoseFilterTokens),
		StatsLog:  statsWriter(s, log),
		SyslogTLS: ingest.TLSOptions{Addr: s.syslogTLSAddr, CertFile: s.syslogTLSCert, KeyFile: s.syslogTLSKey},
	})
	if err != nil {
		return nil, err
	}
	return dp, nil
}

func newControlPlane(s *settings, w *store.Watcher, st *stores, log *slog.Logger) (*controlplane.ControlPlane, error) {
	tailBudget := buffersBudget(s.tailBuffersMaxBytes, debug.SetMemoryLimit(-1), 4)
	if tailBudget != s.tailBuffersMaxBytes {
		log.Info("tail buffer budget lowered to a quarter of GOMEMLIMIT", "tail_buffers_max_bytes", tailBudget, "flag", s.tailBuffersMaxBytes)
	}
	return controlplane.New(controlplane.Options{
		APIAddr: s.apiAddr, V3Addr: s.apiV3Addr, AuthKey: s.authKey,
		APIEndpointURL: defaultURL(s.apiEndpointURL, s.apiAddr), HTTPV3URL: defaultURL(s.httpV3URL, s.apiV3Addr),
		Store: st.config, Watcher: w, Spool: st.spool, Bus: st.bus,
		SessionExpiry:        time.Duration(s.sessionExpiryS) * time.Second,
		SessionLookupTimeout: time.Duration(s.sessionLookupTimeout) * time.Second,
		MaxDrainsPerChannel:  s.maxDrainsPerChannel, AllowPrivateDrains: s.allowPrivateDrains,
		LegacyAPIStatus: s.legacyAPIStatus, APIStatus: s.apiStatus, DenyTailSessions: s.denyTailSessions,
		MaxTailSessions: s.maxTailSessions, MaxTailsPerChannel: s.maxTailsPerChannel, TailBuffersMaxBytes: tailBudget,
		MaxTokensPerChannel: s.maxTokensPerChannel, MaxDrainReservationsPerChannel: s.maxDrainReservationsPerChannel,
		MaxSessionBodyBytes: s.maxSessionBodyBytes, MaxSessionsPerChannel: s.maxSessionsPerChannel,
		MaxFetchesPerSession: s.maxFetchesPerSession, MaxSessionFetches: s.maxSessionFetches,
		SessionFetchWriteTimeout: s.sessionFetchWriteTimeout, APIReadTimeout: s.apiReadTimeout,
		APIIdleTimeout: s.apiIdleTimeout, MaxAPIConnections: s.maxAPIConnections,
		DrainDefaultCompression: s.httpDrainCompression, ShutdownTimeout: s.shutdownTimeout, Logger: log,
	})
}

// defaultURL is url, or http://localhost:<port of addr>.
func defaultURL(url, addr string) string {
	if url != "" {
		return url
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return url
	}
	if _, err := strconv.Atoi(port); err != nil || port == "0" {
		return url
	}
	return "http://localhost:" + port
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func drainOptions(s *settings, log *slog.Logger) drain.Options {
	budget := buffersBudget(s.drainBuffersMaxBytes, debug.SetMemoryLimit(-1), 2)
	if budget != s.drainBuffersMaxBytes {
		log.Info("drain buffer budget lowered to half of GOMEMLIMIT", "drain_buffers_max_bytes", budget, "flag", s.drainBuffersMaxBytes)
	}
	return drain.Options{
		HTTPBufferSize: s.httpDrainBufferSize, HTTPTargetBytes: s.httpDrainTargetBytes, HTTPBatchAge: s.httpDrainBatchAge, HTTPBatchWindow: s.httpDrainBatchWindow, HTTPSparseWindow: s.httpDrainSparseWindow,
		HTTPFrameRetries: retries(s.httpFrameRetries), HTTPIdleTimeout: ms(s.httpDrainIdleTimeoutMs),
		HTTPIdleFuzz: ms(s.httpDrainIdleFuzzMs), HTTPMaxTTL: ms(s.httpDrainMaxTTLMs),
		HTTPShrinkTimeout: ms(s.httpDrainShrinkTimeoutMs), HTTPReconnectTime: ms(s.httpReconnectTimeMs),
		DefaultCompression: strings.TrimPrefix(s.httpDrainCompression, "none"), HTTP2: s.httpDrainHTTP2,
		TCPBufferSize: s.tcpDrainBufferSize, TCPTargetBytes: s.tcpDrainTargetBytes, TCPBatchAge: s.tcpDrainBatchAge, TCPBatchWindow: s.tcpDrainBatchWindow, TCPSparseWindow: s.tcpDrainSparseWindow,
		TCPShrinkAfter: s.tcpSyslogShrinkAfter, TCPBackoffMax: time.Duration(s.tcpSyslogBackoffMaxS) * time.Second,
		TCPReconnectMin: time.Duration(s.tcpSyslogReconnectMinS) * time.Second,
		TCPSendTimeout:  time.Duration(s.tcpSyslogSendTimeoS) * time.Second,
		TCPIdleTimeout:  ms(s.tcpSyslogIdleTimeoutMs), TCPIdleFuzz: ms(s.tcpSyslogIdleFuzzMs), TCPMaxTTL: ms(s.tcpSyslogMaxTTLMs),
		TCPDontSendLoss: s.tcpSyslogSendLossMsg == "dont_send", TLSCAFile: s.tlsCACertFile,
		TLSPinnedCerts: s.tlsPinnedCerts, TLSInsecure: s.tlsMode == "insecure", TLSMaxDepth: s.tlsMaxDepth,
		AllowPrivateDrains: s.allowPrivateDrains, MaxDrainSeries: zeroToNegative(s.maxDrainMetricSeries),
		UserAgent:       "Logplex/" + version,
		BuffersMaxBytes: budget,
		Spill: drain.SpillOptions{Dir: s.drainSpillDir, MaxBytes: s.drainSpillMaxBytes, DrainMaxBytes: s.drainSpillDrainMaxBytes,
			Sync: s.drainSpillFsync, All: s.drainSpillAll},
	}
}

// buffersBudget is a budget flag (--drain-buffers-max-bytes,
// --tail-buffers-max-bytes; 0: none), at most the part of the Go memory
// limit it may take (memLimit/part; memLimit is math.MaxInt64 when
// GOMEMLIMIT is unset). In one process (logplex all) the drains take at
// most half of the limit and the tails a quarter.
func buffersBudget(flag, memLimit, part int64) int64 {
	if flag > 0 && memLimit < math.MaxInt64 {
		return min(flag, memLimit/part)
	}
	return flag
}

// retries maps the flag (0 allowed) to drain.Options (0 means default there).
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// waitReady waits (at most max) for a config snapshot for which holds is
// true, so the banner means "ready"; a store that stays unreachable is
// logged, not fatal.
func waitReady(ctx context.Context, w *store.Watcher, max time.Duration, log *slog.Logger, holds func(*config.Snapshot) bool) {
	deadline := time.Now().Add(max)
	for snap := w.Current(); snap == nil || !holds(snap); snap = w.Current() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			if snap == nil {
				log.Warn("config not loaded yet; APIs answer 503 SYSTEM BOOTING until it is")
			} else {
				log.Warn("config loaded, but the bootstrap credential has not arrived in it yet: it may answer 401 for a moment")
			}
			return
		}
		select {
		case <-w.Changed():
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

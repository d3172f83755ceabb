package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// settings are every flag of the serving subcommands. Each flag falls back to
// the environment: LOGPLEX_<NAME_WITH_UNDERSCORES>, then the Logplex name in
// envAliases. A flag given on the command line wins.
type settings struct {
	// listeners
	syslogAddr, httpInputAddr, apiAddr, apiV3Addr, adminAddr string
	adminToken, adminAllowedHosts                            string
	dataDir                                                  string
	// identity and URLs
	authKey, apiEndpointURL, httpV3URL string
	configRedisURL, shardURLs          string
	redisCluster                       bool
	// history and sessions
	logHistory           int
	redisBufferExpiry    int
	redisBufferLength    int
	historyBatchBytes    int
	historyBatchMessages int
	historyBatchAge      time.Duration
	historyWriters       int
	historyQueueBytes    int
	sessionExpiryS       int
	sessionLookupTimeout int
	// api
	maxDrainsPerChannel        int
	allowPrivateDrains         bool
	legacyAPIStatus, apiStatus string
	// ingest
	eventLoops, readBufferCap, maxTCPConnections int
	maxLogsBodyBytes, httpLogInputMaxConns       int
	maxInflightLogsBytes                         int64
	syslogIdleTimeout, syslogFrameTimeout        time.Duration
	syslogReadCoalesce                           time.Duration
	// drains (Logplex's keys and units)
	httpDrainBufferSize, httpDrainTargetBytes, httpFrameRetries       int
	httpDrainIdleTimeoutMs, httpDrainIdleFuzzMs, httpDrainMaxTTLMs    int
	httpDrainShrinkTimeoutMs, httpReconnectTimeMs                     int
	httpDrainCompression                                              string
	httpDrainHTTP2                                                    string
	httpDrainBatchAge, tcpDrainBatchAge                               time.Duration
	httpDrainBatchWindow, tcpDrainBatchWindow                         time.Duration
	httpDrainSparseWindow, tcpDrainSparseWindow                       time.Duration
	tcpDrainBufferSize, tcpDrainTargetBytes, tcpSyslogShrinkAfter     int
	tcpSyslogBackoffMaxS, tcpSyslogReconnectMinS, tcpSyslogSendTimeoS int
	tcpSyslogIdleTimeoutMs, tcpSyslogIdleFuzzMs, tcpSyslogMaxTTLMs    int
	tcpSyslogSendLossMsg, tlsCACertFile, tlsPinnedCerts, tlsMode      string
	tlsMaxDepth                                                       int
	maxDrainMetricSeries                                              int
	// the disk spill of drain buffers (an extension)
	drainSpillDir, drainSpillFsync              string
	drainSpillMaxBytes, drainSpillDrainMaxBytes int64
	drainBuffersMaxBytes                        int64
	drainSpillAll                               bool
	// control rods at boot
	denyTailSessions, denyLogsIngress, denyRedisBuffers bool
	// process
	resyncInterval time.Duration
	fullResync     time.Duration
	statusInterval time.Duration
	configGuard    guardFlag // --config-shrink-guard (configcmd.go)
	// syslog over TLS ingest (extension)
	syslogTLSAddr, syslogTLSCert, syslogTLSKey string
	// firehose (docs/logplex.md §8.1)
	firehoseChannelIDs, firehoseFilterTokens string
	disableFirehose                          bool
	frameIDTTL                               time.Duration
	maxFrameIDsPerSender                     int
	shutdownTimeout                          time.Duration
	shutdownIdle                             time.Duration
	logLevel, logLevelFile                   string
	logFormat                                string
	statsLog                                 bool
	maxTailSessions, maxTailsPerChannel      int
	tailBuffersMaxBytes                      int64
	logsReadTimeout                          time.Duration
	// API bounds against hostile tenants and clients (docs/security.md)
	maxTokensPerChannel, maxDrainReservationsPerChannel int
	maxSessionBodyBytes                                 int64
	maxSessionsPerChannel, maxFetchesPerSession         int
	maxSessionFetches, maxAPIConnections                int
	sessionFetchWriteTimeout                            time.Duration
	apiReadTimeout, apiIdleTimeout                      time.Duration
}

// envAliases are Logplex's own environment names for flags whose
// LOGPLEX_<NAME> form differs (docs/logplex.md §9).
var envAliases = map[string]string{
	"legacy-api-status":              "LEGACY_API_STATUS",
	"api-status":                     "API_STATUS",
	"http-log-input-max-connections": "HTTP_LOG_INPUT_MAX_CONNECTIONS",
	"deny-tail-sessions":             "DENY_TAIL_SESSIONS",
	"deny-logs-ingress":              "DENY_LOGS_INGRESS",
	"deny-redis-buffers":             "DENY_REDIS_BUFFERS",
	"firehose-channel-ids":           "FIREHOSE_CHANNEL_IDS",
	"firehose-filter-tokens":         "FIREHOSE_FILTER_TOKENS",
	"disable-firehose":               "DISABLE_FIREHOSE",
}

func envName(flagName string) string {
	return "LOGPLEX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newFlagSet(name string, s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&s.syslogAddr, "syslog-addr", ":6001", "TCP syslog (octet-counted RFC 6587) listen address")
	fs.StringVar(&s.httpInputAddr, "http-input-addr", ":8601", "HTTP log input (POST /logs, GET /healthcheck) listen address")
	fs.StringVar(&s.apiAddr, "api-addr", ":8001", "legacy + /v2 API and /sessions listen address")
	fs.StringVar(&s.apiV3Addr, "api-v3-addr", ":8002", "/v3 API listen address")
	fs.StringVar(&s.adminAddr, "admin-addr", "127.0.0.1:5565", "admin listen address (/metrics, /debug/pprof, /control-rods); logplex controlplane defaults to 127.0.0.1:5566; empty disables")
	fs.StringVar(&s.adminToken, "admin-token", "", "bearer token the admin address requires for writes (POST /control-rods/…); empty: none (prefer the environment variable)")
	fs.StringVar(&s.adminAllowedHosts, "admin-allowed-hosts", "", "comma-separated host names the admin address accepts in Host, beside IP addresses and localhost (others are refused: DNS rebinding)")
	fs.StringVar(&s.dataDir, "data-dir", "./data", "embedded store directory (config survives restarts here)")
	fs.StringVar(&s.authKey, "auth-key", "", "API master key, compared raw with the Basic value (Logplex's LOGPLEX_AUTH_KEY)")
	fs.StringVar(&s.apiEndpointURL, "api-endpoint-url", "", "prefix of session URLs (default: http://localhost:<api port>)")
	fs.StringVar(&s.httpV3URL, "http-v3-url", "", "prefix of v3 drain Location headers (default: http://localhost:<v3 port>)")
	fs.StringVar(&s.configRedisURL, "config-redis-url", "", "config Redis URL; empty: embedded store (logplex all only)")
	fs.StringVar(&s.shardURLs, "shard-urls", "", "comma-separated history Redis shard URLs (default: the config Redis)")
	fs.BoolVar(&s.redisCluster, "redis-cluster", false, "treat the Redis URLs as a Redis Cluster")
	fs.IntVar(&s.logHistory, "log-history", 1500, "history messages kept per channel")
	fs.IntVar(&s.redisBufferExpiry, "redis-buffer-expiry", 604800, "seconds a channel's history lives after its last write")
	fs.IntVar(&s.redisBufferLength, "redis-buffer-length", 2000, "history write queue per shard, in batches (full: dropped and counted)")
	fs.IntVar(&s.historyBatchBytes, "history-batch-bytes", 256<<10, "Redis history: a writer sends its pipeline once this many message bytes are queued")
	fs.IntVar(&s.historyBatchMessages, "history-batch-messages", 5000, "Redis history: a writer sends its pipeline once this many messages are queued")
	fs.DurationVar(&s.historyBatchAge, "history-batch-age", 50*time.Millisecond, "Redis history: a writer sends its pipeline once the oldest queued message is this old (plus up to as much jitter)")
	fs.IntVar(&s.historyWriters, "history-writers", 1, "Redis history: writers per shard, each with its own connection and one pipeline in flight (channels keep their order)")
	fs.IntVar(&s.historyQueueBytes, "history-queue-bytes", 64<<20, "Redis history: message bytes queued per writer at most (beyond: dropped and counted)")
	fs.IntVar(&s.sessionExpiryS, "session-expiry-s", 360, "seconds a created session can be fetched")
	fs.IntVar(&s.sessionLookupTimeout, "session-lookup-timeout-s", 5, "seconds a session fetch waits for the session to appear")
	fs.IntVar(&s.maxDrainsPerChannel, "max-drains-per-channel", 6, "drains (with a URL) per channel")
	fs.BoolVar(&s.allowPrivateDrains, "allow-private-drains", false, "allow drains to loopback, private, link-local and every other address the IANA special-purpose registries mark not globally reachable (CGNAT, benchmarking, …)")
	fs.StringVar(&s.legacyAPIStatus, "legacy-api-status", "normal", "legacy API status: normal, read_only or disabled")
	fs.StringVar(&s.apiStatus, "api-status", "normal", "v3 API status: normal, read_only or disabled")
	fs.IntVar(&s.eventLoops, "event-loops", 0, "TCP ingest event loops (0: one per CPU, GOMAXPROCS one more; with GOMAXPROCS set, one less than it)")
	fs.IntVar(&s.readBufferCap, "read-buffer-cap", 64<<10, "bytes read per TCP readable event (one buffer per event loop; a connection keeps only an incomplete frame)")
	fs.IntVar(&s.maxTCPConnections, "max-tcp-connections", 0, "open syslog TCP connections at most (0: what the file descriptor limit allows: RLIMIT_NOFILE - 256, at least half of it, at most 100000)")
	fs.DurationVar(&s.syslogIdleTimeout, "syslog-idle-timeout", 0, "close a syslog TCP connection that sends nothing for this long (0: never, as Logplex)")
	fs.DurationVar(&s.syslogReadCoalesce, "syslog-read-coalesce", 2*time.Millisecond, "let a syslog TCP connection that sends a steady stream of small writes gather about this long of them in the kernel before it is read (its receive low-water mark; a quiet connection is read within about three times this; 0: read as soon as anything arrives)")
	fs.DurationVar(&s.syslogFrameTimeout, "syslog-frame-timeout", 30*time.Second, "close a syslog TCP connection that holds an incomplete frame and completes none for this long (0: never)")
	fs.IntVar(&s.maxLogsBodyBytes, "max-logs-body-bytes", 8_000_000, "largest POST /logs body, encoded and decoded (larger: 413)")
	fs.Int64Var(&s.maxInflightLogsBytes, "max-inflight-logs-bytes", 256<<20, "POST /logs body bytes held at once; beyond it, or above 80% of GOMEMLIMIT, 503 with Retry-After")
	fs.IntVar(&s.httpLogInputMaxConns, "http-log-input-max-connections", 1024, "concurrent POST /logs connections")
	fs.IntVar(&s.httpDrainBufferSize, "http-drain-buffer-size", 8192, "messages buffered per HTTP drain (drop-oldest; Logplex: 1024); the node's drain buffers together are bounded by --drain-buffers-max-bytes")
	fs.IntVar(&s.httpDrainTargetBytes, "http-drain-target-bytes", 102400, "HTTP drain POST body target size")
	fs.DurationVar(&s.httpDrainBatchAge, "http-drain-batch-age", 0, "space an HTTP drain's requests at least this far apart unless the target bytes are buffered (0: send as soon as the previous one is answered, as Logplex)")
	fs.DurationVar(&s.httpDrainBatchWindow, "http-drain-batch-window", 40*time.Millisecond, "let the messages of an idle HTTP drain that sent within the last 4 windows gather this long before its next request, unless the target bytes are buffered (0: send at once, as Logplex; lowest latency)")
	fs.DurationVar(&s.httpDrainSparseWindow, "http-drain-sparse-window", 0, "with a batch window, let a message that finds an HTTP drain idle with sparse traffic (nothing sent within the last 4 windows) wait this long for others before its request (0: send at once, as Logplex)")
	fs.IntVar(&s.httpFrameRetries, "http-frame-retries", 2, "extra attempts per HTTP drain frame")
	fs.IntVar(&s.httpDrainIdleTimeoutMs, "http-drain-idle-timeout", 144000, "ms without delivery before an HTTP drain closes its connection")
	fs.IntVar(&s.httpDrainIdleFuzzMs, "http-drain-idle-fuzz", 15000, "ms of random addition to the HTTP drain idle timer")
	fs.IntVar(&s.httpDrainMaxTTLMs, "http-drain-max-ttl", 18000000, "ms an HTTP drain connection lives at most")
	fs.IntVar(&s.httpDrainShrinkTimeoutMs, "http-drain-shrink-timeout", 300000, "ms of failure before an HTTP drain buffer shrinks to 10")
	fs.IntVar(&s.httpReconnectTimeMs, "http-reconnect-time", 10, "ms, HTTP drain reconnect backoff unit")
	fs.StringVar(&s.httpDrainHTTP2, "http-drain-http2", "tls", "HTTP drains to the same receiver share HTTP/2 connections where it speaks HTTP/2: off, tls (https drains whose receiver selects h2 by ALPN; the default) or all (http drains too, cleartext with prior knowledge; a receiver that does not answer it gets HTTP/1.1)")
	fs.StringVar(&s.httpDrainCompression, "http-drain-compression", "", "default compression of HTTP drains created without one: none, gzip or zstd")
	fs.IntVar(&s.tcpDrainBufferSize, "tcp-drain-buffer-size", 8192, "messages buffered per syslog drain (drop-oldest; Logplex: 1024); the node's drain buffers together are bounded by --drain-buffers-max-bytes")
	fs.IntVar(&s.tcpDrainTargetBytes, "tcp-drain-target-bytes", 4096, "bytes per syslog drain write")
	fs.DurationVar(&s.tcpDrainBatchAge, "tcp-drain-batch-age", 0, "space a syslog drain's writes at least this far apart unless the target bytes are buffered (0: write as soon as anything is buffered)")
	fs.DurationVar(&s.tcpDrainBatchWindow, "tcp-drain-batch-window", 20*time.Millisecond, "let the messages of an idle syslog drain that wrote within the last 4 windows gather this long before its next write, unless the target bytes are buffered (0: write at once, as Logplex; lowest latency)")
	fs.DurationVar(&s.tcpDrainSparseWindow, "tcp-drain-sparse-window", 0, "with a batch window, let a message that finds a syslog drain idle with sparse traffic (nothing written within the last 4 windows) wait this long for others before its write (0: write at once, as Logplex)")
	fs.IntVar(&s.tcpSyslogShrinkAfter, "tcp-syslog-shrink-after", 10, "failures before a full syslog drain buffer shrinks to 10")
	fs.IntVar(&s.tcpSyslogBackoffMaxS, "tcp-syslog-backoff-max", 300, "s, syslog drain reconnect backoff cap")
	fs.IntVar(&s.tcpSyslogReconnectMinS, "tcp-syslog-reconnect-min", 30, "s, minimum gap before reconnecting after a clean close")
	fs.IntVar(&s.tcpSyslogSendTimeoS, "tcp-syslog-send-timeout-secs", 4, "s, syslog drain connect and write timeout")
	fs.IntVar(&s.tcpSyslogIdleTimeoutMs, "tcp-syslog-idle-timeout", 240000, "ms without writes before a syslog drain closes its connection")
	fs.IntVar(&s.tcpSyslogIdleFuzzMs, "tcp-syslog-idle-fuzz", 15000, "ms of random addition to the syslog drain idle timer")
	fs.IntVar(&s.tcpSyslogMaxTTLMs, "tcp-syslog-max-ttl", 18000000, "ms a syslog drain connection lives at most")
	fs.StringVar(&s.tcpSyslogSendLossMsg, "tcp-syslog-send-loss-msg", "send", "send or dont_send the L10 line on syslog drains")
	fs.StringVar(&s.tlsCACertFile, "tls-cacertfile", "", "CA bundle for TLS drains (default: system roots)")
	fs.StringVar(&s.tlsPinnedCerts, "tls-pinned-certs", "", "PEM of pinned certificates trusted as CAs for TLS drains")
	fs.Int64Var(&s.drainBuffersMaxBytes, "drain-buffers-max-bytes", 512<<20, "bytes the buffers of all the drains of a data plane (HTTP, syslog, OTLP) may hold together, at most half of GOMEMLIMIT when that is set; beyond, the buffers holding more than their share drop their oldest messages (L10), so receivers that take nothing cannot take the node's memory (0: each buffer is bounded in messages only)")
	fs.IntVar(&s.maxDrainMetricSeries, "max-drain-metric-series", 1000, "drains of a data plane that export their own metric series (19 each, registered with a drain's first message); later ones count only in the totals (0: none)")
	fs.IntVar(&s.tlsMaxDepth, "tls-max-depth", 9, "intermediate certificates allowed in a TLS drain's chain")
	fs.StringVar(&s.tlsMode, "tls-mode", "secure", "secure, or insecure to skip certificate checks on every TLS drain")
	fs.StringVar(&s.drainSpillDir, "drain-spill-dir", "", "directory of the drains' disk spill: a full drain buffer moves its oldest messages there instead of dropping them, and they are delivered in order once the endpoint is back (drains with \"buffer\":\"disk\", or every drain with --drain-spill-all); empty: off")
	fs.Int64Var(&s.drainSpillMaxBytes, "drain-spill-max-bytes", 1<<30, "bytes the disk spill of this node may hold in all; beyond, overflow is dropped as without a spill (L10)")
	fs.Int64Var(&s.drainSpillDrainMaxBytes, "drain-spill-drain-max-bytes", 256<<20, "bytes one drain's disk spill may hold, so one drain's outage cannot take the others' room")
	fs.StringVar(&s.drainSpillFsync, "drain-spill-fsync", "segment", "when the disk spill fsyncs: segment (each 16 MiB segment file when full, and on stop), always (every batch written) or never")
	fs.BoolVar(&s.drainSpillAll, "drain-spill-all", false, "every drain spills to --drain-spill-dir unless its buffer is \"memory\" (default: only drains with \"buffer\":\"disk\")")
	fs.BoolVar(&s.denyTailSessions, "deny-tail-sessions", false, "control rod deny_tail_sessions at boot")
	fs.BoolVar(&s.denyLogsIngress, "deny-logs-ingress", false, "control rod deny_logs_ingress at boot (POST /logs answers 503)")
	fs.BoolVar(&s.denyRedisBuffers, "deny-redis-buffers", false, "control rod deny_redis_buffers at boot (no history writes)")
	fs.DurationVar(&s.resyncInterval, "resync-interval", 60*time.Second, "how often the config watcher checks that it missed no change (epoch, keyspace notifications) and, when it cannot tell, reloads the config fully")
	fs.DurationVar(&s.fullResync, "full-resync-interval", time.Hour, "full config reload interval while every --resync-interval check finds nothing missed (0s: a full reload at every --resync-interval)")
	fs.Var(&s.configGuard, "config-shrink-guard", "refuse a full config reload that lost more than this share of the config at once, or lost or changed its epoch, until `logplex config accept` (100%: epoch check only; off: no guard)")
	fs.DurationVar(&s.frameIDTTL, "frame-id-ttl", 10*time.Minute, "how long a POST /logs Logplex-Frame-Id is remembered: a retry within it is acknowledged, not routed again (0s: off)")
	fs.IntVar(&s.maxFrameIDsPerSender, "max-frame-ids-per-sender", 100000, "POST /logs Logplex-Frame-Ids one token or credential may have remembered per --frame-id-ttl; beyond, its requests are routed without de-duplication (0: no bound)")
	fs.StringVar(&s.syslogTLSAddr, "syslog-tls-addr", "", "syslog over TLS listen address (RFC 5425, e.g. :6514); empty disables")
	fs.StringVar(&s.syslogTLSCert, "syslog-tls-cert", "", "PEM certificate chain of the syslog TLS listener (reloaded on SIGHUP)")
	fs.StringVar(&s.syslogTLSKey, "syslog-tls-key", "", "PEM private key of the syslog TLS listener (reloaded on SIGHUP)")
	fs.StringVar(&s.firehoseChannelIDs, "firehose-channel-ids", "", "comma-separated firehose channel ids (docs/logplex.md §8.1)")
	fs.StringVar(&s.firehoseFilterTokens, "firehose-filter-tokens", "", "comma-separated token names whose messages go to a firehose channel, raw")
	fs.BoolVar(&s.disableFirehose, "disable-firehose", false, "control rod disable_firehose at boot")
	fs.DurationVar(&s.statusInterval, "drain-status-interval", 5*time.Second, "how often a data plane reports its drains' status (GET …/drains/<id>/status)")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 10*time.Second, "time to finish in-flight work on SIGTERM")
	fs.DurationVar(&s.shutdownIdle, "shutdown-idle", 250*time.Millisecond, "on SIGTERM a data plane reads its open syslog connections until none sent a byte for this long (at most half of --shutdown-timeout)")
	fs.IntVar(&s.maxTailSessions, "max-tail-sessions", 10000, "live tail sessions per control plane (more: 429)")
	fs.IntVar(&s.maxTailsPerChannel, "max-tails-per-channel", 100, "live tail sessions of one channel per control plane (more: 429)")
	fs.Int64Var(&s.tailBuffersMaxBytes, "tail-buffers-max-bytes", 256<<20, "bytes the buffers of all the live tail sessions of a control plane may hold together, at most a quarter of GOMEMLIMIT when that is set; beyond, the sessions holding more than their share drop their oldest messages (L11), so tail clients that never read cannot take the node's memory (0: each session's buffer is bounded in messages only)")
	fs.DurationVar(&s.logsReadTimeout, "logs-read-timeout", 15*time.Second, "POST /logs: time to read a request's headers and body (slow clients are cut off)")
	fs.IntVar(&s.maxTokensPerChannel, "max-tokens-per-channel", 100, "tokens of one channel (more: 422)")
	fs.IntVar(&s.maxDrainReservationsPerChannel, "max-drain-reservations-per-channel", 20, "drains without a URL (reserved with POST /channels/<id>/drains/tokens) of one channel (more: 422)")
	fs.Int64Var(&s.maxSessionBodyBytes, "max-session-body-bytes", 4096, "largest session body (POST /sessions, /v2/sessions, /v3/sessions; larger: 413)")
	fs.IntVar(&s.maxSessionsPerChannel, "max-sessions-per-channel", 1000, "sessions one channel may create per --session-expiry-s on one control plane (more: 429)")
	fs.IntVar(&s.maxFetchesPerSession, "max-fetches-per-session", 4, "concurrent GET /sessions/<id> of one session on one control plane (more: 429)")
	fs.IntVar(&s.maxSessionFetches, "max-session-fetches", 8, "histories (session fetches and v3 logs) one control plane writes at once, each holding up to num messages in memory (more: 429)")
	fs.DurationVar(&s.sessionFetchWriteTimeout, "session-fetch-write-timeout", 30*time.Second, "time to write a session's or v3 logs history, and each tail write after it; a client that does not read is disconnected")
	fs.DurationVar(&s.apiReadTimeout, "api-read-timeout", 10*time.Second, "API listeners: time to read a request's header, and then its body")
	fs.DurationVar(&s.apiIdleTimeout, "api-idle-timeout", 2*time.Minute, "API listeners: keep-alive connections idle this long are closed")
	fs.IntVar(&s.maxAPIConnections, "max-api-connections", 1024, "open connections per API listener (legacy and v3 each); more are closed at once")
	fs.BoolVar(&s.statsLog, "stats-log", true, "write Logplex's per-minute m=logplex_stats lines to stderr")
	fs.StringVar(&s.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&s.logLevelFile, "log-level-file", "", "file holding the log level (debug, info, warn or error), read at start and on SIGHUP; it overrides --log-level (empty: none)")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json (json: every line, the per-minute stats lines too)")
	fs.Usage = func() { roleUsage(name, fs, fs.Output()) }
	return fs
}

// parseWithEnv parses args, then fills every flag not given on the command
// line from its environment variable.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		for _, env := range []string{envName(f.Name), envAliases[f.Name]} {
			if v, ok := os.LookupEnv(env); ok && env != "" {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("environment %s=%q: %w", env, v, e)
				}
				return
			}
		}
	})
	return err
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `logplex %s: a log router compatible with Heroku's Logplex

Usage:
  logplex [all] [flags]        both planes in one process (embedded store unless --config-redis-url)
  logplex dataplane [flags]    ingest and routing node (needs Redis)
  logplex controlplane [flags] HTTP API node (needs Redis)
  logplex check [ROLE] [flags] check a role's settings, Redis, ports and files without starting it
  logplex cred create --name N --grant full_api,any_channel | cred list | cred revoke ID
  logplex config accept | status     adopt a config the guard refused (--config-shrink-guard)
  logplex tail --api URL --channel ID [--ps PS --source SRC --num N]   stream a channel (heroku logs --tail)
  logplex shards plan|migrate --from URLS --to URLS   move history to a changed shard list
  logplex bench [flags]        end-to-end benchmark suite (logplex bench --help)
  logplex version
  logplex help | ROLE --help   this text, or one role's

`, version)
	printFlags(fs, w)
}

// roleHelp is the first line of `logplex ROLE --help`.
var roleHelp = map[string]string{
	"all":          "both planes in one process: the embedded store in --data-dir, or Redis with --config-redis-url",
	"dataplane":    "ingest and routing node: TCP syslog and POST /logs in, drains, history and tails out (needs Redis)",
	"controlplane": "HTTP API node: legacy, v2 and v3 API, credentials, sessions and tails (needs Redis; admin on 127.0.0.1:5566)",
	"check":        "check a role's settings, reach its Redis, try its ports and read its files, without starting it; lists every problem and exits 1 on any",
}

// roleUsage is the usage of `logplex ROLE --help`: the role's own synopsis,
// then the flags; `logplex help` (name "logplex") is the global usage.
func roleUsage(name string, fs *flag.FlagSet, w io.Writer) {
	role := strings.TrimPrefix(name, "logplex ")
	h, ok := roleHelp[role]
	if !ok {
		usage(fs, w)
		return
	}
	if role == "check" {
		role = "check [all|dataplane|controlplane]"
	}
	fmt.Fprintf(w, "logplex %s: %s\n\nUsage:\n  logplex %s [flags]\n\n", version, h, role)
	printFlags(fs, w)
}

func printFlags(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Flags (each also read from the environment variable shown; a flag given wins):\n")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		env := envName(n)
		if a := envAliases[n]; a != "" {
			env += ", " + a
		}
		fmt.Fprintf(w, "  --%s (default %q)\n      %s\n      env: %s\n", n, f.DefValue, f.Usage, env)
	}
}

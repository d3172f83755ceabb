package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
)

// A rule checks one flag's value (as the flag package prints it) and says
// what it accepts. Every flag of newFlagSet has one (TestEveryFlagHasARule).
type rule struct {
	accepts string              // shown in the error: "normal, read_only or disabled"
	ok      func(v string) bool // true when v is accepted
}

func enum(vals ...string) rule {
	var shown []string
	for _, v := range vals {
		if v == "" {
			v = `"" (empty)`
		}
		shown = append(shown, v)
	}
	return rule{accepts: "one of " + strings.Join(shown, ", "), ok: func(v string) bool {
		for _, x := range vals {
			if v == x {
				return true
			}
		}
		return false
	}}
}

// intRange accepts integers in [lo, hi].
func intRange(lo, hi int64) rule {
	acc := fmt.Sprintf("an integer from %d to %d", lo, hi)
	if hi == maxInt {
		acc = fmt.Sprintf("an integer of at least %d", lo)
	}
	return rule{accepts: acc, ok: func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && n >= lo && n <= hi
	}}
}

const maxInt = int64(^uint64(0) >> 1)

func atLeast(lo int64) rule { return intRange(lo, maxInt) }

// durMin accepts durations of at least lo.
func durMin(lo time.Duration) rule {
	return rule{accepts: "a duration of at least " + lo.String() + " (e.g. 5s, 250ms)", ok: func(v string) bool {
		d, err := time.ParseDuration(v)
		return err == nil && d >= lo
	}}
}

var anyValue = rule{accepts: "any value", ok: func(string) bool { return true }}

var boolean = rule{accepts: "true or false", ok: func(v string) bool { _, err := strconv.ParseBool(v); return err == nil }}

// listenAddr accepts host:port with a port from 0 to 65535 (an empty host
// listens on every interface); optional also accepts "" (disabled).
func listenAddr(optional bool) rule {
	acc := "host:port (e.g. :6001 or 127.0.0.1:6001)"
	if optional {
		acc += ", or empty to disable"
	}
	return rule{accepts: acc, ok: func(v string) bool {
		if v == "" {
			return optional
		}
		_, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		return err == nil && perr == nil && n >= 0 && n <= 65535
	}}
}

// httpURL accepts "" or an absolute http(s) URL with a host.
var httpURL = rule{accepts: "an absolute http:// or https:// URL with a host, or empty", ok: func(v string) bool {
	if v == "" {
		return true
	}
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}}

func redisURLOK(v string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "redis", "rediss":
		return u.Host != ""
	case "unix":
		return u.Path != ""
	}
	return false
}

var redisURL = rule{accepts: "a redis://, rediss:// or unix:// URL, or empty", ok: func(v string) bool {
	return v == "" || redisURLOK(v)
}}

var redisURLList = rule{accepts: "a comma-separated list of redis://, rediss:// or unix:// URLs, or empty", ok: func(v string) bool {
	for _, u := range config.SplitList(v) {
		if !redisURLOK(u) {
			return false
		}
	}
	return true
}}

var channelIDList = rule{accepts: "a comma-separated list of channel ids (positive integers), or empty", ok: func(v string) bool {
	for _, id := range config.SplitList(v) {
		if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
			return false
		}
	}
	return true
}}

var nonEmpty = rule{accepts: "a non-empty value", ok: func(v string) bool { return v != "" }}

// flagRules is what each flag of the serving subcommands accepts. Zero is
// accepted only where the flag's help gives it a meaning; where the planes'
// Options would read 0 as "default" it is refused rather than silently
// replaced.
var flagRules = map[string]rule{
	"syslog-addr": listenAddr(false), "http-input-addr": listenAddr(false),
	"api-addr": listenAddr(false), "api-v3-addr": listenAddr(false),
	"admin-addr": listenAddr(true), "syslog-tls-addr": listenAddr(true),
	"data-dir": nonEmpty, "auth-key": anyValue,
	"api-endpoint-url": httpURL, "http-v3-url": httpURL,
	"config-redis-url": redisURL, "shard-urls": redisURLList, "redis-cluster": boolean,
	"log-history": atLeast(1), "redis-buffer-expiry": atLeast(1), "redis-buffer-length": atLeast(1),
	"history-batch-bytes": atLeast(1), "history-batch-messages": atLeast(1),
	"history-batch-age": durMin(time.Microsecond), "history-writers": intRange(1, 256),
	"history-queue-bytes": atLeast(1),
	"session-expiry-s":    atLeast(1), "session-lookup-timeout-s": atLeast(1),
	"max-drains-per-channel": atLeast(1), "allow-private-drains": boolean,
	"legacy-api-status": enum("normal", "read_only", "disabled"),
	"api-status":        enum("normal", "read_only", "disabled"),
	"event-loops":       intRange(0, 1024), "read-buffer-cap": intRange(512, 64<<20),
	"max-tcp-connections": atLeast(0), "max-logs-body-bytes": atLeast(1),
	"max-inflight-logs-bytes": atLeast(1), "http-log-input-max-connections": atLeast(1),
	"http-drain-buffer-size": atLeast(1), "http-drain-target-bytes": atLeast(1),
	"http-drain-batch-age": durMin(0), "http-frame-retries": intRange(0, 100),
	"http-drain-idle-timeout": atLeast(1), "http-drain-idle-fuzz": atLeast(1),
	"http-drain-max-ttl": atLeast(1), "http-drain-shrink-timeout": atLeast(1),
	"http-reconnect-time":    atLeast(1),
	"http-drain-compression": enum("", "none", "gzip", "zstd"),
	"http-drain-http2":       enum("off", "tls", "all"),
	"tcp-drain-buffer-size":  atLeast(1), "tcp-drain-target-bytes": atLeast(1),
	"tcp-drain-batch-age": durMin(0), "tcp-syslog-shrink-after": atLeast(1),
	"tcp-syslog-backoff-max": atLeast(1), "tcp-syslog-reconnect-min": atLeast(1),
	"tcp-syslog-send-timeout-secs": atLeast(1), "tcp-syslog-idle-timeout": atLeast(1),
	"tcp-syslog-idle-fuzz": atLeast(1), "tcp-syslog-max-ttl": atLeast(1),
	"tcp-syslog-send-loss-msg": enum("send", "dont_send"),
	"tls-cacertfile":           anyValue, "tls-pinned-certs": anyValue,
	"tls-max-depth": intRange(0, 100), "tls-mode": enum("secure", "insecure"),
	"deny-tail-sessions": boolean, "deny-logs-ingress": boolean, "deny-redis-buffers": boolean,
	"resync-interval": durMin(time.Second), "full-resync-interval": durMin(0), "frame-id-ttl": durMin(0),
	"syslog-tls-cert": anyValue, "syslog-tls-key": anyValue,
	"firehose-channel-ids": channelIDList, "firehose-filter-tokens": anyValue,
	"disable-firehose": boolean, "drain-status-interval": durMin(time.Millisecond),
	"shutdown-timeout": durMin(time.Millisecond), "max-tail-sessions": atLeast(0), "max-tails-per-channel": atLeast(1), "tail-buffers-max-bytes": atLeast(0),
	"logs-read-timeout": durMin(time.Millisecond), "stats-log": boolean,
	"log-level": enum("debug", "info", "warn", "error"), "log-format": enum("text", "json"),
	"log-level-file": anyValue,
	"admin-token":    anyValue, "admin-allowed-hosts": anyValue,
	"syslog-idle-timeout": durMin(0), "syslog-frame-timeout": durMin(0),
	"max-drain-metric-series": atLeast(0), "max-frame-ids-per-sender": atLeast(0),
	"shutdown-idle":          durMin(0),
	"max-tokens-per-channel": atLeast(1), "max-drain-reservations-per-channel": atLeast(1),
	"max-session-body-bytes": atLeast(1), "max-sessions-per-channel": atLeast(1),
	"max-fetches-per-session": atLeast(1), "max-session-fetches": atLeast(1),
	"session-fetch-write-timeout": durMin(time.Millisecond), "api-read-timeout": durMin(time.Millisecond),
	"api-idle-timeout": durMin(time.Millisecond), "max-api-connections": atLeast(1),
	"http-drain-batch-window": durMin(0), "tcp-drain-batch-window": durMin(0),
	"http-drain-sparse-window": durMin(0), "tcp-drain-sparse-window": durMin(0),
	"syslog-read-coalesce":    durMin(0),
	"drain-buffers-max-bytes": atLeast(0), "drain-spill-dir": anyValue, "drain-spill-max-bytes": atLeast(1), "drain-spill-drain-max-bytes": atLeast(1),
	"drain-spill-fsync": enum("segment", "always", "never"), "drain-spill-all": boolean,
	"config-shrink-guard": {accepts: "a percentage above 0 and up to 100 (e.g. 50%), or off", ok: func(v string) bool {
		return new(guardFlag).Set(v) == nil
	}},
}

// validate checks every flag against flagRules, and the settings that go
// together, and returns every problem found (nil when there is none).
func validate(fs *flag.FlagSet, s *settings) []error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		r, ok := flagRules[f.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("--%s has no validation rule (a bug: add it to flagRules)", f.Name))
			return
		}
		if v := f.Value.String(); !r.ok(v) {
			errs = append(errs, fmt.Errorf("--%s=%q (env %s): want %s", f.Name, v, envNames(f.Name), r.accepts))
		}
	})
	if s.syslogTLSAddr != "" && (s.syslogTLSCert == "" || s.syslogTLSKey == "") {
		errs = append(errs, errors.New("--syslog-tls-addr needs --syslog-tls-cert and --syslog-tls-key"))
	}
	if s.drainSpillAll && s.drainSpillDir == "" {
		errs = append(errs, errors.New("--drain-spill-all needs --drain-spill-dir"))
	}
	if s.syslogTLSAddr == "" && (s.syslogTLSCert != "" || s.syslogTLSKey != "") {
		errs = append(errs, errors.New("--syslog-tls-cert and --syslog-tls-key need --syslog-tls-addr (no TLS listener is configured)"))
	}
	return errs
}

// envNames are the environment variables a flag reads.
func envNames(flagName string) string {
	if a := envAliases[flagName]; a != "" {
		return envName(flagName) + " or " + a
	}
	return envName(flagName)
}

// otherEnv are LOGPLEX_* variables read by something else than a serving
// flag (logplex tail, the tests' own settings).
var otherEnv = []string{"LOGPLEX_TAIL_USER", "LOGPLEX_TAIL_PASSWORD"}

// unknownEnv returns a warning for each LOGPLEX_* variable in environ that
// no flag reads, with the closest known name when one is near.
func unknownEnv(fs *flag.FlagSet, environ []string) []string {
	known := map[string]bool{}
	for _, n := range otherEnv {
		known[n] = true
	}
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	var warns []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "LOGPLEX_") || known[k] {
			continue
		}
		w := "unknown environment variable " + k + " is ignored"
		if near := closest(k, known); near != "" {
			w += " (did you mean " + near + "?)"
		}
		warns = append(warns, w)
	}
	sort.Strings(warns)
	return warns
}

// closest is the known name within a small edit distance of k, or "".
func closest(k string, known map[string]bool) string {
	best, bestD := "", 4
	for n := range known {
		if d := editDistance(k, n); d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance between a and b: HISTROY is one step from HISTORY.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

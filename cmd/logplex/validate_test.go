package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// none marks a flag that accepts any value (no bad value to try).
const none = "\x00none"

// badGood is, per flag, a value the flag must refuse and one it must
// accept.
var badGood = map[string][2]string{
	"syslog-addr": {"6001", "127.0.0.1:6001"}, "http-input-addr": {"localhost:http8601", ":8601"},
	"api-addr": {"", ":8001"}, "api-v3-addr": {"1.2.3.4:99999", ":8002"},
	"admin-addr": {"nope", ""}, "syslog-tls-addr": {"6514", ":6514"},
	"data-dir": {"", "/var/lib/logplex"}, "auth-key": {none, "secret"},
	"api-endpoint-url": {"notaurl", "https://logplex.example.com"},
	"http-v3-url":      {"ftp://x/", "http://localhost:8002"},
	"config-redis-url": {"localhost:6379", "redis://localhost:6379"},
	"shard-urls":       {"redis://a:1,b:2", "redis://a:1,redis://b:2/#s2"},
	"redis-cluster":    {"maybe", "true"},
	"log-history":      {"-5", "1500"}, "redis-buffer-expiry": {"0", "604800"},
	"redis-buffer-length": {"0", "2000"}, "history-batch-bytes": {"0", "65536"},
	"history-batch-messages": {"-1", "1000"}, "history-batch-age": {"0s", "5ms"},
	"history-writers": {"0", "4"}, "history-queue-bytes": {"0", "1048576"},
	"session-expiry-s": {"0", "360"}, "session-lookup-timeout-s": {"0", "5"},
	"max-drains-per-channel": {"0", "6"}, "allow-private-drains": {"yes please", "false"},
	"legacy-api-status": {"read-only", "read_only"}, "api-status": {"foo", "disabled"},
	"event-loops": {"-3", "0"}, "read-buffer-cap": {"10", "65536"},
	"max-tcp-connections": {"-1", "0"}, "max-logs-body-bytes": {"0", "8000000"},
	"max-inflight-logs-bytes": {"-1", "1024"}, "http-log-input-max-connections": {"0", "1024"},
	"http-drain-buffer-size": {"0", "1024"}, "http-drain-target-bytes": {"0", "102400"},
	"http-drain-batch-age": {"-1s", "0s"}, "http-frame-retries": {"-1", "0"},
	"http-drain-idle-timeout": {"0", "144000"}, "http-drain-idle-fuzz": {"0", "15000"},
	"http-drain-max-ttl": {"0", "18000000"}, "http-drain-shrink-timeout": {"0", "300000"},
	"http-reconnect-time": {"0", "10"}, "http-drain-compression": {"brotli", "zstd"}, "http-drain-http2": {"h2c", "all"},
	"tcp-drain-buffer-size": {"0", "1024"}, "tcp-drain-target-bytes": {"0", "4096"},
	"tcp-drain-batch-age": {"-5ms", "5ms"}, "tcp-syslog-shrink-after": {"0", "10"},
	"tcp-syslog-backoff-max": {"0", "300"}, "tcp-syslog-reconnect-min": {"0", "30"},
	"tcp-syslog-send-timeout-secs": {"0", "4"}, "tcp-syslog-idle-timeout": {"0", "240000"},
	"tcp-syslog-idle-fuzz": {"0", "15000"}, "tcp-syslog-max-ttl": {"0", "18000000"},
	"tcp-syslog-send-loss-msg": {"maybe", "dont_send"},
	"tls-cacertfile":           {none, "/etc/ssl/certs/ca-certificates.crt"}, "tls-pinned-certs": {none, ""},
	"tls-max-depth": {"101", "9"}, "tls-mode": {"foo", "insecure"},
	"deny-tail-sessions": {"2", "1"}, "deny-logs-ingress": {"on", "true"}, "deny-redis-buffers": {"x", "false"},
	"resync-interval": {"0s", "60s"}, "full-resync-interval": {"-1s", "0s"}, "frame-id-ttl": {"-1s", "0s"},
	"syslog-tls-cert": {none, ""}, "syslog-tls-key": {none, ""},
	"firehose-channel-ids": {"abc", "1,2"}, "firehose-filter-tokens": {none, "heroku"},
	"disable-firehose": {"maybe", "true"}, "drain-status-interval": {"0s", "5s"},
	"shutdown-timeout": {"0s", "10s"}, "max-tail-sessions": {"-1", "0"}, "max-tails-per-channel": {"0", "100"}, "tail-buffers-max-bytes": {"-1", "0"},
	"logs-read-timeout": {"0s", "15s"}, "stats-log": {"maybe", "false"},
	"log-level": {"verbose", "debug"}, "log-format": {"logfmt", "json"}, "log-level-file": {none, ""},
	"admin-token": {none, "t"}, "admin-allowed-hosts": {none, "logplex.internal"},
	"syslog-idle-timeout": {"-1s", "0s"}, "syslog-frame-timeout": {"-30s", "30s"},
	"max-drain-metric-series": {"-1", "0"}, "max-frame-ids-per-sender": {"-1", "0"},
	"shutdown-idle":           {"-1ms", "250ms"},
	"http-drain-batch-window": {"-1ms", "20ms"}, "tcp-drain-batch-window": {"-1ms", "0s"},
	"http-drain-sparse-window": {"-1ms", "1s"}, "tcp-drain-sparse-window": {"-1ms", "0s"},
	"syslog-read-coalesce":    {"-1ms", "0s"},
	"drain-buffers-max-bytes": {"-1", "1073741824"}, "drain-spill-dir": {none, "/var/lib/logplex/spill"}, "drain-spill-max-bytes": {"0", "1073741824"},
	"drain-spill-drain-max-bytes": {"-1", "268435456"}, "drain-spill-fsync": {"sometimes", "always"},
	"drain-spill-all":        {"yes", "false"},
	"config-shrink-guard":    {"150%", "off"},
	"max-tokens-per-channel": {"0", "100"}, "max-drain-reservations-per-channel": {"0", "20"},
	"max-session-body-bytes": {"0", "4096"}, "max-sessions-per-channel": {"0", "1000"},
	"max-fetches-per-session": {"0", "4"}, "max-session-fetches": {"0", "8"},
	"session-fetch-write-timeout": {"0s", "30s"}, "api-read-timeout": {"0s", "10s"},
	"api-idle-timeout": {"0s", "2m"}, "max-api-connections": {"0", "1024"},
}

// TestEveryFlagIsValidated: every flag has a rule and a row above; its
// default passes; its bad value, given as a flag or as its environment
// variable, stops the role before anything starts (exit 2) with an error
// that names the flag and what it accepts; its good value passes.
func TestEveryFlagIsValidated(t *testing.T) {
	var s settings
	fs := newFlagSet("logplex all", &s)
	if errs := validate(fs, &s); len(errs) != 0 {
		t.Fatalf("the defaults do not validate: %v", errs)
	}
	fs.VisitAll(func(f *flag.Flag) {
		row, ok := badGood[f.Name]
		if !ok {
			t.Errorf("--%s has no row in badGood", f.Name)
			return
		}
		if _, ok := flagRules[f.Name]; !ok {
			t.Errorf("--%s has no rule in flagRules", f.Name)
			return
		}
		bad, good := row[0], row[1]
		if bad == none {
			if flagRules[f.Name].accepts != anyValue.accepts {
				t.Errorf("--%s: no bad value in badGood, but its rule refuses some", f.Name)
			}
		} else {
			t.Run(f.Name+"/flag", func(t *testing.T) { wantRefused(t, f.Name, []string{"--" + f.Name + "=" + bad}) })
			t.Run(f.Name+"/env", func(t *testing.T) {
				t.Setenv(envName(f.Name), bad)
				wantRefused(t, f.Name, nil)
			})
		}
		var s2 settings
		fs2 := newFlagSet("logplex all", &s2)
		if err := fs2.Parse([]string{"--" + f.Name + "=" + good}); err != nil {
			t.Errorf("--%s=%q: %v", f.Name, good, err)
		} else if errs := validate(fs2, &s2); len(errs) != 0 && !strings.HasPrefix(f.Name, "syslog-tls-") {
			t.Errorf("--%s=%q refused: %v", f.Name, good, errs)
		}
	})
}

func wantRefused(t *testing.T, name string, args []string) {
	t.Helper()
	var errb bytes.Buffer
	var s settings
	code, ok := parseServeFlags(newFlagSet("logplex dataplane", &s), &s, "dataplane", args, &errb)
	if ok || code != 2 {
		t.Fatalf("exit %d (ok %v), want 2; stderr:\n%s", code, ok, errb.String())
	}
	msg := errb.String()
	if !strings.Contains(msg, "-"+name) && !strings.Contains(msg, envName(name)) {
		t.Errorf("the error does not name --%s:\n%s", name, msg)
	}
	if r := flagRules[name]; r.accepts != boolean.accepts && !strings.Contains(msg, r.accepts) {
		t.Errorf("the error does not say what --%s accepts (%s):\n%s", name, r.accepts, msg)
	}
}

func TestTLSListenerSettingsGoTogether(t *testing.T) {
	for _, args := range [][]string{
		{"--syslog-tls-addr=:6514"},
		{"--syslog-tls-addr=:6514", "--syslog-tls-cert=c.pem"},
		{"--syslog-tls-cert=c.pem", "--syslog-tls-key=k.pem"},
	} {
		var s settings
		fs := newFlagSet("logplex all", &s)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if errs := validate(fs, &s); len(errs) != 1 {
			t.Errorf("%v: %d errors, want 1: %v", args, len(errs), errs)
		}
	}
}

func TestUnknownEnvIsWarnedWithASuggestion(t *testing.T) {
	var s settings
	fs := newFlagSet("logplex all", &s)
	got := unknownEnv(fs, []string{"LOGPLEX_LOG_HISTROY=5", "LOGPLEX_LOG_HISTORY=5", "LOGPLEX_TAIL_USER=x",
		"LOGPLEX_ZZZZZZZZZZZ=1", "API_STATUS=normal", "PATH=/bin"})
	want := []string{
		"unknown environment variable LOGPLEX_LOG_HISTROY is ignored (did you mean LOGPLEX_LOG_HISTORY?)",
		"unknown environment variable LOGPLEX_ZZZZZZZZZZZ is ignored",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

package main

// docs/config.md is generated from the flag set of the serving subcommands
// (newFlagSet), so it cannot drift from `logplex help`. Regenerate it with
//
//	UPDATE_DOCS=1 go test ./cmd/logplex -run TestConfigDoc
//	go test ./cmd/logplex -run TestConfigDoc -update
//
// A flag added to newFlagSet without a place in configDocGroups lands in
// "Other flags"; give it a group when convenient.

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// configDocPath is docs/config.md, relative to this package.
var configDocPath = filepath.Join("..", "..", "docs", "config.md")

// init registers -update unless another test file of the package already
// did (two definitions of one flag panic).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated docs (docs/config.md) instead of comparing them")
	}
}

// updateDocs reports whether the generated docs should be rewritten.
func updateDocs() bool {
	if os.Getenv("UPDATE_DOCS") == "1" {
		return true
	}
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// configDocGroups orders the reference. Names that no longer exist are
// skipped; flags in no group are listed under "Other flags".
var configDocGroups = []struct {
	title, intro string
	flags        []string
}{
	{"Listeners", "A data plane opens the syslog and `/logs` listeners, a control plane the two API listeners; `logplex all` opens all of them. Every role opens the admin listener unless `--admin-addr` is empty. Two roles on one host need different admin addresses.",
		[]string{"syslog-addr", "http-input-addr", "api-addr", "api-v3-addr", "admin-addr", "admin-token", "admin-allowed-hosts", "syslog-tls-addr", "syslog-tls-cert", "syslog-tls-key"}},
	{"Storage and cluster", "The config store (embedded file under `--data-dir`, or the config Redis) and the history shards. `logplex dataplane` and `logplex controlplane` need `--config-redis-url`.",
		[]string{"data-dir", "config-redis-url", "shard-urls", "redis-cluster", "resync-interval", "full-resync-interval", "config-shrink-guard", "log-history", "redis-buffer-expiry", "redis-buffer-length",
			"history-batch-bytes", "history-batch-messages", "history-batch-age", "history-writers", "history-queue-bytes"}},
	{"API (control plane)", "",
		[]string{"auth-key", "api-endpoint-url", "http-v3-url", "legacy-api-status", "api-status", "session-expiry-s", "session-lookup-timeout-s", "max-drains-per-channel", "allow-private-drains",
			"max-tokens-per-channel", "max-drain-reservations-per-channel", "max-session-body-bytes", "max-sessions-per-channel",
			"max-fetches-per-session", "max-session-fetches", "session-fetch-write-timeout",
			"api-read-timeout", "api-idle-timeout", "max-api-connections", "max-tail-sessions", "max-tails-per-channel", "tail-buffers-max-bytes"}},
	{"Ingest (data plane)", "",
		[]string{"event-loops", "read-buffer-cap", "max-tcp-connections", "syslog-idle-timeout", "syslog-frame-timeout", "syslog-read-coalesce", "max-logs-body-bytes", "max-inflight-logs-bytes", "http-log-input-max-connections", "frame-id-ttl", "max-frame-ids-per-sender"}},
	{"HTTP drains (data plane)", "Times are integers in milliseconds, as Logplex's keys of the same name; `--http-drain-batch-age` (an extension) is a duration such as `2ms`.",
		[]string{"http-drain-buffer-size", "http-drain-target-bytes", "http-drain-batch-age", "http-drain-batch-window", "http-drain-sparse-window", "http-frame-retries", "http-drain-idle-timeout", "http-drain-idle-fuzz", "http-drain-max-ttl", "http-drain-shrink-timeout", "http-reconnect-time", "http-drain-compression", "max-drain-metric-series", "drain-buffers-max-bytes"}},
	{"Disk spill of drain buffers (data plane)", "An extension (off by default): a drain whose buffer is full moves its oldest messages to disk instead of dropping them (docs/operations.md, Disk spill).",
		[]string{"drain-spill-dir", "drain-spill-max-bytes", "drain-spill-drain-max-bytes", "drain-spill-fsync", "drain-spill-all"}},
	{"Syslog drains and TLS (data plane)", "Units are those of Logplex's keys of the same name (ms or s, named in each description); `--tcp-drain-batch-age` (an extension) is a duration such as `2ms`.",
		[]string{"tcp-drain-buffer-size", "tcp-drain-target-bytes", "tcp-drain-batch-age", "tcp-drain-batch-window", "tcp-drain-sparse-window", "tcp-syslog-shrink-after", "tcp-syslog-backoff-max", "tcp-syslog-reconnect-min", "tcp-syslog-send-timeout-secs", "tcp-syslog-idle-timeout", "tcp-syslog-idle-fuzz", "tcp-syslog-max-ttl", "tcp-syslog-send-loss-msg", "tls-cacertfile", "tls-pinned-certs", "tls-max-depth", "tls-mode"}},
	{"Control rods at boot", "Each node starts with these; at run time they are changed with `POST /control-rods/<rod>` on the admin address (docs/operations.md).",
		[]string{"deny-logs-ingress", "deny-redis-buffers", "deny-tail-sessions", "disable-firehose"}},
	{"Firehose (data plane)", "",
		[]string{"firehose-channel-ids", "firehose-filter-tokens"}},
	{"Process", "",
		[]string{"shutdown-timeout", "drain-status-interval", "stats-log", "log-level", "log-format"}},
}

const configDocHeader = `# Configuration reference

<!-- Generated from the flag set by cmd/logplex/config_doc_test.go; do not edit.
     Regenerate: UPDATE_DOCS=1 go test ./cmd/logplex -run TestConfigDoc -->

Every serving subcommand (` + "`logplex all`, `logplex dataplane`, `logplex controlplane`" + `) takes
the same flags; a flag that belongs to the other plane is accepted and ignored. ` + "`logplex help`" + `
prints this list.

Each flag is also read from the environment: first ` + "`LOGPLEX_<FLAG_NAME>`" + ` (upper case,
` + "`-`" + ` becomes ` + "`_`" + `), then Logplex's own variable where it had a different name (second
name in the table). A flag given on the command line wins over both. Values are parsed as the
flag is: booleans accept ` + "`true`, `false`, `1`, `0`, `t`, `f`, `TRUE`, `True`, `FALSE`, `False`" + `,
durations use Go's syntax (` + "`10s`, `1m30s`" + `). A variable that is set counts even when it is
empty. Every value is checked before anything starts: a value that does not parse or is out of
its range (enums, numeric ranges, URLs, lists, addresses) stops the process with exit status 2
and one line per problem naming the flag, its variables and what it accepts. A ` + "`LOGPLEX_*`" + `
variable that no flag reads is logged as a warning at start (with the closest known name). ` + "`logplex check [ROLE] [flags]`" + `
checks the same settings plus Redis, ports and files without starting anything.

Run-time knobs that are not flags: ` + "`GOMEMLIMIT`" + ` (the data plane sheds ` + "`POST /logs`" + ` load above
80% of it, see ` + "`--max-inflight-logs-bytes`" + `), ` + "`GOMAXPROCS`" + `, ` + "`GOGC`" + `.
`

// fmtDefault is how the reference shows a default value.
func fmtDefault(v string) string {
	if v == "" {
		return "*(empty)*"
	}
	return "`" + v + "`"
}

// mdCell escapes text for a markdown table cell (| splits cells, <x> would
// be read as HTML).
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// envList is the environment variables of a flag, in lookup order.
func envList(name string) []string {
	env := []string{envName(name)}
	if a := envAliases[name]; a != "" {
		env = append(env, a)
	}
	return env
}

// renderConfigDoc renders docs/config.md from newFlagSet.
func renderConfigDoc() []byte {
	var s settings
	fs := newFlagSet("logplex", &s)
	var b bytes.Buffer
	b.WriteString(configDocHeader)
	done := map[string]bool{}
	section := func(title, intro string, names []string) {
		var rows []*flag.Flag
		for _, n := range names {
			if f := fs.Lookup(n); f != nil && !done[n] {
				done[n] = true
				rows = append(rows, f)
			}
		}
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		if intro != "" {
			fmt.Fprintf(&b, "%s\n\n", intro)
		}
		b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
		for _, f := range rows {
			env := envList(f.Name)
			for i := range env {
				env[i] = "`" + env[i] + "`"
			}
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, strings.Join(env, ", "),
				fmtDefault(f.DefValue), mdCell(f.Usage))
		}
	}
	for _, g := range configDocGroups {
		section(g.title, g.intro, g.flags)
	}
	var rest []string
	fs.VisitAll(func(f *flag.Flag) {
		if !done[f.Name] {
			rest = append(rest, f.Name)
		}
	})
	sort.Strings(rest)
	section("Other flags", "", rest)
	b.WriteString("\n## `logplex cred`\n\nManages API credentials in the config store: the config Redis when " +
		"`LOGPLEX_CONFIG_REDIS_URL` is set (with `LOGPLEX_REDIS_CLUSTER=true` for a Redis Cluster), " +
		"else the embedded store under `--data-dir`.\n\n```\n")
	b.WriteString(credUsage)
	b.WriteString("```\n")
	return b.Bytes()
}

func TestConfigDocMatchesFlags(t *testing.T) {
	want := renderConfigDoc()
	if updateDocs() {
		if err := os.WriteFile(configDocPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", configDocPath)
		return
	}
	got, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatalf("%v (generate it: UPDATE_DOCS=1 go test ./cmd/logplex -run TestConfigDoc)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		g, w := "(end of file)", "(end of file)"
		if line < len(gl) {
			g = gl[line]
		}
		if line < len(wl) {
			w = wl[line]
		}
		t.Errorf("docs/config.md does not match the flags (line %d)\n  file:   %s\n  flags:  %s\n"+
			"regenerate it: UPDATE_DOCS=1 go test ./cmd/logplex -run TestConfigDoc", line+1, g, w)
	}
}

// reHelpFlag and reHelpEnv read `logplex help`.
var (
	reHelpFlag = regexp.MustCompile(`^  --([a-z0-9-]+) \(default (".*")\)$`)
	reHelpEnv  = regexp.MustCompile(`^      env: (.+)$`)
)

// TestConfigDocCoversHelp reads the output of `logplex help` itself and
// checks that every flag it lists is in docs/config.md with the same
// default and environment variables, and that the doc lists no other flag.
func TestConfigDocCoversHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"help"}, &out, &errb); rc != 0 {
		t.Fatalf("logplex help: %d %s", rc, errb.String())
	}
	doc, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag name -> its table row
	for _, l := range strings.Split(string(doc), "\n") {
		if m := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\|").FindStringSubmatch(l); m != nil {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("docs/config.md lists --%s twice", m[1])
			}
			rows[m[1]] = l
		}
	}
	seen := map[string]bool{}
	var cur string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		l := sc.Text()
		if m := reHelpFlag.FindStringSubmatch(l); m != nil {
			cur = m[1]
			seen[cur] = true
			row, ok := rows[cur]
			if !ok {
				t.Errorf("--%s is in `logplex help` but not in docs/config.md", cur)
				continue
			}
			def := strings.Trim(m[2], `"`)
			if !strings.Contains(row, "| "+fmtDefault(def)+" |") {
				t.Errorf("--%s: help says default %s, docs/config.md row is %q", cur, m[2], row)
			}
		} else if m := reHelpEnv.FindStringSubmatch(l); m != nil && cur != "" {
			for _, e := range strings.Split(m[1], ", ") {
				if !strings.Contains(rows[cur], "`"+e+"`") {
					t.Errorf("--%s: help names env %s, docs/config.md row is %q", cur, e, rows[cur])
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatalf("no flags found in `logplex help` output:\n%s", out.String())
	}
	for n := range rows {
		if !seen[n] {
			t.Errorf("docs/config.md lists --%s, which `logplex help` does not", n)
		}
	}
}

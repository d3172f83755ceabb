package main

// Checks that the packaging in deploy/ stays in line with the binary: every
// flag and LOGPLEX_* variable the systemd units, the compose file and the
// Dockerfile use exists (and its value parses), the ports they wire up are
// the flags' defaults, and the Grafana dashboard only queries metrics that
// the code exports. External validators run when they are installed, and
// their absence fails the test when CI is set (internal/testenv):
// systemd-analyze verify, docker compose config (or docker-compose), haproxy -c.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/testenv"
)

var (
	repoRoot  = filepath.Join("..", "..")
	deployDir = filepath.Join(repoRoot, "deploy")
)

// servingRoles are the subcommands a service may run.
var servingRoles = map[string]bool{"all": true, "dataplane": true, "controlplane": true}

// runtimeEnv are variables the Go runtime reads, allowed beside the flags'.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true, "GODEBUG": true}

// flagByEnv maps every environment variable the binary reads to its flag.
func flagByEnv() map[string]*flag.Flag {
	var s settings
	fs := newFlagSet("logplex", &s)
	m := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		for _, e := range envList(f.Name) {
			m[e] = f
		}
	})
	return m
}

// checkEnv checks that name is a variable logplex reads and, when value is
// given literally, that it parses as that flag's value.
func checkEnv(t *testing.T, where, name, value string) {
	t.Helper()
	if runtimeEnv[name] {
		return
	}
	f, ok := flagByEnv()[name]
	if !ok {
		t.Errorf("%s: %s is not an environment variable of any flag (see docs/config.md)", where, name)
		return
	}
	if value == "" || strings.Contains(value, "$") {
		return // empty (allowed for strings) or interpolated
	}
	var s settings // Set on a fresh flag set, so nothing is shared
	if err := newFlagSet("logplex", &s).Lookup(f.Name).Value.Set(value); err != nil {
		t.Errorf("%s: %s=%q does not parse as --%s: %v", where, name, value, f.Name, err)
	}
}

// checkCommand checks a logplex command line (without the binary): a
// serving role, then flags the role's flag set accepts, nothing else. It
// returns the parsed flag set.
func checkCommand(t *testing.T, where string, args []string) *flag.FlagSet {
	t.Helper()
	if len(args) == 0 || !servingRoles[args[0]] {
		t.Errorf("%s: command %q does not start with a serving role (all, dataplane, controlplane)", where, args)
		return nil
	}
	var s settings
	fs := newFlagSet("logplex "+args[0], &s)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		t.Errorf("%s: `logplex %s` rejects its flags: %v", where, strings.Join(args, " "), err)
		return nil
	}
	if fs.NArg() != 0 {
		t.Errorf("%s: `logplex %s`: unexpected arguments %q", where, strings.Join(args, " "), fs.Args())
	}
	return fs
}

// splitWords splits a command line as systemd and a shell would for simple
// cases: whitespace, single and double quotes.
func splitWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// unitEntry is one Key=Value line of a unit file.
type unitEntry struct{ section, key, value string }

func parseUnit(t *testing.T, path string) []unitEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []unitEntry
	section, pending := "", ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if pending != "" {
			l, pending = pending+" "+l, ""
		}
		if strings.HasSuffix(l, `\`) {
			pending = strings.TrimSuffix(l, `\`)
			continue
		}
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			section = strings.Trim(l, "[]")
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("%s: cannot parse line %q", path, l)
				continue
			}
			out = append(out, unitEntry{section, strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return out
}

func unitUnits(t *testing.T) []string {
	t.Helper()
	units, err := filepath.Glob(filepath.Join(deployDir, "systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(units)
	var names []string
	for _, u := range units {
		names = append(names, filepath.Base(u))
	}
	want := []string{"logplex-all.service", "logplex-controlplane.service", "logplex-dataplane.service"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("deploy/systemd has %v, want %v", names, want)
	}
	return units
}

func TestSystemdUnitsUseRealFlags(t *testing.T) {
	for _, path := range unitUnits(t) {
		name := filepath.Base(path)
		role := strings.TrimSuffix(strings.TrimPrefix(name, "logplex-"), ".service")
		t.Run(role, func(t *testing.T) {
			vals := map[string][]string{}
			for _, e := range parseUnit(t, path) {
				vals[e.section+"."+e.key] = append(vals[e.section+"."+e.key], e.value)
			}
			execs := vals["Service.ExecStart"]
			if len(execs) != 1 {
				t.Fatalf("%s: %d ExecStart lines, want 1", name, len(execs))
			}
			words := splitWords(strings.TrimLeft(execs[0], "-@+!:"))
			if len(words) < 2 || filepath.Base(words[0]) != "logplex" || !filepath.IsAbs(words[0]) {
				t.Fatalf("%s: ExecStart %q: want an absolute path to logplex, then the role", name, execs[0])
			}
			if words[1] != role {
				t.Errorf("%s: ExecStart runs `logplex %s`, the file name says %s", name, words[1], role)
			}
			fs := checkCommand(t, name+" ExecStart", words[1:])
			for _, env := range vals["Service.Environment"] {
				for _, kv := range splitWords(env) {
					k, v, _ := strings.Cut(kv, "=")
					checkEnv(t, name+" Environment", k, v)
				}
			}
			if len(vals["Service.EnvironmentFile"]) == 0 {
				t.Errorf("%s: no EnvironmentFile", name)
			}
			for key, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Type": "simple"} {
				if got := vals["Service."+key]; len(got) != 1 || got[0] != want {
					t.Errorf("%s: %s=%v, want %s", name, key, got, want)
				}
			}
			if u := vals["Service.User"]; len(u) != 1 || u[0] == "root" || u[0] == "0" {
				t.Errorf("%s: User=%v: run as an unprivileged user", name, u)
			}
			if n := vals["Service.LimitNOFILE"]; len(n) != 1 || (n[0] != "infinity" && atoi(n[0]) < 100000) {
				t.Errorf("%s: LimitNOFILE=%v: want at least 100000 (--max-tcp-connections)", name, n)
			}
			if fs == nil {
				return
			}
			// the stop timeout must leave room for the graceful shutdown
			// (the process allows itself shutdown-timeout + 2 s)
			shutdown := fs.Lookup("shutdown-timeout").Value.(flag.Getter).Get().(time.Duration)
			stop := vals["Service.TimeoutStopSec"]
			if len(stop) != 1 {
				t.Errorf("%s: want one TimeoutStopSec", name)
			} else if d, err := time.ParseDuration(stop[0]); err != nil || d < shutdown+5*time.Second {
				t.Errorf("%s: TimeoutStopSec=%s, want at least --shutdown-timeout (%s) + 5s", name, stop[0], shutdown)
			}
			if role == "all" {
				dir := fs.Lookup("data-dir").Value.String()
				if !contains(vals["Service.ReadWritePaths"], dir) {
					t.Errorf("%s: ReadWritePaths=%v does not include --data-dir %s", name, vals["Service.ReadWritePaths"], dir)
				}
			}
		})
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func contains(list []string, s string) bool {
	for _, l := range list {
		for _, w := range strings.Fields(l) {
			if strings.TrimLeft(w, "-") == s {
				return true
			}
		}
	}
	return false
}

// TestSystemdEnvExample checks every variable named in the example
// environment file, commented out or not.
func TestSystemdEnvExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "systemd", "logplex.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			n++
			checkEnv(t, "logplex.env.example", m[1], m[2])
		}
	}
	if n == 0 {
		t.Fatal("logplex.env.example names no variable")
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify on the units, with
// ExecStart pointed at an existing executable (verify checks only that the
// command exists and is executable; the test binary serves).
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa := testenv.Tool(t, "install systemd (apt-get install -y systemd); TestSystemdUnitsUseRealFlags checks the ExecStart flags without it", "systemd-analyze")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// a unit known to be good tells whether verify works in this environment
	probe := filepath.Join(dir, "logplex-probe.service")
	if err := os.WriteFile(probe, []byte("[Service]\nExecStart="+self+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", probe).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Skipf("systemd-analyze verify does not work here (%v): %s", err, out)
	}
	os.Remove(probe)
	var files []string
	for _, u := range unitUnits(t) {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		b = regexp.MustCompile(`(?m)^(ExecStart=[-@+!:]*)\S+`).ReplaceAll(b, []byte("${1}"+self))
		p := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// unknown keys and bad values are warnings (exit 0): fail on any line about our units
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "logplex-") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}

// composeService is one service of docker-compose.yml, as lines.
type composeService struct {
	name  string
	lines []string
}

// readCompose splits docker-compose.yml into its top-level blocks and
// services. There is no YAML module: the file keeps a simple layout (two
// spaces per level, flow lists for logplex commands) that this relies on.
func readCompose(t *testing.T) (top map[string][]string, services []composeService) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	top = map[string][]string{}
	reTop := regexp.MustCompile(`^([a-zA-Z0-9_-]+):`)
	reSvc := regexp.MustCompile(`^  ([a-zA-Z0-9_.-]+):\s*(&\S+)?\s*$`)
	cur := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if m := reTop.FindStringSubmatch(l); m != nil {
			cur = m[1]
			continue
		}
		if cur == "services" {
			if m := reSvc.FindStringSubmatch(l); m != nil {
				services = append(services, composeService{name: m[1]})
				continue
			}
			if len(services) > 0 {
				services[len(services)-1].lines = append(services[len(services)-1].lines, l)
			}
			continue
		}
		if cur != "" {
			top[cur] = append(top[cur], l)
		}
	}
	return top, services
}

// composeEnv checks the KEY: value lines under every environment: key.
func composeEnv(t *testing.T, where string, lines []string) {
	t.Helper()
	re := regexp.MustCompile(`^\s+([A-Z][A-Z0-9_]*):\s*(.*)$`)
	inEnv, envIndent := false, 0
	for _, l := range lines {
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l), "environment:") {
			inEnv, envIndent = true, indent
			continue
		}
		if inEnv && indent <= envIndent {
			inEnv = false
		}
		if m := re.FindStringSubmatch(l); inEnv && m != nil {
			if strings.HasPrefix(m[1], "GF_") { // Grafana's
				continue
			}
			checkEnv(t, where, m[1], strings.Trim(m[2], `"'`))
		}
	}
}

func TestComposeFileUsesRealFlagsAndServices(t *testing.T) {
	top, services := readCompose(t)
	names := map[string]bool{}
	for _, s := range services {
		names[s.name] = true
	}
	for _, want := range []string{"redis-1", "redis-2", "redis-3", "redis-cluster-init",
		"dataplane-1", "dataplane-2", "controlplane-1", "controlplane-2", "haproxy"} {
		if !names[want] {
			t.Errorf("docker-compose.yml: no service %s", want)
		}
	}
	composeEnv(t, "docker-compose.yml x-logplex", top["x-logplex"])
	checkDepends(t, "docker-compose.yml x-logplex", top["x-logplex"], names)
	roles := map[string]int{}
	reCmd := regexp.MustCompile(`^\s+command:\s*(\[.*\])\s*$`)
	for _, s := range services {
		composeEnv(t, "docker-compose.yml "+s.name, s.lines)
		checkDepends(t, "docker-compose.yml "+s.name, s.lines, names)
		for _, l := range s.lines {
			if m := reCmd.FindStringSubmatch(l); m != nil {
				var args []string
				if err := json.Unmarshal([]byte(m[1]), &args); err != nil {
					t.Errorf("docker-compose.yml %s: command %s: %v", s.name, m[1], err)
				} else if len(args) > 0 && servingRoles[args[0]] {
					checkCommand(t, "docker-compose.yml "+s.name, args)
					roles[args[0]]++
				}
			}
		}
	}
	if roles["dataplane"] == 0 || roles["controlplane"] == 0 {
		t.Errorf("docker-compose.yml: logplex commands by role %v, want dataplane and controlplane", roles)
	}

	// Prometheus scrapes services on the admin port the compose file sets.
	admin := regexp.MustCompile(`LOGPLEX_ADMIN_ADDR:\s*"?([^"\s]*)"?`).FindStringSubmatch(strings.Join(top["x-logplex"], "\n"))
	if admin == nil {
		t.Fatal("docker-compose.yml x-logplex: no LOGPLEX_ADMIN_ADDR (Prometheus needs the admin listener off loopback)")
	}
	_, adminPort, _ := net.SplitHostPort(admin[1])
	prom, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`"([a-z0-9-]+):(\d+)"`).FindAllStringSubmatch(string(prom), -1)
	if len(targets) == 0 {
		t.Error("prometheus.yml: no targets")
	}
	// The admin listener refuses Host names it is not told about, and
	// Prometheus sends the target's name.
	allowed := regexp.MustCompile(`LOGPLEX_ADMIN_ALLOWED_HOSTS:\s*"?([^"\s]*)"?`).FindStringSubmatch(strings.Join(top["x-logplex"], "\n"))
	for _, m := range targets {
		if !names[m[1]] || m[2] != adminPort {
			t.Errorf("prometheus.yml: target %s:%s, want a compose service on the admin port %s", m[1], m[2], adminPort)
		}
		if allowed == nil || !slices.Contains(strings.Split(allowed[1], ","), m[1]) {
			t.Errorf("prometheus.yml: target %s is not in x-logplex LOGPLEX_ADMIN_ALLOWED_HOSTS: its scrapes would get 403", m[1])
		}
	}
}

// checkDepends checks that every depends_on entry ("- name" or "name:",
// one level below depends_on) is a service.
func checkDepends(t *testing.T, where string, lines []string, names map[string]bool) {
	t.Helper()
	reDep := regexp.MustCompile(`^\s+(?:- )?([a-zA-Z0-9_.-]+):?\s*$`)
	inDeps, depIndent := false, 0
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) == "depends_on:" {
			inDeps, depIndent = true, indent
			continue
		}
		if inDeps && indent <= depIndent {
			inDeps = false
		}
		if m := reDep.FindStringSubmatch(l); inDeps && m != nil && indent == depIndent+2 {
			if !names[m[1]] {
				t.Errorf("%s: depends_on %s, which is not a service", where, m[1])
			}
		}
	}
}

// TestComposeConfig runs `docker compose config` (or docker-compose) when
// it is installed; neither needs a running Docker daemon.
func TestComposeConfig(t *testing.T) {
	file := filepath.Join(deployDir, "docker-compose.yml")
	cmd := composeCommand(t)
	c := exec.Command(cmd[0], append(cmd[1:], "-f", file, "config", "-q")...)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(cmd, " "), err, out)
	}
}

// composeCommand returns `docker compose` when the docker CLI has the compose
// plugin, else docker-compose; neither fails the test when CI is set. The
// probes' output goes into the message: a tool that is installed but does
// not start says why instead of vanishing into a skip.
func composeCommand(t *testing.T) []string {
	t.Helper()
	var why []string
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(c[0]); err != nil {
			why = append(why, c[0]+": not on PATH")
			continue
		}
		out, err := exec.Command(c[0], append(c[1:], "version")...).CombinedOutput()
		if err == nil {
			return c
		}
		why = append(why, fmt.Sprintf("%s version: %v: %s", strings.Join(c, " "), err, bytes.TrimSpace(out)))
	}
	testenv.Missing(t, "neither `docker compose` nor docker-compose works (%s): apt-get install -y docker-compose, or make deps with CI set",
		strings.Join(why, "; "))
	return nil
}

// portOf returns the port of a flag's default listen address.
func portOf(t *testing.T, name string) string {
	t.Helper()
	var s settings
	_, port, err := net.SplitHostPort(newFlagSet("logplex", &s).Lookup(name).DefValue)
	if err != nil {
		t.Fatalf("--%s default: %v", name, err)
	}
	return port
}

func TestHAProxyConfig(t *testing.T) {
	path := filepath.Join(deployDir, "haproxy", "haproxy.cfg")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, services := readCompose(t)
	names := map[string]bool{}
	for _, s := range services {
		names[s.name] = true
	}
	dp := map[string]bool{portOf(t, "syslog-addr"): true, portOf(t, "http-input-addr"): true}
	cp := map[string]bool{portOf(t, "api-addr"): true, portOf(t, "api-v3-addr"): true}
	binds := map[string]bool{}
	reServer := regexp.MustCompile(`^\s*server\s+\S+\s+([a-z0-9-]+):(\d+)(.*)$`)
	reCheckPort := regexp.MustCompile(`\bport\s+(\d+)`)
	reBind := regexp.MustCompile(`^\s*bind\s+\S*:(\d+)`)
	reChk := regexp.MustCompile(`^\s*(?:option\s+httpchk\s+GET|http-check\s+send\s+meth\s+GET\s+uri)\s+(\S+)(.*)$`)
	checks := map[string]bool{"/readyz": true, "/readyz?exclude=config-guard": true, "/healthcheck": true, "/v3/healthcheck": true}
	chk := "" // the health check of the backend being read
	admin := portOf(t, "admin-addr")
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if m := reBind.FindStringSubmatch(l); m != nil {
			binds[m[1]] = true
		}
		if m := reChk.FindStringSubmatch(l); m != nil {
			chk = m[1]
			if !checks[chk] {
				t.Errorf("haproxy.cfg: health check %s: logplex answers /readyz (admin), /healthcheck (:8601) and /v3/healthcheck (:8002)", chk)
			}
			// the admin listener refuses a request without an IP or
			// localhost Host (admin.go, guard)
			if strings.HasPrefix(chk, "/readyz") && !regexp.MustCompile(`\bhdr\s+Host\s+(localhost|[0-9.]+)\b`).MatchString(m[2]) {
				t.Errorf("haproxy.cfg: health check %s sends no Host the admin listener accepts (hdr Host localhost)", chk)
			}
		}
		m := reServer.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		// every data plane refuses a config that lost everything at once:
		// a check that takes them out for it stops all ingest
		if strings.HasPrefix(m[1], "dataplane") && chk == "/readyz" {
			t.Errorf("haproxy.cfg: %s checked on /readyz: use /readyz?exclude=config-guard for data planes", m[1])
		}
		servers++
		if !names[m[1]] {
			t.Errorf("haproxy.cfg: server %s is not a compose service", m[1])
		}
		ports := []string{m[2]}
		if c := reCheckPort.FindStringSubmatch(m[3]); c != nil {
			ports = append(ports, c[1])
		}
		want := dp
		if strings.HasPrefix(m[1], "controlplane") {
			want = cp
		}
		if len(ports) == 2 && ports[1] == admin {
			ports = ports[:1] // checked on the admin listener (/readyz)
		}
		for _, p := range ports {
			if !want[p] {
				t.Errorf("haproxy.cfg: %s port %s is not one of that role's listeners %v", m[1], p, want)
			}
		}
	}
	if servers == 0 {
		t.Fatal("haproxy.cfg: no servers")
	}
	for p := range dp {
		if !binds[p] {
			t.Errorf("haproxy.cfg: nothing binds data plane port %s", p)
		}
	}
	for p := range cp {
		if !binds[p] {
			t.Errorf("haproxy.cfg: nothing binds control plane port %s", p)
		}
	}
	hp := testenv.Tool(t, "apt-get install -y haproxy (make deps installs it when CI is set); the checks above ran without it", "haproxy")
	// -c resolves nothing at run time: the servers are compose names
	// (init-addr ... none), so this checks syntax and semantics only
	if out, err := exec.Command(hp, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	argVer := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)`).FindStringSubmatch(df)
	if goVer == nil || argVer == nil || argVer[1] != goVer[1] {
		t.Errorf("Dockerfile GO_VERSION %v does not match go.mod's go %v", argVer, goVer)
	}
	if !regexp.MustCompile(`(?m)^FROM golang:\$\{GO_VERSION\}\S* AS build`).MatchString(df) {
		t.Error("Dockerfile: want a golang:${GO_VERSION} build stage")
	}
	expose := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindAllStringSubmatch(df, -1) {
		for _, p := range strings.Fields(m[1]) {
			expose[strings.TrimSuffix(p, "/tcp")] = true
		}
	}
	for _, f := range []string{"syslog-addr", "http-input-addr", "api-addr", "api-v3-addr", "admin-addr"} {
		if p := portOf(t, f); !expose[p] {
			t.Errorf("Dockerfile: port %s (--%s) not EXPOSEd", p, f)
		}
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "root") || strings.HasPrefix(users[len(users)-1][1], "0") {
		t.Errorf("Dockerfile: the runtime stage must run as a non-root USER, got %v", users)
	}
	for _, m := range regexp.MustCompile(`(?m)^ENV (\S+)=(\S+)`).FindAllStringSubmatch(df, -1) {
		checkEnv(t, "Dockerfile ENV", m[1], m[2])
	}
	var entry, cmd []string
	if m := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])`).FindStringSubmatch(df); m == nil || json.Unmarshal([]byte(m[1]), &entry) != nil ||
		len(entry) != 1 || filepath.Base(entry[0]) != "logplex" {
		t.Errorf("Dockerfile: want ENTRYPOINT [\".../logplex\"], got %v", m)
	}
	if m := regexp.MustCompile(`(?m)^CMD (\[.*\])`).FindStringSubmatch(df); m == nil || json.Unmarshal([]byte(m[1]), &cmd) != nil {
		t.Errorf("Dockerfile: want CMD [\"role\", ...], got %v", m)
	} else {
		checkCommand(t, "Dockerfile CMD", cmd)
	}
}

// TestGrafanaDashboardMetricsExist checks that every metric the dashboard
// queries is exported: logplex_* names by the code (a name in a non-test
// source file), go_* and process_* by the metrics library.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "logplex.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("logplex.json: %v", err)
	}
	if dash["uid"] == "" || dash["title"] == "" {
		t.Error("logplex.json: want a uid and a title")
	}
	var exprs []string
	ids := map[float64]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			if _, isPanel := v["gridPos"]; isPanel {
				id, _ := v["id"].(float64)
				if ids[id] {
					t.Errorf("logplex.json: panel id %v used twice", id)
				}
				ids[id] = true
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(dash["panels"])
	if len(exprs) < 10 {
		t.Fatalf("logplex.json: %d queries, expected a dashboard", len(exprs))
	}

	src := sourceMetricNames(t)
	var lib bytes.Buffer
	writeLibraryMetrics(&lib) // as /metrics writes them (metrichelp.go renames a few)
	reName := regexp.MustCompile(`\b(?:logplex|go|process)_[a-z0-9_]+\b`)
	vars := regexp.MustCompile(`\$(\w+)`)
	defined := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}
	if tl, ok := dash["templating"].(map[string]any); ok {
		for _, v := range tl["list"].([]any) {
			defined[v.(map[string]any)["name"].(string)] = true
		}
	}
	for _, e := range exprs {
		for _, v := range vars.FindAllStringSubmatch(e, -1) {
			if !defined[v[1]] {
				t.Errorf("logplex.json: query %q uses undefined variable $%s", e, v[1])
			}
		}
		for _, n := range reName.FindAllString(e, -1) {
			if strings.HasPrefix(n, "logplex_") {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b := strings.TrimSuffix(n, suf); b != n && src[b] {
						base = b
					}
				}
				if !src[base] {
					t.Errorf("logplex.json: metric %s is not exported by the code (query %q)", n, e)
				}
			} else if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).Match(lib.Bytes()) {
				t.Errorf("logplex.json: metric %s is not written by the metrics library (query %q)", n, e)
			}
		}
	}
}

// TestOperationsDocMetricsExist checks the metric names docs/operations.md
// tells operators to look at.
func TestOperationsDocMetricsExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	src := sourceMetricNames(t)
	var lib bytes.Buffer
	writeLibraryMetrics(&lib) // as /metrics writes them (metrichelp.go renames a few)
	n := 0
	for _, name := range regexp.MustCompile("`((?:logplex|go|process)_[a-z0-9_]+)").FindAllStringSubmatch(string(b), -1) {
		n++
		if strings.HasPrefix(name[1], "logplex_") {
			if !src[name[1]] {
				t.Errorf("docs/operations.md names metric %s, which the code does not export", name[1])
			}
		} else if !regexp.MustCompile(`(?m)^` + name[1] + `[{ ]`).Match(lib.Bytes()) {
			t.Errorf("docs/operations.md names metric %s, which the metrics library does not write", name[1])
		}
	}
	if n < 10 {
		t.Errorf("docs/operations.md names only %d metrics", n)
	}
}

// sourceMetricNames collects logplex_* names from the non-test Go sources.
func sourceMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`logplex_[a-z0-9_]+`)
	names := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy" || d.Name() == "docs") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range re.FindAllString(string(b), -1) {
			names[n] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

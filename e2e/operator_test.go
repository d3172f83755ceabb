package e2e

import (
	"bytes"
	jsonpkg "encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/testenv"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// runBin runs the binary to its end (bounded) and returns its exit status
// and combined output.
func runBin(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "LOGPLEX_AUTH_KEY=", "LOGPLEX_CONFIG_REDIS_URL=")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("logplex %v still running after 30s:\n%s", args, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestOperatorBadSettingsRefused: issue 17 item 5, through the binary.
func TestOperatorBadSettingsRefused(t *testing.T) {
	code, out := runBin(t, []string{"LOGPLEX_LOG_HISTORY=-5"}, "all", "--data-dir", t.TempDir(),
		"--api-status=foo", "--legacy-api-status=read-only", "--tls-mode=foo", "--tcp-syslog-send-loss-msg=maybe",
		"--event-loops=-3", "--history-writers=0", "--firehose-channel-ids=abc", "--api-endpoint-url=notaurl")
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{
		`--api-status="foo" (env LOGPLEX_API_STATUS or API_STATUS): want one of normal, read_only, disabled`,
		`--legacy-api-status="read-only"`, `--tls-mode="foo"`, `--tcp-syslog-send-loss-msg="maybe"`,
		`--log-history="-5" (env LOGPLEX_LOG_HISTORY): want an integer of at least 1`,
		`--event-loops="-3"`, `--history-writers="0"`, `--firehose-channel-ids="abc"`, `--api-endpoint-url="notaurl"`,
		"9 invalid setting(s); nothing started",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestOperatorUnknownEnvWarned: a misspelled LOGPLEX_* variable is named
// at start with the variable it probably meant.
func TestOperatorUnknownEnvWarned(t *testing.T) {
	p := Start(t, binPath, "all", t.TempDir(), []string{"LOGPLEX_LOG_HISTROY=5"})
	if !strings.Contains(p.Output(), "unknown environment variable LOGPLEX_LOG_HISTROY is ignored (did you mean LOGPLEX_LOG_HISTORY?)") {
		t.Errorf("no warning:\n%s", p.Output())
	}
}

// TestOperatorCheck: `logplex check` lists every problem (settings, Redis,
// port, files) and exits 1; on a good setup it exits 0.
func TestOperatorCheck(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dead := FreePort(t)
	code, out := runBin(t, nil, "check", "dataplane", "--config-redis-url", fmt.Sprintf("redis://127.0.0.1:%d", dead),
		"--syslog-addr", busy.Addr().String(), "--http-input-addr", "127.0.0.1:0", "--admin-addr", "",
		"--api-status", "foo", "--syslog-tls-addr", "127.0.0.1:0", "--syslog-tls-cert", "/nonexistent/cert.pem",
		"--syslog-tls-key", "/nonexistent/key.pem")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		`PROBLEM  settings     --api-status="foo"`,
		"PROBLEM  redis        redis redis://127.0.0.1:",
		"PROBLEM  port         --syslog-addr " + busy.Addr().String() + ": address already in use",
		"PROBLEM  file         --syslog-tls-cert/--syslog-tls-key: open /nonexistent/cert.pem",
		"4 problem(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rs := redistest.Start(t)
	code, out = runBin(t, nil, "check", "controlplane", "--config-redis-url", rs.URL(),
		"--api-addr", "127.0.0.1:0", "--api-v3-addr", "127.0.0.1:0", "--admin-addr", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	if code != 0 || !strings.Contains(out, "no problems: logplex controlplane can start") {
		t.Fatalf("good setup: exit %d:\n%s", code, out)
	}
}

// TestOperatorSIGHUPEveryRole: SIGHUP never kills a role (the control plane
// died with exit 129); it re-reads --log-level-file and says so, and no
// role claims a TLS reload without a TLS listener.
func TestOperatorSIGHUPEveryRole(t *testing.T) {
	rs := redistest.Start(t)
	env := []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL(), "LOGPLEX_AUTH_KEY=k"}
	for _, role := range []string{"controlplane", "dataplane", "all"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			lvl := filepath.Join(dir, "level")
			if err := os.WriteFile(lvl, []byte("info\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := Start(t, binPath, role, dir, env, "--log-level-file", lvl)
			if err := os.WriteFile(lvl, []byte("debug\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 2; i++ { // one at a time: signals sent together may merge
				if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				Eventually(t, 10*time.Second, "SIGHUP handled", func() bool {
					return strings.Count(p.Output(), "SIGHUP: log level read from file") == i
				})
			}
			select {
			case <-p.done:
				t.Fatalf("logplex %s exited on SIGHUP:\n%s", role, p.Output())
			default:
			}
			if !strings.Contains(p.Output(), "level=DEBUG") {
				t.Errorf("the new level is not in effect:\n%s", p.Output())
			}
			if strings.Contains(p.Output(), "TLS certificate reloaded") {
				t.Errorf("a TLS reload claimed without a TLS listener:\n%s", p.Output())
			}
		})
	}
}

// TestOperatorPortInUse: a taken syslog port is reported as such, not as
// gnet's "setsockopt: bad file descriptor"; the process exits 1.
func TestOperatorPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out := runBin(t, nil, "all", "--data-dir", t.TempDir(), "--syslog-addr", busy.Addr().String(),
		"--http-input-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--api-v3-addr", "127.0.0.1:0", "--admin-addr", "")
	if code != 1 || !strings.Contains(out, "--syslog-addr "+busy.Addr().String()+": address already in use") ||
		strings.Contains(out, "bad file descriptor") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// with --log-format json the reason is a JSON record too
	code, out = runBin(t, nil, "all", "--data-dir", t.TempDir(), "--syslog-addr", busy.Addr().String(), "--log-format", "json",
		"--http-input-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--api-v3-addr", "127.0.0.1:0", "--admin-addr", "")
	last := out[strings.LastIndex(strings.TrimRight(out, "\n"), "\n")+1:]
	var rec map[string]any
	if code != 1 || jsonpkg.Unmarshal([]byte(last), &rec) != nil || !strings.Contains(fmt.Sprint(rec["err"]), "address already in use") {
		t.Fatalf("json: exit %d, last line %q", code, last)
	}
}

// TestOperatorRedisDownAtFirstStart: the first load failing says that no
// config is loaded yet, not that a last snapshot is kept.
func TestOperatorRedisDownAtFirstStart(t *testing.T) {
	cmd := exec.Command(binPath, "controlplane", "--config-redis-url", fmt.Sprintf("redis://127.0.0.1:%d", FreePort(t)),
		"--api-addr", "127.0.0.1:0", "--api-v3-addr", "127.0.0.1:0", "--admin-addr", "")
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	Eventually(t, 10*time.Second, "a config load failure logged", func() bool {
		return strings.Contains(out.String(), "config store unreachable and no config loaded yet")
	})
	if strings.Contains(out.String(), "keeping the last snapshot") {
		t.Errorf("claims a last snapshot that does not exist:\n%s", out.String())
	}
}

// TestOperatorBootstrapPasswordOnce: the bootstrap password is printed by
// the start that creates it; a later start names its file instead.
func TestOperatorBootstrapPasswordOnce(t *testing.T) {
	dir := t.TempDir()
	p := StartAll(t, binPath, dir)
	if p.Pass == "" || !strings.Contains(p.Output(), "created now and shown this once") {
		t.Fatalf("first start did not show the new credential:\n%s", p.Output())
	}
	p.Stop()
	before := len(p.out.String())
	p.Restart()
	stdout, err := os.ReadFile(p.stdouts[len(p.stdouts)-1]) // the second start's
	if err != nil {
		t.Fatal(err)
	}
	later := p.out.String()[before:] + string(stdout)
	if strings.Contains(later, p.Pass) {
		t.Errorf("a later start printed the password:\n%s", later)
	}
	if !strings.Contains(later, "id:password in "+filepath.Join(dir, "bootstrap-credential")) {
		t.Errorf("a later start does not say where the credential is:\n%s", later)
	}
	if r := Do(t, "GET", "http://"+p.API+"/healthcheck", p.User, p.Pass, nil, nil); r.Status != 200 {
		t.Errorf("the kept credential: %d", r.Status)
	}
}

// TestOperatorJSONLogs: with --log-format json every stderr line is a JSON
// object (the audit lines of API writes included) and durations are
// strings.
func TestOperatorJSONLogs(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--log-format", "json")
	if r := Do(t, "POST", "http://"+p.API+"/channels", p.User, p.Pass, nil, []byte(`{"tokens":["app"]}`)); r.Status != 201 {
		t.Fatalf("POST /channels: %d", r.Status)
	}
	Eventually(t, 5*time.Second, "an audit line", func() bool { return strings.Contains(p.Output(), `"msg":"api write"`) })
	p.Stop()
	sawDuration := false
	for _, l := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
		if strings.HasPrefix(l, "stdout: ") {
			continue // the banner
		}
		var m map[string]any
		if err := jsonpkg.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not JSON: %q", l)
			continue
		}
		if m["msg"] == "api write" && (m["cred"] != p.User || m["path"] != "/channels" || m["status"] != float64(201)) {
			t.Errorf("audit line %v", m)
		}
		if d, ok := m["timeout"]; ok {
			sawDuration = true
			if _, isString := d.(string); !isString {
				t.Errorf("duration as %T: %q", d, l)
			}
		}
	}
	if !sawDuration {
		t.Errorf("no duration logged (the shutdown line has one):\n%s", p.Output())
	}
}

// TestOperatorCLIEdges: help texts of every role, bench and check in
// `logplex help`, cred edges.
func TestOperatorCLIEdges(t *testing.T) {
	code, out := runBin(t, nil, "help")
	if code != 0 || !strings.Contains(out, "logplex bench [flags]") || !strings.Contains(out, "logplex check [ROLE] [flags]") {
		t.Errorf("help: exit %d:\n%s", code, out)
	}
	for _, role := range []string{"all", "dataplane", "controlplane", "check"} {
		code, out := runBin(t, nil, role, "--help")
		if code != 0 || !strings.Contains(out, "Usage:\n  logplex "+role) || !strings.Contains(out, "--syslog-addr") {
			t.Errorf("%s --help: exit %d:\n%.300s", role, code, out)
		}
	}
	dir := t.TempDir()
	if code, out := runBin(t, nil, "cred", "create", "--data-dir", dir); code != 2 || !strings.Contains(out, "--name is required") {
		t.Errorf("cred create without --name: exit %d:\n%s", code, out)
	}
	if code, out := runBin(t, nil, "cred", "list", "--data-dir", filepath.Join(dir, "typo")); code != 1 || !strings.Contains(out, "no embedded store") {
		t.Errorf("cred list on no store: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo")); !os.IsNotExist(err) {
		t.Errorf("cred list created a store: %v", err)
	}
}

// TestOperatorPromtoolEveryRole: the live /metrics of each role, with
// drains of every type running, has a HELP text on every family and passes
// `promtool check metrics` (required under CI); control rods are labelled
// by state.
func TestOperatorPromtoolEveryRole(t *testing.T) {
	rs := redistest.Start(t)
	env := []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL(), "LOGPLEX_AUTH_KEY=k"}
	dir := t.TempDir()
	// the syslog+tls drains' receiver never completes a handshake: their
	// flush at shutdown would take the whole default --shutdown-timeout
	// (10 s, as long as Stop waits)
	cp := Start(t, binPath, "controlplane", dir, env, "--allow-private-drains", "--shutdown-timeout", "2s")
	dp := Start(t, binPath, "dataplane", dir, env, "--allow-private-drains", "--shutdown-timeout", "2s")
	all := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--shutdown-timeout", "2s")
	sink := StartHTTPSink(t)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	addDrains := func(api, user, pass string, h map[string]string) (token string) {
		r := Do(t, "POST", "http://"+api+"/channels", user, pass, h, []byte(`{"tokens":["app"]}`))
		var ch struct {
			ChannelID int               `json:"channel_id"`
			Tokens    map[string]string `json:"tokens"`
		}
		JSON(t, r, &ch)
		for _, u := range []string{sink.URL, "syslog://" + tcp.Addr().String(), "syslog+tls://" + tcp.Addr().String()} {
			r := Do(t, "POST", fmt.Sprintf("http://%s/v2/channels/%d/drains", api, ch.ChannelID), user, pass, h, []byte(`{"url":"`+u+`"}`))
			if r.Status != 201 {
				t.Fatalf("drain %s: %d %s", u, r.Status, r.Body)
			}
		}
		return ch.Tokens["app"]
	}
	tokens := map[*Proc]string{
		dp:  addDrains(cp.API, "", "", map[string]string{"Authorization": "Basic k"}),
		all: addDrains(all.API, all.User, all.Pass, nil),
	}
	for _, p := range []*Proc{cp, dp, all} {
		if p.role != "controlplane" {
			// a drain's series appear with its first message
			Eventually(t, 10*time.Second, p.role+" runs the drains", func() bool {
				postLogs(t, p, tokens[p], "<134>1 2012-12-10T03:00:48.123456Z erlang "+tokens[p]+" console.1 - - series")
				page := Do(t, "GET", "http://"+p.Adm+"/metrics", "", "", nil, nil).Body
				return strings.Contains(page, `drain_type="tlssyslog"`) && strings.Contains(page, `drain_type="tcpsyslog"`) &&
					strings.Contains(page, `drain_type="http"`)
			})
		}
		page := Do(t, "GET", "http://"+p.Adm+"/metrics", "", "", nil, nil).Body
		parseProm(t, page)
		for _, l := range strings.Split(page, "\n") {
			if strings.HasPrefix(l, "# HELP ") && (len(strings.Fields(l)) < 4 || strings.Contains(l, "(no help text")) {
				t.Errorf("%s: no help text: %q", p.role, l)
			}
		}
		if !strings.Contains(page, `logplex_control_rod{rod="api_status",state="normal"} 1`) ||
			!strings.Contains(page, `logplex_control_rod{rod="deny_tail_sessions",state="on"} 0`) {
			t.Errorf("%s: control rods not labelled by state", p.role)
		}
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("promtool is missing under CI (scripts/install-deps.sh installs it with CI=true)")
			}
			t.Logf("promtool not installed: %s checked without it", p.role)
			continue
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", p.role, err, out)
		}
	}
}

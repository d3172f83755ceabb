package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/readyz"
	"github.com/logplex/logplex/internal/testenv"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// getReadyz is one GET /readyz on a process's admin address.
func getReadyz(t *testing.T, p *Proc, query string) Resp {
	t.Helper()
	return Do(t, "GET", "http://"+p.Adm+"/readyz"+query, "", "", nil, nil)
}

// configAccept runs `logplex config accept` against the config Redis.
func configAccept(t *testing.T, redisURL string) string {
	t.Helper()
	cmd := exec.Command(binPath, "config", "accept")
	cmd.Env = append(os.Environ(), "LOGPLEX_CONFIG_REDIS_URL="+redisURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("logplex config accept: %v\n%s", err, out)
	}
	return string(out)
}

// TestConfigRedisRestartedEmpty is issue 17's item 1: the config Redis (no
// persistence) is killed and comes back EMPTY on the same port while load
// flows through a data plane. Without the guard every node adopted the
// empty config about 1.7 s later and dropped the rest as unknown tokens.
// Now: every message reaches its drain, every node refuses the empty
// config and says so on /readyz and in logplex_config_refused, and
// `logplex config accept` makes the empty config take effect.
func TestConfigRedisRestartedEmpty(t *testing.T) {
	rs := redistest.Start(t) // nothing on disk: a restart comes back empty
	sink := StartHTTPSink(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()},
		"--allow-private-drains", "--http-drain-buffer-size", "200000")
	id, tok := c.createChannel(t)
	r := Do(t, "POST", "http://"+c.cp.API+"/v2/channels/"+id+"/drains", "", "", c.header, []byte(`{"url":"`+sink.URL+`"}`))
	if r.Status != 201 {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	procs := append([]*Proc{c.cp}, c.dps...)
	dp := c.dps[0]
	const n = 60_000
	// the first half while the config is whole (the drain may take a
	// moment to reach the data plane: wait for the first message first)
	marker := 1_000_000 // warm-up messages, outside the counted range
	Eventually(t, 10*time.Second, "the drain is running", func() bool {
		sendTCP(t, dp.Syslog, tok, marker, marker+1, nil)
		marker++
		d, _ := sink.CountRange(1_000_000, 2_000_000)
		return d > 0
	})
	sendTCP(t, dp.Syslog, tok, 0, n/2, nil)
	Eventually(t, 30*time.Second, "drain received the first half", func() bool {
		d, _ := sink.CountRange(0, n)
		return d == n/2
	})
	unknown0 := Metric(t, dp.Adm, "logplex_unknown_token_total")
	loads := make([]float64, len(procs))
	for i, p := range procs {
		loads[i] = Metric(t, p.Adm, "logplex_config_full_loads_total")
	}

	rs.Restart() // empty, same port
	// every node loads the empty config in full (the feed broke); with
	// the guard broken that is when they adopt it
	for i, p := range procs {
		Eventually(t, 20*time.Second, "a full config load after the restart", func() bool {
			return Metric(t, p.Adm, "logplex_config_full_loads_total") > loads[i]
		})
	}
	sendTCP(t, dp.Syslog, tok, n/2, n, nil)
	Eventually(t, 30*time.Second, "drain received all messages", func() bool {
		d, _ := sink.CountRange(0, n)
		return d == n
	})
	if d, dups := sink.CountRange(0, n); dups != 0 || sink.Reported() != 0 {
		t.Fatalf("drain: %d distinct, %d duplicates, %d reported dropped", d, dups, sink.Reported())
	}
	if u := Metric(t, dp.Adm, "logplex_unknown_token_total"); u != unknown0 {
		t.Fatalf("%.0f messages became unknown tokens", u-unknown0)
	}
	for _, p := range procs {
		r := getReadyz(t, p, "")
		if r.Status != 503 || !strings.Contains(r.Body, "[-]config-guard failed: config refused") {
			t.Fatalf("%s /readyz while refusing: %d\n%s", p.role, r.Status, r.Body)
		}
		if v := Metric(t, p.Adm, "logplex_config_refused"); v != 1 {
			t.Fatalf("%s logplex_config_refused = %v, want 1", p.role, v)
		}
		if v := Metric(t, p.Adm, "logplex_config_refused_total"); v < 1 {
			t.Fatalf("%s logplex_config_refused_total = %v", p.role, v)
		}
		if !strings.Contains(p.Output(), "config refused; keeping the last good snapshot") {
			t.Fatalf("%s did not log the refusal:\n%s", p.role, p.Output())
		}
	}
	// a load balancer in front of data planes skips the guard's check
	if r := getReadyz(t, dp, "?exclude=config-guard"); r.Status != 200 {
		t.Fatalf("data plane /readyz?exclude=config-guard: %d\n%s", r.Status, r.Body)
	}
	t.Logf("refused: %s", getReadyz(t, dp, "").Body)

	out := configAccept(t, rs.URL())
	if !strings.Contains(out, "accepted the config of epoch") {
		t.Fatalf("config accept said: %s", out)
	}
	for _, p := range procs {
		Eventually(t, 10*time.Second, p.role+" ready after the acceptance", func() bool {
			return getReadyz(t, p, "").Status == 200
		})
		if v := Metric(t, p.Adm, "logplex_config_refused"); v != 0 {
			t.Fatalf("%s logplex_config_refused = %v after the acceptance", p.role, v)
		}
	}
	// the new, empty config is in force: the old token is unknown now
	Eventually(t, 10*time.Second, "the old token is unknown", func() bool {
		sendTCP(t, dp.Syslog, tok, n, n+1, nil)
		return Metric(t, dp.Adm, "logplex_unknown_token_total") > unknown0
	})
}

// TestReadyzStoreDown is issue 17's item 4: with the config Redis down a
// control plane's /v3/healthcheck and /readyz answer 503 (every API write
// would), so a load balancer takes it out; a data plane stays ready (it
// routes on its snapshot). When Redis is back, both are ready again.
func TestReadyzStoreDown(t *testing.T) {
	rs := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always") // comes back with its data
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
	c.createChannel(t)
	hc := func() Resp { return Do(t, "GET", "http://"+c.cp.V3+"/v3/healthcheck", "", "", nil, nil) }
	if r := hc(); r.Status != 200 || r.Body != "OK" {
		t.Fatalf("/v3/healthcheck with Redis up: %d %q", r.Status, r.Body)
	}
	// a flood of (unauthenticated) health checks costs the store about
	// one write (INCR healthcheck) per 500 ms, not one per check
	before, _ := rs.MustDo(t, "GET", "healthcheck").(string)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if r, err := (httpGetter{}).get("http://" + c.cp.V3 + "/v3/healthcheck"); err != nil || r.Status != 200 {
					t.Errorf("/v3/healthcheck: %v %d", err, r.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	after, _ := rs.MustDo(t, "GET", "healthcheck").(string)
	b, _ := strconv.Atoi(before)
	a, _ := strconv.Atoi(after)
	if limit := 2 + int(time.Since(t0)/(500*time.Millisecond)); a-b > limit {
		t.Fatalf("400 health checks in %s made %d store writes, want at most %d", time.Since(t0), a-b, limit)
	}
	rs.Stop()
	Eventually(t, 10*time.Second, "/v3/healthcheck 503 with Redis down", func() bool { return hc().Status == 503 })
	if r := getReadyz(t, c.cp, ""); r.Status != 503 || !strings.Contains(r.Body, "[-]store failed: config store cannot serve writes") {
		t.Fatalf("control plane /readyz with Redis down: %d\n%s", r.Status, r.Body)
	}
	if r := Do(t, "POST", "http://"+c.cp.API+"/channels", "", "", c.header, []byte(`{"tokens":["app"]}`)); r.Status != 503 {
		t.Fatalf("a write with Redis down: %d %s", r.Status, r.Body)
	}
	for _, dp := range c.dps {
		if r := getReadyz(t, dp, ""); r.Status != 200 {
			t.Fatalf("data plane /readyz with Redis down: %d\n%s", r.Status, r.Body)
		}
	}
	if r := Do(t, "GET", "http://"+c.cp.Adm+"/livez", "", "", nil, nil); r.Status != 200 {
		t.Fatalf("/livez with Redis down: %d", r.Status)
	}
	rs.Restart()
	Eventually(t, 15*time.Second, "ready again with Redis back", func() bool {
		return hc().Status == 200 && getReadyz(t, c.cp, "").Status == 200
	})
}

// TestReadyzBooting: a node whose config Redis is not there yet is alive
// but not ready ("config" failing, /healthcheck 503 SYSTEM BOOTING); it
// becomes ready when Redis comes. `logplex all` without an auth key waits
// for Redis to create its bootstrap credential (it used to exit 1 at
// once), then prints it in its banner, and it works.
func TestReadyzBooting(t *testing.T) {
	for _, role := range []string{"dataplane", "all"} {
		t.Run(role, func(t *testing.T) { readyzBooting(t, role) })
	}
}

func readyzBooting(t *testing.T, role string) {
	rs := redistest.Start(t)
	rs.Stop()
	adm, logs := fmt.Sprintf("127.0.0.1:%d", FreePort(t)), fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	api := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	args := []string{role, "--admin-addr", adm, "--http-input-addr", logs,
		"--syslog-addr", fmt.Sprintf("127.0.0.1:%d", FreePort(t)), "--data-dir", t.TempDir()}
	if role == "all" {
		args = append(args, "--api-addr", api, "--api-v3-addr", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "LOGPLEX_CONFIG_REDIS_URL="+rs.URL(), "LOGPLEX_AUTH_KEY=")
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); <-done })
	var r Resp
	Eventually(t, 20*time.Second, "/readyz answers", func() bool {
		select {
		case <-done:
			t.Fatalf("exited while its config Redis was down:\n%s", out.String())
		default:
		}
		res, err := (&httpGetter{}).get("http://" + adm + "/readyz")
		if err != nil {
			return false
		}
		r = res
		return true
	})
	if r.Status != 503 || !strings.Contains(r.Body, "[-]config failed: no config snapshot loaded yet (booting)") {
		t.Fatalf("/readyz while booting: %d\n%s\n%s", r.Status, r.Body, out.String())
	}
	if h := Do(t, "GET", "http://"+logs+"/healthcheck", "", "", nil, nil); h.Status != 503 {
		t.Fatalf("/healthcheck while booting: %d %q", h.Status, h.Body)
	}
	if l := Do(t, "GET", "http://"+adm+"/livez", "", "", nil, nil); l.Status != 200 {
		t.Fatalf("/livez while booting: %d", l.Status)
	}
	if role == "all" { // its bootstrap credential waits for Redis too
		Eventually(t, 10*time.Second, "a failed try at the bootstrap credential logged", func() bool {
			return strings.Contains(out.String(), "bootstrap credential not created yet")
		})
	}
	select {
	case <-done:
		t.Fatalf("exited while its config Redis was down:\n%s", out.String())
	default:
	}
	rs.Restart()
	if err := readyz.Wait(adm, done, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if role != "all" {
		return
	}
	m := credLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no bootstrap credential in the banner:\n%s", out.String())
	}
	if r := Do(t, "GET", "http://"+api+"/healthcheck", m[1], m[2], nil, nil); r.Status != 200 {
		t.Fatalf("the banner's credential: GET /healthcheck %d %q", r.Status, r.Body)
	}
}

// httpGetter is a GET that reports a connection error instead of failing
// the test (for a listener that is not up yet).
type httpGetter struct{}

func (httpGetter) get(url string) (Resp, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return Resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return Resp{Status: res.StatusCode, Header: res.Header, Body: string(b)}, err
}

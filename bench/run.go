package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
)

// scenarioRun is one scenario from setup to teardown.
type scenarioRun struct {
	o   *Options
	s   Scenario
	ks  knobSet
	dir string
	// profile is the file name of this run's CPU profile (captureProfile),
	// one of its own for each run of a suite
	profile string
	res     *Result

	// effective generator settings
	conns, batch, size int
	rate               float64

	router   *Router
	redis    *Redis
	relay    *RelayProc
	api      *API
	httpSink *HTTPSink
	tcpSink  *TCPSink
	tails    *Tails
	gen      *Generator
	rec      *Recorder
	topo     *Topology

	moreHTTP []*HTTPSink // the platform scenario's further HTTP sinks
	// stall is how long settle waits for a delivery before it gives up
	// (0: settleStall); the outage scenarios wait out a drain's backoff
	stall time.Duration
	// the platform scenario: drains per channel (nil: DrainsPerChannel
	// each), and which endpoints are syslog drains
	chanDrains []int32
	endSyslog  []bool

	tokenIDs, tokenNames []string
	channelIDs           []int
	drains, tailsN       int
	cleanup              []func()
}

func (r *scenarioRun) progress(format string, a ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "bench: %s: %s\n", r.s.Name, fmt.Sprintf(format, a...))
	}
}

// runScenario sets up, measures and tears down one scenario; failures are
// reported in the result, not returned.
func runScenario(ctx context.Context, o *Options, s Scenario, ks knobSet, defaults map[string]string, dir, profile string) Result {
	res := Result{Scenario: s.Name, Desc: s.Desc, Idle: s.Idle, Knobs: map[string]string{}}
	r := &scenarioRun{o: o, s: s, ks: ks, dir: dir, profile: profile, res: &res}
	defer r.teardown()
	if err := r.settings(defaults); err != nil {
		res.Error = err.Error()
		return res
	}
	measure := r.measureLoad
	if s.Idle {
		measure = r.measureIdle
	} else if s.Outage > 0 {
		measure = r.measureOutage
	}
	if s.Platform != nil {
		measure = r.measurePlatform
	}
	if err := measure(ctx); err != nil && res.Skipped == "" {
		res.Error = err.Error()
		r.progress("error: %v", err)
	}
	return res
}

// settings resolves the generator settings and records every knob.
func (r *scenarioRun) settings(defaults map[string]string) error {
	s, o, k := &r.s, r.o, r.res.Knobs
	r.conns, r.batch, r.size, r.rate = s.Conns, s.Batch, o.Size, s.Rate
	if o.Conns > 0 {
		r.conns = o.Conns
	}
	if o.Batch > 0 {
		r.batch = o.Batch
	}
	if o.Rate > 0 && !strings.Contains(s.Name, "@") {
		r.rate = o.Rate
	}
	if o.Spread != "" {
		s.Spread = o.Spread
	}
	for name, v := range r.ks.gen {
		if name == "outage" { // a duration: outage.go reads it
			continue
		}
		f, err := ParseRate(v)
		if err != nil {
			return fmt.Errorf("knob %s=%s: %w", name, v, err)
		}
		switch name {
		case "batch":
			r.batch = int(f)
		case "conns":
			r.conns = int(f)
		case "size":
			r.size = int(f)
		case "rate":
			r.rate = f
		}
	}
	if r.batch <= 0 {
		r.batch = 64
		if s.Input == "http" {
			r.batch = 100
		}
	}
	if s.Idle {
		k["process"] = "logplex all, no config"
	} else {
		k["input"], k["conns"], k["batch"], k["size"] = s.Input, strconv.Itoa(r.conns), strconv.Itoa(r.batch), strconv.Itoa(r.size)
		k["rate"] = "max"
		if s.Sustained {
			k["rate"] = "sustained (search)"
		} else if r.rate > 0 {
			k["rate"] = strconv.FormatFloat(r.rate, 'f', -1, 64)
		}
		k["duration"] = o.Duration.String()
		k["spread"] = s.Spread
		if s.Spread == "zipf" {
			k["spread"] = "zipf(" + strconv.FormatFloat(o.ZipfS, 'f', -1, 64) + ")"
		}
	}
	if !s.Idle && !s.Relay {
		k["channels"] = strconv.Itoa(s.Channels)
		k["tokens"] = strconv.Itoa(s.Channels * s.TokensPerChannel)
		k["drains"] = fmt.Sprintf("%d x %s", s.DrainsPerChannel, s.Drain)
		k["history"] = s.History
		k["config_store"] = "embedded"
		if s.ConfigRedis {
			k["config_store"] = "redis"
		}
		if s.Compression != "" {
			k["compression"] = s.Compression
		}
		if o.SinkTLS && s.Drain != "syslog" {
			k["sinks"] = "tls (h2 and http/1.1 by ALPN)"
		}
		if s.Tails > 0 {
			k["tails"] = strconv.Itoa(s.Tails)
		}
	}
	if s.Relay {
		k["process"] = "relay (bench relay)"
		return nil
	}
	if o.Target.API != "" {
		k["router"] = "target " + config.RedactURL(o.Target.API)
		if _, ok := k["history"]; ok {
			k["history"], k["config_store"] = "as configured on the target", "as configured on the target"
		}
		return nil
	}
	for name, v := range defaults {
		k["router --"+name] = v
	}
	for _, f := range r.routerFlags() {
		name, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		k["router --"+name] = v
	}
	k["env GOMAXPROCS"] = "unset (" + strconv.Itoa(numCPU()) + " CPUs; the router runs one P more than its event loops)"
	for _, e := range r.ks.env {
		name, v, _ := strings.Cut(e, "=")
		k["env "+name] = v
	}
	if o.RouterCPUs != "" {
		k["router_cpus"] = o.RouterCPUs
	}
	if len(r.ks.flags)+len(r.ks.env) == 0 {
		k["router_settings"] = "default" // no --knob: what oneCoreChecks require
	}
	return nil
}

// routerFlags are the scenario's flags followed by the user's knobs.
func (r *scenarioRun) routerFlags() []string {
	var f []string
	if r.s.History == "off" && !r.s.Idle {
		f = append(f, "--deny-redis-buffers=true")
	}
	f = append(f, "--max-drains-per-channel="+strconv.Itoa(max(6, r.s.DrainsPerChannel)))
	if r.s.Spill {
		f = append(f, "--drain-spill-dir="+filepath.Join(r.dir, "spill"), "--drain-spill-all=true")
	}
	f = append(f, r.s.RouterArgs...)
	return append(f, r.ks.flags...)
}

func (r *scenarioRun) teardown() {
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
}

// onTeardown registers f to run (in reverse order) when the scenario ends.
func (r *scenarioRun) onTeardown(f func()) { r.cleanup = append(r.cleanup, f) }

// startRouter starts redis-server (when the scenario needs it) and logplex.
func (r *scenarioRun) startRouter() error {
	if r.o.Target.API != "" {
		return r.useTarget()
	}
	env := append([]string(nil), r.ks.env...)
	if r.s.History == "redis" || r.s.ConfigRedis {
		rd, err := StartRedis(r.dir)
		if err != nil {
			return err
		}
		r.redis = rd
		r.onTeardown(rd.Stop)
		env = append(env, "LOGPLEX_CONFIG_REDIS_URL="+rd.URL())
	}
	rt, err := StartRouter(r.o.Bin, r.o.RouterCPUs, r.dir, r.routerFlags(), env)
	if err != nil {
		return err
	}
	r.router = rt
	r.onTeardown(rt.Stop)
	r.api = NewAPI(rt.API, rt.User, rt.Pass, 16)
	return nil
}

// useTarget points the run at a running cluster.
func (r *scenarioRun) useTarget() error {
	t := r.o.Target
	u, err := url.Parse(t.API)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--target %q: want http://user:pass@host:port", t.API)
	}
	pass, _ := u.User.Password()
	r.router = &Router{API: u.Host, Logs: "http://" + t.Logs + "/logs", Syslog: t.Syslog, Admin: t.Admin,
		User: u.User.Username(), Pass: pass, PID: t.PID}
	r.api = NewAPI(u.Host, r.router.User, pass, 16)
	r.onTeardown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = parallel(ctx, len(r.channelIDs), 8, func(ctx context.Context, i int) error {
			return r.api.DeleteChannel(ctx, r.channelIDs[i])
		})
	})
	return nil
}

// measureIdle starts the router and reads its RSS after it settles.
func (r *scenarioRun) measureIdle(ctx context.Context) error {
	if r.o.Target.API != "" {
		r.res.Skipped = "not measured against --target"
		return nil
	}
	if err := r.startRouter(); err != nil {
		return err
	}
	wait := 2 * time.Second
	if r.o.Quick {
		wait = 500 * time.Millisecond
	}
	sleepCtx(ctx, wait)
	p0, err := ReadProc(r.router.PID)
	if err != nil {
		return err
	}
	sleepCtx(ctx, 2*wait)
	p1, err := ReadProc(r.router.PID)
	if err != nil {
		return err
	}
	win := p1.Taken.Sub(p0.Taken).Seconds()
	r.res.WindowSeconds = win
	r.res.RouterCPUSeconds = (p1.CPU - p0.CPU).Seconds()
	r.res.RouterSysSeconds = (p1.Sys - p0.Sys).Seconds()
	r.res.RouterCores = r.res.RouterCPUSeconds / win
	r.res.RSSEndMiB, r.res.RSSPeakMiB, r.res.HWMMiB = mib(p1.RSS), mib(max(p0.RSS, p1.RSS)), mib(p1.HWM)
	r.progress("idle RSS %.1f MiB", r.res.RSSEndMiB)
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// tokenName is the name of token k: what drains and tails show.
func tokenName(k int) string { return "k" + string(appendHex(nil, uint64(k), 6)) }

// setupConfig creates the channels (with their tokens) and fills the
// topology, except for drains, which need the sinks.
func (r *scenarioRun) setupConfig(ctx context.Context) error {
	s := r.s
	nTok := s.Channels * s.TokensPerChannel
	r.tokenIDs, r.tokenNames = make([]string, nTok), make([]string, nTok)
	r.channelIDs = make([]int, s.Channels)
	r.drains, r.tailsN = s.Channels*s.DrainsPerChannel, s.Tails
	topo := &Topology{Conns: r.conns, TokenChannel: make([]int32, nTok), TokenNames: r.tokenNames, TokenIDs: r.tokenIDs,
		EndChannel: make([]int32, r.drains+r.tailsN), EndIsTail: make([]bool, r.drains+r.tailsN)}
	for k := range nTok {
		r.tokenNames[k] = tokenName(k)
		topo.TokenChannel[k] = int32(k % s.Channels)
	}
	for e := range r.drains {
		topo.EndChannel[e] = int32(e / s.DrainsPerChannel)
	}
	for i := range r.tailsN {
		topo.EndChannel[r.drains+i], topo.EndIsTail[r.drains+i] = int32(i), true
	}
	r.topo = topo
	if s.Relay {
		topo.TokenChannel = make([]int32, nTok)
		topo.EndChannel = []int32{-1}
		topo.EndIsTail = []bool{false}
		r.drains = 1
		for k := range nTok {
			r.tokenIDs[k] = fakeToken()
		}
		return nil
	}
	return parallel(ctx, s.Channels, 16, func(ctx context.Context, c int) error {
		names := make([]string, s.TokensPerChannel)
		for j := range names {
			names[j] = r.tokenNames[c+j*s.Channels]
		}
		id, toks, err := r.api.CreateChannel(ctx, names)
		if err != nil {
			return err
		}
		r.channelIDs[c] = id
		for j, n := range names {
			if r.tokenIDs[c+j*s.Channels] = toks[n]; toks[n] == "" {
				return fmt.Errorf("channel %d: no token %q in the answer", id, n)
			}
		}
		return nil
	})
}

func fakeToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "t." + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// startSinks starts the drain sinks (the relay's sink in raw mode).
func (r *scenarioRun) startSinks() error {
	listen := r.o.SinkHost + ":0"
	switch {
	case r.s.Relay || r.s.Drain == "syslog":
		ts, err := StartTCPSink(listen, r.rec, r.s.Relay)
		if err != nil {
			return err
		}
		r.tcpSink = ts
		r.onTeardown(ts.Close)
	default:
		hs, err := startHTTPSink(listen, r.rec, r.s.Drain == "otlp", r.o.SinkTLS)
		if err != nil {
			return err
		}
		r.httpSink = hs
		r.onTeardown(hs.Close)
	}
	return nil
}

// setupDrains adds every drain, pointed at the sinks.
func (r *scenarioRun) setupDrains(ctx context.Context) error {
	s := r.s
	if s.Drain == "syslog" && s.DrainsPerChannel > 1 {
		return fmt.Errorf("syslog drains: at most one per channel (they share the sink's URL)")
	}
	return parallel(ctx, r.drains, 16, func(ctx context.Context, e int) error {
		c := e / s.DrainsPerChannel
		var u string
		if r.tcpSink != nil {
			u = "syslog://" + r.tcpSink.Addr()
		} else if s.Drain == "otlp" {
			u = r.httpSink.otlpURL(r.o.SinkHost, e)
		} else {
			u = r.httpSink.URL(r.o.SinkHost, e)
		}
		tok, err := r.api.CreateDrain(ctx, r.channelIDs[c], u, s.Compression)
		if err != nil {
			return err
		}
		if r.tcpSink != nil {
			r.tcpSink.SetDrainToken(tok, e)
		}
		return nil
	})
}

// startTails opens the tail sessions on the first channels.
func (r *scenarioRun) startTails(ctx context.Context) error {
	if r.tailsN == 0 {
		return nil
	}
	urls := make([]string, r.tailsN)
	for i := range urls {
		u, err := r.api.CreateTailSession(ctx, r.channelIDs[i])
		if err != nil {
			return err
		}
		urls[i] = u
	}
	t, err := StartTails(ctx, r.rec, urls, r.drains)
	if err != nil {
		return err
	}
	r.tails = t
	r.onTeardown(t.Close)
	return nil
}

// startGenerator dials the load generator at the router (or the relay).
func (r *scenarioRun) startGenerator(ctx context.Context, layout *Layout) error {
	g := GenOptions{Proto: r.s.Input, Conns: r.conns, Batch: r.batch, Spread: r.s.Spread, ZipfS: r.o.ZipfS,
		Layout: layout, Tokens: len(r.tokenIDs)}
	switch {
	case r.relay != nil:
		g.Addr = r.relay.Addr
	case r.s.Input == "http":
		u, err := url.Parse(r.router.Logs)
		if err != nil {
			return err
		}
		g.Addr = u.Host
		g.Auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(r.router.User+":"+r.router.Pass))
	default:
		g.Addr = r.router.Syslog
	}
	gen, err := NewGenerator(ctx, g)
	if err != nil {
		return err
	}
	r.gen = gen
	r.onTeardown(gen.Close)
	return nil
}

// expected is the deliveries the drains (and tails) owe for per-token sends.
func (r *scenarioRun) expected(per []uint32) (drains, tails int64) {
	for k, n := range per {
		if r.chanDrains != nil {
			drains += int64(n) * int64(r.chanDrains[r.topo.TokenChannel[k]])
			continue
		}
		drains += int64(n)
		if int(r.topo.TokenChannel[k]) < r.tailsN {
			tails += int64(n)
		}
	}
	if !r.s.Relay {
		drains *= int64(r.s.DrainsPerChannel)
	}
	return drains, tails
}

// captureProfile saves a CPU profile of the router for secs seconds; the
// channel yields a note for the report when it is done.
func (r *scenarioRun) captureProfile(secs int) <-chan string {
	done := make(chan string, 1)
	if r.o.ProfileDir == "" || r.router == nil || r.router.Admin == "" {
		done <- ""
		return done
	}
	path := filepath.Join(r.o.ProfileDir, r.profile)
	admin := r.router.Admin
	go func() {
		c := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
		res, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs))
		if err != nil {
			done <- "profile: " + err.Error()
			return
		}
		defer res.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			done <- "profile: " + err.Error()
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, res.Body); err != nil {
			done <- "profile: " + err.Error()
			return
		}
		done <- "cpu profile: " + path
	}()
	return done
}

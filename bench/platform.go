package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logplex/logplex/config"
)

// Platform is the layout of the platform scenario (issue 15): a config the
// size of a platform's, written straight into the config Redis before the
// router starts, drains that answer like real receivers, and the figures
// only such a config shows: its size, how long the router takes to load
// it, what a full resync costs while idle, how long a config change takes
// to reach routing while the load runs, and requests per message at the
// sinks.
//
// Token k belongs to channel k mod Channels (id k mod Channels + 1), and
// the Zipf spread makes low token indices the busiest. The first
// HTTPDrains+SyslogDrains channels have one drain each, the syslog ones
// spread evenly among them: the busiest applications are the ones with
// drains (with Zipf(1.1) over 300 000 tokens about 90 % of the messages
// reach a drain), the long tail of channels has none.
type Platform struct {
	HTTPDrains   int           // channels with one HTTP drain
	SyslogDrains int           // channels with one syslog (TCP) drain
	HTTPSinks    int           // listeners the HTTP drains are spread over (default 4)
	SinkDelay    time.Duration // an HTTP sink's wait before each answer
	Probes       int           // config changes made while the load runs (half tokens, half drains)
	ProbeWorkers int           // probes at a time (default 2)
}

func init() {
	Scenarios["platform"] = Scenario{
		Desc: "platform scale (issue 15): 100 000 channels, 300 000 tokens, 20 000 HTTP drains (4 sinks answering after 3 ms) and 2 000 syslog drains " +
			"written straight to the config Redis; TCP in at 200 000 msgs/s, Zipf(1.1); config size, load time, idle resync cost, " +
			"config-change latency under load, requests per message",
		Channels: 100000, TokensPerChannel: 3, Spread: "zipf", ConfigRedis: true, Conns: 8, Rate: 200000,
		Platform: &Platform{HTTPDrains: 20000, SyslogDrains: 2000, HTTPSinks: 4, SinkDelay: 3 * time.Millisecond,
			Probes: 200, ProbeWorkers: 2},
		RouterArgs: []string{"--resync-interval=60s"},
		quick: func(s *Scenario) {
			p := *s.Platform
			p.HTTPDrains, p.SyslogDrains, p.HTTPSinks, p.Probes = 40, 4, 2, 10
			s.Platform, s.Channels, s.Rate = &p, 200, 2000
			s.RouterArgs = []string{"--resync-interval=1s"}
		},
	}
}

// scaled returns the scenario with its counts and rate multiplied by f
// (Options.Scale); a scaled run is not checked against the targets.
func (p Platform) scaled(s *Scenario, f float64) Platform {
	if f <= 0 || f == 1 {
		return p
	}
	n := func(v int) int { return max(1, int(math.Round(float64(v)*f))) }
	s.Channels = n(s.Channels)
	p.HTTPDrains, p.SyslogDrains = min(n(p.HTTPDrains), s.Channels), n(p.SyslogDrains)
	if p.HTTPDrains+p.SyslogDrains > s.Channels {
		p.SyslogDrains = max(0, s.Channels-p.HTTPDrains)
	}
	return p
}

// PlatformResult is what the platform scenario measures beyond the rest.
type PlatformResult struct {
	Channels     int `json:"channels"`
	Tokens       int `json:"tokens"`
	HTTPDrains   int `json:"http_drains"`
	SyslogDrains int `json:"syslog_drains"`

	// the config as written to Redis: keys, their key + field + value
	// bytes, Redis used_memory it added, and how long the pipelined
	// writes took
	ConfigKeys       int     `json:"config_keys"`
	ConfigBytes      int64   `json:"config_bytes"`
	RedisMemoryMiB   float64 `json:"redis_memory_mib"`
	WriteSeconds     float64 `json:"config_write_seconds"`
	LoadSeconds      float64 `json:"load_seconds"`       // router start to /readyz 200 (the config loaded)
	AllDrainsSeconds float64 `json:"all_drains_seconds"` // /readyz to every drain having delivered (warm-up)

	// the load window: requests (HTTP POSTs) and reads (syslog) at the
	// sinks per message delivered there, and full loads that fell in it
	HTTPDelivered   int64   `json:"http_delivered"`
	SyslogDelivered int64   `json:"syslog_delivered"`
	HTTPRequests    int64   `json:"http_requests"`
	SyslogReads     int64   `json:"syslog_reads"`
	ReqsPerMsgHTTP  float64 `json:"http_requests_per_msg"`
	ReadsPerMsgTCP  float64 `json:"syslog_reads_per_msg"`
	LoadWindowLoads int     `json:"full_loads_in_load_window"`
	// the router's own account of its feed during the load window
	// (logplex_config_change_delay_seconds: an entry's XADD to the snapshot
	// holding it): entries applied, and the upper bounds of the buckets
	// holding their median and 99th percentile
	FeedApplied  int     `json:"feed_entries_applied"`
	FeedDelayP50 float64 `json:"feed_delay_p50_ms_at_most"`
	FeedDelayP99 float64 `json:"feed_delay_p99_ms_at_most"`

	Changes ProbeStats  `json:"changes"`
	Resync  ResyncStats `json:"resync"`
	Scale   float64     `json:"scale,omitempty"` // Options.Scale when not 1
}

// ResyncStats is the idle phase: no traffic, the router resyncing at its
// --resync-interval; CPU from /proc, full loads from its metrics (read
// outside the window: a scrape costs CPU).
type ResyncStats struct {
	IntervalSeconds float64 `json:"interval_seconds"` // the router's --resync-interval
	// SettleSeconds is the wait before the window for the router to go
	// idle: the load's last requests answered and every drain connection to
	// the HTTP sinks closed by its keep-alive limit (the drains' senders let
	// go), so the window holds the idle router and its resyncs, not the
	// end of the load.
	SettleSeconds float64 `json:"settle_seconds"`
	WindowSeconds float64 `json:"window_seconds"`
	FullLoads     int     `json:"full_loads"` // logplex_config_full_loads_total increase in the window
	// Checks are the resyncs that found nothing missed and loaded nothing
	// (logplex_config_resyncs_skipped_total increase in the window)
	Checks          int     `json:"checks"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	RedisCPUSeconds float64 `json:"redis_cpu_seconds"`
	// BaselineCores is the median of 1 s CPU samples (the router idle
	// between resyncs); PerResync the window's CPU above it per resync
	// (full load or check).
	BaselineCores float64 `json:"baseline_cores"`
	PerResync     float64 `json:"cpu_seconds_per_resync"`
	// IdlePerMinute is the window's CPU per minute (at IntervalSeconds);
	// ResyncPerMinute is PerResync at one resync a minute (the default
	// interval).
	IdlePerMinute   float64 `json:"idle_core_seconds_per_minute"`
	ResyncPerMinute float64 `json:"resync_core_seconds_per_minute_at_60s"`
	// CheckCPUSeconds is the router's own account of its checks: the
	// process CPU time while they ran (logplex_config_resync_check_cpu_seconds_total
	// increase in the window); PerCheck divides it by Checks. Without a
	// full load in the window, it is the resync's cost measured directly
	// (the window's figure above attributes every idle task's noise to
	// the resyncs).
	CheckCPUSeconds float64 `json:"check_cpu_seconds"`
	PerCheck        float64 `json:"cpu_seconds_per_check"`
}

// perMinute is the idle resync cost at one resync a minute: the checks'
// own CPU when the window had no full load, else the window's figure.
func (rs ResyncStats) perMinute() (float64, string) {
	if rs.FullLoads == 0 && rs.Checks > 0 {
		return rs.PerCheck, "measured by the router around each check"
	}
	return rs.ResyncPerMinute, "the window's CPU above its baseline per resync"
}

// measurePlatform is measureLoad for the platform scenario.
func (r *scenarioRun) measurePlatform(ctx context.Context) error {
	if r.o.Target.API != "" {
		r.res.Skipped = "platform writes its config into its own Redis: not run against --target"
		return nil
	}
	t0 := time.Now()
	p := r.s.Platform.scaled(&r.s, r.o.Scale)
	if r.o.Scale > 0 && r.o.Scale != 1 && !strings.Contains(r.s.Name, "@") {
		r.rate *= r.o.Scale
	}
	pr := &PlatformResult{Channels: r.s.Channels, Tokens: r.s.Channels * r.s.TokensPerChannel,
		HTTPDrains: p.HTTPDrains, SyslogDrains: p.SyslogDrains}
	if r.o.Scale > 0 && r.o.Scale != 1 {
		pr.Scale = r.o.Scale
	}
	k := r.res.Knobs
	k["channels"], k["tokens"] = strconv.Itoa(pr.Channels), strconv.Itoa(pr.Tokens)
	k["drains"] = fmt.Sprintf("%d http (%d sinks, answer after %s) + %d syslog", p.HTTPDrains, max(p.HTTPSinks, 1), p.SinkDelay, p.SyslogDrains)
	k["rate"] = strconv.FormatFloat(r.rate, 'f', -1, 64)
	k["config_store"] = "redis (written directly)"

	if r.o.SinkTLS {
		k["sinks"] = "tls (h2 and http/1.1 by ALPN)"
	}
	if err := checkFileLimit(p, r.conns, r.sharedHTTP()); err != nil {
		return err
	}
	rd, err := StartRedis(r.dir)
	if err != nil {
		return err
	}
	r.redis = rd
	r.onTeardown(rd.Stop)
	r.platformTopology(p)
	layout, err := NewLayout(r.size, r.tokenIDs)
	if err != nil {
		return err
	}
	r.rec = NewRecorder(layout, r.topo)
	if err := r.startPlatformSinks(p); err != nil {
		return err
	}
	probes, probeSink, err := r.writePlatformConfig(ctx, p, pr)
	if err != nil {
		return err
	}
	r.progress("config written: %d keys, %.1f MiB in Redis, in %.1fs; starting the router", pr.ConfigKeys, pr.RedisMemoryMiB, pr.WriteSeconds)

	start := time.Now()
	rt, err := startRouter(r.o.Bin, r.o.RouterCPUs, r.dir, r.routerFlags(), append(append([]string(nil), r.ks.env...),
		"LOGPLEX_CONFIG_REDIS_URL="+rd.URL()), 10*time.Minute)
	if err != nil {
		return err
	}
	pr.LoadSeconds = time.Since(start).Seconds()
	r.router = rt
	r.onTeardown(rt.Stop)
	r.api = NewAPI(rt.API, rt.User, rt.Pass, 16)
	r.progress("router ready in %.1fs", pr.LoadSeconds)
	if err := r.startGenerator(ctx, layout); err != nil {
		return err
	}
	r.res.SetupSeconds = time.Since(t0).Seconds()
	sleepCtx(ctx, time.Second) // let the drains start
	if pp, err := ReadProc(rt.PID); err == nil {
		r.res.RSSConfiguredMiB = mib(pp.RSS)
	}
	ready := time.Now()
	if err := r.warmUp(ctx); err != nil {
		return err
	}
	pr.AllDrainsSeconds = time.Since(ready).Seconds()
	r.progress("warmed up in %.1fs (every drain delivered); measuring for %s with %d config-change probes", pr.AllDrainsSeconds, r.o.Duration, p.Probes)

	m0, _ := ScrapeMetrics(rt.Admin)
	reads0 := r.tcpSinkReads()
	probeDone := make(chan ProbeStats, 1)
	go func() { probeDone <- r.runProbes(ctx, probes, probeSink, r.o.Duration, max(p.ProbeWorkers, 1)) }()
	res := r.measure(ctx, r.rate, r.o.Duration)
	pr.Changes = <-probeDone
	m1, _ := ScrapeMetrics(rt.Admin)
	pr.LoadWindowLoads = int(Delta(m0, m1, "logplex_config_full_loads_total"))
	p50, n := HistogramQuantile(m0, m1, "logplex_config_change_delay_seconds", 0.5)
	p99, _ := HistogramQuantile(m0, m1, "logplex_config_change_delay_seconds", 0.99)
	pr.FeedApplied, pr.FeedDelayP50, pr.FeedDelayP99 = int(n), finiteMS(p50), finiteMS(p99)
	pr.SyslogReads = r.tcpSinkReads() - reads0
	pr.HTTPRequests = res.DrainRequests
	pr.HTTPDelivered, pr.SyslogDelivered = r.deliveredByKind()
	pr.ReqsPerMsgHTTP = ratio(float64(pr.HTTPRequests), float64(pr.HTTPDelivered))
	pr.ReadsPerMsgTCP = ratio(float64(pr.SyslogReads), float64(pr.SyslogDelivered))
	*r.res = res
	r.res.Platform = pr
	r.progress("in %.0f msgs/s, out %.0f msgs/s, lost %d, cpu %.3f s/M, RSS peak %.0f MiB; changes: %d of %d observed, routing p99 %.1f ms",
		res.InMsgsPerSec, res.OutMsgsPerSec, res.Lost, res.CPUPerMillion, res.RSSPeakMiB, pr.Changes.Observed, pr.Changes.Probes, pr.Changes.RoutingP99)

	rs, err := r.measureResync(ctx)
	if err != nil {
		return err
	}
	pr.Resync = rs
	r.progress("idle: %d full loads in %.0fs, %.3f core-s per resync, %.3f core-s per minute idle",
		rs.FullLoads, rs.WindowSeconds, rs.PerResync, rs.IdlePerMinute)
	return nil
}

// platformTopology lays out tokens, channels and drains (see Platform) and
// fills the recorder's topology; channel c has id c+1.
func (r *scenarioRun) platformTopology(p Platform) {
	s := r.s
	nTok := s.Channels * s.TokensPerChannel
	nDrains := p.HTTPDrains + p.SyslogDrains
	r.tokenIDs, r.tokenNames = make([]string, nTok), make([]string, nTok)
	r.channelIDs = make([]int, s.Channels)
	r.chanDrains = make([]int32, s.Channels)
	r.endSyslog = make([]bool, nDrains)
	r.drains = nDrains
	topo := &Topology{Conns: r.conns, TokenChannel: make([]int32, nTok), TokenNames: r.tokenNames, TokenIDs: r.tokenIDs,
		EndChannel: make([]int32, nDrains), EndIsTail: make([]bool, nDrains)}
	for c := range r.channelIDs {
		r.channelIDs[c] = c + 1
	}
	for k := range nTok {
		r.tokenNames[k], r.tokenIDs[k] = tokenName(k), fakeToken()
		topo.TokenChannel[k] = int32(k % s.Channels)
	}
	for e := range nDrains {
		topo.EndChannel[e] = int32(e)
		r.chanDrains[e] = 1
		r.endSyslog[e] = (e+1)*p.SyslogDrains/nDrains != e*p.SyslogDrains/nDrains
	}
	r.topo = topo
}

// startPlatformSinks starts the HTTP sinks (answering after SinkDelay),
// the syslog sink and nothing else; the probe sink starts with the config.
func (r *scenarioRun) startPlatformSinks(p Platform) error {
	listen := r.o.SinkHost + ":0"
	for i := range max(p.HTTPSinks, 1) {
		hs, err := startHTTPSink(listen, r.rec, false, r.o.SinkTLS)
		if err != nil {
			return err
		}
		hs.delay = p.SinkDelay
		r.onTeardown(hs.Close)
		if i == 0 {
			r.httpSink = hs
		} else {
			r.moreHTTP = append(r.moreHTTP, hs)
		}
	}
	if p.SyslogDrains > 0 {
		ts, err := StartTCPSink(listen, r.rec, false)
		if err != nil {
			return err
		}
		r.tcpSink = ts
		r.onTeardown(ts.Close)
	}
	return nil
}

func (r *scenarioRun) tcpSinkReads() int64 {
	if r.tcpSink == nil {
		return 0
	}
	return r.tcpSink.Reads()
}

// deliveredByKind sums the recorder's counts of HTTP and syslog drains.
func (r *scenarioRun) deliveredByKind() (httpMsgs, syslogMsgs int64) {
	for e := range r.endSyslog {
		ep := &r.rec.ends[e]
		ep.mu.Lock()
		n := ep.c.Received
		ep.mu.Unlock()
		if r.endSyslog[e] {
			syslogMsgs += n
		} else {
			httpMsgs += n
		}
	}
	return httpMsgs, syslogMsgs
}

// sharedHTTP reports whether the router's HTTP drains share HTTP/2
// connections to the sinks: --http-drain-http2=all, or TLS sinks (which
// offer h2 by ALPN) and the router's default (tls) not turned off.
func (r *scenarioRun) sharedHTTP() bool {
	flags := r.routerFlags()
	return slices.Contains(flags, "--http-drain-http2=all") ||
		(r.o.SinkTLS && !slices.Contains(flags, "--http-drain-http2=off"))
}

// checkFileLimit fails early when this process (the sinks: a connection
// per drain) cannot hold the scenario's connections, nor can the router,
// which gets the same limit: the warm-up would wait for drains that cannot
// connect. With sharedHTTP (sharedHTTP above) the HTTP drains share a
// connection per 1 000 drains (per sink at least).
func checkFileLimit(p Platform, conns int, sharedHTTP bool) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return nil
	}
	drains := p.HTTPDrains + p.SyslogDrains
	httpConns := p.HTTPDrains
	if sharedHTTP {
		httpConns = p.HTTPDrains/1000 + max(p.HTTPSinks, 1)
	}
	need := uint64(httpConns + p.SyslogDrains + conns + p.Probes + 1000)
	if l.Cur >= need {
		return nil
	}
	fit := float64(int64(l.Cur)-int64(conns+p.Probes+1000)) / float64(drains)
	return fmt.Errorf("%d drains need about %d file descriptors here and in the router (a connection each), RLIMIT_NOFILE is %d: "+
		"raise it or run with --scale %.2f or less", drains, need, l.Cur, math.Floor(fit*100)/100)
}

// drainToken is a fresh drain token, "d.<uuid>".
func drainToken() string { return "d." + fakeToken()[2:] }

// writePlatformConfig writes every channel, token and drain (and the probe
// channels) into the config Redis in pipelines, in the store's keys and
// hashes, with the counters the API allocates ids from and the config's
// epoch (the store gives a config one with its first write; the guard
// expects it), and measures what it takes.
func (r *scenarioRun) writePlatformConfig(ctx context.Context, p Platform, pr *PlatformResult) (*probeSet, *probeSink, error) {
	ps, err := startProbeSink(r.o.SinkHost + ":0")
	if err != nil {
		return nil, nil, err
	}
	r.onTeardown(ps.Close)
	rc, err := dialRedis(r.redis.Addr)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	mem0, err := rc.usedMemory()
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	w := &configWriter{rc: rc, batch: 10000}
	s := r.s
	for c := range s.Channels {
		if err := w.hset(config.ChannelKey(strconv.Itoa(c+1)), config.ChannelHash("app"+strconv.Itoa(c+1), "")); err != nil {
			return nil, nil, err
		}
	}
	for k, id := range r.tokenIDs {
		if err := w.hset(config.TokenKey(id), config.TokenHash(strconv.Itoa(int(r.topo.TokenChannel[k])+1), r.tokenNames[k])); err != nil {
			return nil, nil, err
		}
	}
	drainID := int64(0)
	for e, c := range r.topo.EndChannel {
		drainID++
		d := &config.Drain{ChannelID: strconv.Itoa(int(c) + 1), Token: drainToken()}
		if r.endSyslog[e] {
			d.URL = "syslog://" + r.tcpSink.Addr()
			r.tcpSink.SetDrainToken(d.Token, e)
		} else {
			d.URL = r.httpSinkFor(e).URL(r.o.SinkHost, e)
		}
		if err := w.hset(config.DrainKey(drainID), config.DrainHash(d)); err != nil {
			return nil, nil, err
		}
	}
	if err := rc.flush(); err != nil {
		return nil, nil, err
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	pr.ConfigKeys, pr.ConfigBytes = w.keys, w.bytes
	mem1, err := rc.usedMemory()
	if err != nil {
		return nil, nil, err
	}
	pr.RedisMemoryMiB = mib(mem1 - mem0)
	pr.WriteSeconds = time.Since(start).Seconds()

	// the probes' channels: even probes get a drain at /p/i (a token comes
	// with the probe), odd ones a token (a drain comes with the probe)
	probes := &probeSet{chans: make([]int, p.Probes), toks: make([]string, p.Probes)}
	for i := range p.Probes {
		ch := s.Channels + 1 + i
		probes.chans[i] = ch
		chs := strconv.Itoa(ch)
		if err := w.hset(config.ChannelKey(chs), config.ChannelHash("probe"+strconv.Itoa(i), "")); err != nil {
			return nil, nil, err
		}
		if i%2 == 0 {
			drainID++
			d := &config.Drain{ChannelID: chs, Token: drainToken(), URL: ps.URL(r.o.SinkHost, i)}
			if err := w.hset(config.DrainKey(drainID), config.DrainHash(d)); err != nil {
				return nil, nil, err
			}
		} else {
			probes.toks[i] = fakeToken()
			if err := w.hset(config.TokenKey(probes.toks[i]), config.TokenHash(chs, "probe")); err != nil {
				return nil, nil, err
			}
		}
	}
	var epoch [16]byte
	_, _ = rand.Read(epoch[:])
	rc.send("SET", config.ChannelIndexKey, strconv.Itoa(s.Channels+p.Probes))
	rc.send("SET", config.DrainIndexKey, strconv.FormatInt(drainID, 10))
	rc.send("SETNX", "logplex:config:epoch", hex.EncodeToString(epoch[:]))
	if err := rc.flush(); err != nil {
		return nil, nil, err
	}
	return probes, ps, nil
}

// httpSinkFor is the HTTP sink endpoint e's drain points at.
func (r *scenarioRun) httpSinkFor(e int) *HTTPSink {
	n := 1 + len(r.moreHTTP)
	if i := e % n; i > 0 {
		return r.moreHTTP[i-1]
	}
	return r.httpSink
}

// idleSettleMax bounds the wait for the drains' connections to close before
// the idle window: past the drains' keep-alive limit (55 s) and its fuzz.
const idleSettleMax = 90 * time.Second

// httpSinkConns is how many connections the HTTP sinks have open.
func (r *scenarioRun) httpSinkConns() int {
	n := 0
	for _, s := range append([]*HTTPSink{r.httpSink}, r.moreHTTP...) {
		if s != nil {
			n += s.open()
		}
	}
	return n
}

// resyncInterval is the router's effective --resync-interval (the last
// one given; 60 s, its default, when none is).
func (r *scenarioRun) resyncInterval() time.Duration {
	d := 60 * time.Second
	for _, f := range r.routerFlags() {
		if v, ok := strings.CutPrefix(f, "--resync-interval="); ok {
			if x, err := time.ParseDuration(v); err == nil {
				d = x
			}
		}
	}
	return d
}

// measureResync measures the router idle for a little over two resync
// intervals: CPU from /proc sampled every second (reading /proc costs the
// router nothing; its metrics are scraped only before and after).
func (r *scenarioRun) measureResync(ctx context.Context) (ResyncStats, error) {
	iv := r.resyncInterval()
	st := ResyncStats{IntervalSeconds: iv.Seconds()}
	settle := time.Now()
	sleepCtx(ctx, min(2*time.Second, iv/2)) // the probes' and the load's last deliveries
	for deadline := time.Now().Add(idleSettleMax); r.httpSinkConns() > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		sleepCtx(ctx, time.Second)
	}
	st.SettleSeconds = time.Since(settle).Seconds()
	m0, err := ScrapeMetrics(r.admin())
	if err != nil {
		return st, err
	}
	window := 2*iv + iv/5
	r.progress("idle for %s: resync cost", window.Round(time.Second))
	p0, err := ReadProc(r.router.PID)
	if err != nil {
		return st, err
	}
	rd0, _ := ReadProc(r.redis.PID)
	step := min(time.Second, iv/4)
	var rates []float64
	prev := p0
	for ctx.Err() == nil && time.Since(p0.Taken) < window {
		sleepCtx(ctx, step)
		cur, err := ReadProc(r.router.PID)
		if err != nil {
			return st, err
		}
		if dt := cur.Taken.Sub(prev.Taken).Seconds(); dt > 0 {
			rates = append(rates, (cur.CPU-prev.CPU).Seconds()/dt)
		}
		prev = cur
	}
	p1 := prev
	rd1, _ := ReadProc(r.redis.PID)
	m1, err := ScrapeMetrics(r.admin())
	if err != nil {
		return st, err
	}
	st.WindowSeconds = p1.Taken.Sub(p0.Taken).Seconds()
	st.CPUSeconds = (p1.CPU - p0.CPU).Seconds()
	st.RedisCPUSeconds = (rd1.CPU - rd0.CPU).Seconds()
	st.FullLoads = int(Delta(m0, m1, "logplex_config_full_loads_total"))
	st.Checks = int(Delta(m0, m1, "logplex_config_resyncs_skipped_total"))
	st.CheckCPUSeconds = Delta(m0, m1, "logplex_config_resync_check_cpu_seconds_total")
	if st.Checks > 0 {
		st.PerCheck = st.CheckCPUSeconds / float64(st.Checks)
	}
	if len(rates) > 0 {
		sort.Float64s(rates)
		st.BaselineCores = rates[len(rates)/2]
	}
	if st.WindowSeconds > 0 {
		st.IdlePerMinute = st.CPUSeconds / st.WindowSeconds * 60
	}
	if n := st.FullLoads + st.Checks; n > 0 {
		st.PerResync = max(st.CPUSeconds-st.BaselineCores*st.WindowSeconds, 0) / float64(n)
		st.ResyncPerMinute = st.PerResync
	}
	return st, ctx.Err()
}

// finiteMS is a histogram bound in seconds as milliseconds, -1 for one past
// the last finite bound (JSON has no infinity).
func finiteMS(s float64) float64 {
	if math.IsInf(s, 1) {
		return -1
	}
	return s * 1000
}

// atMostMS renders a finiteMS bound.
func atMostMS(ms float64) string {
	if ms < 0 {
		return "above the last bucket"
	}
	return fmt.Sprintf("≤ %g ms", ms)
}

// platformNotes summarise a platform run for the table.
func (pr *PlatformResult) notes() []string {
	c, rs := pr.Changes, pr.Resync
	out := []string{
		fmt.Sprintf("config %d channels, %d tokens, %d+%d drains: %d keys, %.1f MB, Redis +%.1f MiB, written in %.1f s, loaded (start to /readyz) in %.1f s, every drain delivering %.1f s later",
			pr.Channels, pr.Tokens, pr.HTTPDrains, pr.SyslogDrains, pr.ConfigKeys, float64(pr.ConfigBytes)/1e6, pr.RedisMemoryMiB, pr.WriteSeconds, pr.LoadSeconds, pr.AllDrainsSeconds),
		fmt.Sprintf("config changes under load: %d of %d observed (%d errors), routing p50 %.1f / p99 %.1f / max %.1f ms, first delivery p50 %.1f / p99 %.1f ms, API call p50 %.1f / p99 %.1f ms, %d probe messages",
			c.Observed, c.Probes, c.Errors, c.RoutingP50, c.RoutingP99, c.RoutingMax, c.DeliveryP50, c.DeliveryP99, c.APIP50, c.APIP99, c.Messages),
		fmt.Sprintf("the router's feed (XADD to its snapshot, logplex_config_change_delay_seconds): %d entries, p50 %s, p99 %s",
			pr.FeedApplied, atMostMS(pr.FeedDelayP50), atMostMS(pr.FeedDelayP99)),
		fmt.Sprintf("sinks: %.3f HTTP requests per message (%d for %d), %.3f syslog reads per message (%d for %d); full loads in the load window %d",
			pr.ReqsPerMsgHTTP, pr.HTTPRequests, pr.HTTPDelivered, pr.ReadsPerMsgTCP, pr.SyslogReads, pr.SyslogDelivered, pr.LoadWindowLoads),
		fmt.Sprintf("idle (resync interval %.0f s, after %.0f s for the drains' connections to close): %d full loads and %d checks in %.0f s, %.2f core-s, baseline %.4f cores, %.3f core-s per resync (redis %.2f s), %.3f core-s per minute idle; the router's CPU while its checks ran: %.4f core-s per check",
			rs.IntervalSeconds, rs.SettleSeconds, rs.FullLoads, rs.Checks, rs.WindowSeconds, rs.CPUSeconds, rs.BaselineCores, rs.PerResync, rs.RedisCPUSeconds, rs.IdlePerMinute, rs.PerCheck),
	}
	if c.FirstError != "" {
		out = append(out, "first probe error: "+c.FirstError)
	}
	if pr.Scale != 0 {
		out = append(out, fmt.Sprintf("scaled by %g", pr.Scale))
	}
	return out
}

// platformChecks are the platform and many-channels targets (issue 15),
// checked on full-size runs only.
func platformChecks(by map[string]*Result, add func(scn, target, got string, met bool)) {
	if r := by["many-channels"]; r != nil && r.Knobs["channels"] == "10000" {
		add(r.Scenario, "many-channels: zero loss", lossText(r), r.Loss() == 0 && r.RouterDropped == 0)
		add(r.Scenario, "many-channels: router CPU <= 2 core-s per million msgs", fmt.Sprintf("%.3f s/M", r.CPUPerMillion), r.CPUPerMillion <= 2)
		add(r.Scenario, "many-channels: RSS <= 512 MiB", fmt.Sprintf("peak %.1f MiB", r.RSSPeakMiB), r.RSSPeakMiB <= 512)
	}
	names := make([]string, 0, len(by))
	for name := range by {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := by[name]
		pr := r.Platform
		if pr == nil || pr.Channels != 100000 || !strings.HasPrefix(name, "platform") {
			continue
		}
		add(name, "platform: zero loss", lossText(r), r.Loss() == 0 && r.RouterDropped == 0)
		add(name, "platform: router CPU <= 1.5 core-s per million msgs", fmt.Sprintf("%.3f s/M at %s msgs/s", r.CPUPerMillion, count(r.InMsgsPerSec)), r.CPUPerMillion <= 1.5)
		add(name, "platform: RSS <= 1 GiB", fmt.Sprintf("peak %.1f MiB", r.RSSPeakMiB), r.RSSPeakMiB <= 1024)
		c := pr.Changes
		add(name, "platform: a token or drain change reaches routing in <= 50 ms p99 under load",
			fmt.Sprintf("p99 %.1f ms (%d of %d observed)", c.RoutingP99, c.Observed, c.Probes), c.Observed == c.Probes && c.Probes > 0 && c.RoutingP99 <= 50)
		rs := pr.Resync
		perMin, how := rs.perMinute()
		add(name, "platform: idle resync cost <= 0.05 core-s per minute",
			fmt.Sprintf("%.4f core-s per resync (%s), one a minute at the default interval (%d full loads and %d checks measured; window figure %.3f; idle total %.3f core-s/min)", perMin, how, rs.FullLoads, rs.Checks, rs.ResyncPerMinute, rs.IdlePerMinute),
			rs.FullLoads+rs.Checks > 0 && perMin <= 0.05)
	}
}

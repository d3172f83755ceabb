package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// errSkipped ends a scenario that cannot run here; the reason is in the result.
var errSkipped = errors.New("skipped")

// setUp is the start every load scenario shares: the router (not for the
// relay baseline), the config, the recorder over the messages' layout and
// the sinks.
func (r *scenarioRun) setUp(ctx context.Context) (*Layout, error) {
	if !r.s.Relay {
		if err := r.startRouter(); err != nil {
			return nil, err
		}
	}
	r.progress("setting up %d channels", r.s.Channels)
	if err := r.setupConfig(ctx); err != nil {
		return nil, err
	}
	layout, err := NewLayout(r.size, r.tokenIDs)
	if err != nil {
		return nil, err
	}
	r.rec = NewRecorder(layout, r.topo)
	return layout, r.startSinks()
}

// measureLoad is the common path of every load scenario: set up, warm up,
// send for the duration, wait for deliveries, read the counters.
func (r *scenarioRun) measureLoad(ctx context.Context) error {
	t0 := time.Now()
	layout, err := r.setUp(ctx)
	if err != nil {
		return err
	}
	if r.s.Relay {
		rp, err := StartRelay(r.o.Bin, r.o.RouterCPUs, r.tcpSink.Addr())
		if err != nil {
			return err
		}
		r.relay = rp
		r.onTeardown(rp.Stop)
	} else {
		if err := r.setupDrains(ctx); err != nil {
			return err
		}
		if err := r.startTails(ctx); err != nil {
			return err
		}
	}
	if err := r.startGenerator(ctx, layout); err != nil {
		return err
	}
	r.res.SetupSeconds = time.Since(t0).Seconds()
	if pid := r.pid(); pid > 0 {
		time.Sleep(200 * time.Millisecond) // let the drains start
		if p, err := ReadProc(pid); err == nil {
			r.res.RSSConfiguredMiB = mib(p.RSS)
		}
	}
	r.progress("set up in %.1fs; warming up", r.res.SetupSeconds)
	if err := r.warmUp(ctx); err != nil {
		if errors.Is(err, errSkipped) {
			return nil
		}
		return err
	}
	if r.s.Sustained {
		r.searchSustained(ctx)
		return nil
	}
	r.progress("measuring for %s", r.o.Duration)
	*r.res = r.measure(ctx, r.rate, r.o.Duration)
	r.progress("in %.0f msgs/s, out %.0f msgs/s, lost %d, cpu %.3f s/M, p99 %.2f ms",
		r.res.InMsgsPerSec, r.res.OutMsgsPerSec, r.res.Lost, r.res.CPUPerMillion, r.res.P99Ms)
	return nil
}

// lossless reports whether a run kept up with its rate and lost nothing.
func lossless(res *Result) bool {
	kept := res.TargetRate == 0 || res.InMsgsPerSec >= 0.97*res.TargetRate
	return kept && res.Loss() == 0 && res.RouterDropped == 0 && res.Rejected == 0
}

// searchSustained finds the highest rate the router takes without loss: a
// run as fast as possible, then bisection between 0 and that rate with
// half-length trials, then a full-length run at the rate found.
func (r *scenarioRun) searchSustained(ctx context.Context) {
	trial := max(time.Second, r.o.Duration/2)
	var trace []string
	try := func(rate float64, d time.Duration) Result {
		res := r.measure(ctx, rate, d)
		verdict := "lost " + fmt.Sprint(res.Loss()+res.RouterDropped)
		if lossless(&res) {
			verdict = "lossless"
		}
		trace = append(trace, fmt.Sprintf("%s→%s in (%s)", rateText(rate), count(res.InMsgsPerSec), verdict))
		r.progress("trial at %s msgs/s: in %.0f, out %.0f, %s", rateText(rate), res.InMsgsPerSec, res.OutMsgsPerSec, verdict)
		r.quiesce(ctx, 5*time.Second)
		return res
	}
	first := try(0, trial)
	hi := first.InMsgsPerSec
	lo := 0.0
	if lossless(&first) {
		lo = hi
	} else {
		mid := hi * 0.8
		for i := 0; i < 5 && ctx.Err() == nil; i++ {
			res := try(mid, trial)
			if lossless(&res) {
				lo = mid
			} else {
				hi = mid
			}
			mid = (lo + hi) / 2
			if lo == 0 && i >= 2 {
				mid = hi / 2
			}
		}
	}
	if lo == 0 {
		*r.res = first
		r.res.Notes = append(r.res.Notes, "sustained search: no lossless rate found; trials: "+strings.Join(trace, ", "))
		return
	}
	// The full-length run confirms the rate; noise on a shared machine can
	// make it lose where the shorter trial did not, so step down 10 % (twice
	// at most) before reporting a lossy run. When the router lost nothing
	// at the generator's full speed, the confirmation runs at full speed
	// too: paced at the rate it measured, the generator falls short of it
	// (its pacing costs CPU on the shared cores), which would count as a
	// miss though nothing was lost; the rate is then a lower bound, set by
	// the generator.
	var final Result
	rate := lo
	if lossless(&first) {
		rate = 0
	}
	for i := 0; i < 3 && ctx.Err() == nil; i++ {
		r.progress("measuring %s at the sustained rate %s msgs/s", r.o.Duration, rateText(rate))
		final = r.measure(ctx, rate, r.o.Duration)
		trace = append(trace, fmt.Sprintf("full run %s→%s in (lossless=%v)", rateText(rate), count(final.InMsgsPerSec), lossless(&final)))
		if lossless(&final) {
			if rate == 0 {
				trace = append(trace, "lossless at the generator's full speed: a lower bound")
			}
			break
		}
		r.quiesce(ctx, 5*time.Second)
		lo *= 0.9
		rate = lo
	}
	final.Notes = append(final.Notes, "sustained search (highest lossless rate): "+strings.Join(trace, ", "))
	*r.res = final
}

func rateText(r float64) string {
	if r == 0 {
		return "max"
	}
	return count(r)
}

// pid is the measured process: the relay for the baseline, else the router.
func (r *scenarioRun) pid() int {
	if r.relay != nil {
		return r.relay.PID
	}
	if r.router != nil {
		return r.router.PID
	}
	return 0
}

func (r *scenarioRun) admin() string {
	if r.router != nil {
		return r.router.Admin
	}
	return ""
}

// warmUp sends one message per token until every drain has received one
// (so the config is loaded and every drain connected), checks the tails
// stream, then sends briefly at the scenario's rate.
func (r *scenarioRun) warmUp(ctx context.Context) error {
	deadline := time.Now().Add(30*time.Second + time.Duration(r.drains)*2*time.Millisecond)
	for ctx.Err() == nil {
		st := r.gen.EachToken(ctx, 30*time.Second)
		if st.Sent == 0 {
			return fmt.Errorf("warm-up: the load generator could not send (%d errors, %d rejected)", st.Errors, st.Rejected)
		}
		waitFor(ctx, 3*time.Second, func() bool { return r.rec.EndpointsSeen(false) >= r.drains })
		seen := r.rec.EndpointsSeen(false)
		if seen >= r.drains {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: only %d of %d drains received anything", seen, r.drains)
		}
	}
	if r.tailsN > 0 {
		waitFor(ctx, 3*time.Second, func() bool { return r.rec.EndpointsSeen(true) >= r.tailsN })
		if r.rec.EndpointsSeen(true) == 0 {
			r.res.Skipped = "tails not available (the tail sessions did not stream)"
			r.progress("skipped: %s", r.res.Skipped)
			return errSkipped
		}
	}
	warm := 500 * time.Millisecond
	if r.o.Quick {
		warm = 200 * time.Millisecond
	}
	r.gen.Run(ctx, warm, 0, r.rate)
	r.quiesce(ctx, 5*time.Second)
	return ctx.Err()
}

// quiesce waits until deliveries stop changing for 300 ms (at most max).
func (r *scenarioRun) quiesce(ctx context.Context, maxWait time.Duration) {
	last, since := int64(-1), time.Now()
	end := time.Now().Add(maxWait)
	for ctx.Err() == nil && time.Now().Before(end) {
		n := r.rec.DrainMsgs() + r.rec.TailMsgs()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) {
	end := time.Now().Add(d)
	for !cond() && ctx.Err() == nil && time.Now().Before(end) {
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

// sample is what the suite reads before and after a measured window.
type sample struct {
	m           Metrics       // the router's /metrics
	system      time.Duration // busy CPU of the whole machine
	router      ProcSample    // the measured process (router or relay)
	self, redis ProcSample
	reqs, bad   int64 // HTTP sink requests, malformed ones
}

func (r *scenarioRun) takeSample(withMetrics bool) sample {
	var s sample
	if withMetrics {
		s.m, _ = ScrapeMetrics(r.admin())
		if s.m == nil {
			s.m = Metrics{}
		}
	}
	s.system, _, _ = SystemCPU()
	s.router, _ = ReadProc(r.pid())
	s.self, _ = ReadProc(os.Getpid())
	if r.redis != nil {
		s.redis, _ = ReadProc(r.redis.PID)
	}
	for _, hs := range append([]*HTTPSink{r.httpSink}, r.moreHTTP...) {
		if hs != nil {
			reqs, bad := hs.Requests()
			s.reqs, s.bad = s.reqs+reqs, s.bad+bad
		}
	}
	return s
}

// measure runs one measured phase at rate (0: as fast as possible) for d
// and returns its result (r.res is the template: name, knobs, setup).
func (r *scenarioRun) measure(ctx context.Context, rate float64, d time.Duration) Result {
	res := *r.res
	res.Notes = append([]string(nil), r.res.Notes...)
	r.rec.Reset(time.Now().UnixNano())
	s0 := r.takeSample(true)
	watch := WatchRSS(r.pid(), 100*time.Millisecond)
	prof := r.captureProfile(max(1, min(15, int(d.Seconds())/2))) // half the window, at most 15 s: enough samples to read
	start := time.Now()
	st := r.gen.Run(ctx, d, 0, rate)
	sent, _ := ReadProc(r.pid())
	expD, expT := r.expected(st.PerToken)
	m1 := r.settle(ctx, st.Sent, expD, expT, s0.m)
	s1 := r.takeSample(m1 == nil)
	if m1 != nil {
		s1.m = m1
	}
	peak := watch.Stop()
	if note := <-prof; note != "" {
		res.Notes = append(res.Notes, note)
	}
	res.TargetRate, res.WindowSeconds = rate, time.Since(start).Seconds()
	r.fillTraffic(&res, st, start, expD, expT)
	fillCounters(&res, s0, s1)
	r.fillProcess(&res, s0, s1, sent, peak, st.Sent)
	return res
}

// fillTraffic: what was sent, what the sinks counted, latency.
func (r *scenarioRun) fillTraffic(res *Result, st GenStats, start time.Time, expD, expT int64) {
	res.Sent, res.SentBytes, res.Rejected = st.Sent, st.Bytes, st.Rejected
	res.SendSeconds = st.Elapsed.Seconds()
	if res.SendSeconds > 0 {
		res.InMsgsPerSec = float64(st.Sent) / res.SendSeconds
		res.InMBPerSec = float64(st.Bytes) / res.SendSeconds / 1e6
	}
	if st.Errors > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("load generator: %d connection errors", st.Errors))
	}
	res.Expected = expD
	res.SinkCounts = r.rec.Totals(false)
	res.Delivered = res.SinkCounts.Received
	res.Lost = expD - res.Delivered
	res.Reported = res.SinkCounts.Reported
	if last := r.rec.LastReceive(); last > 0 {
		res.OutMsgsPerSec = float64(res.Delivered) / (float64(last-start.UnixNano()) / 1e9)
	}
	h := r.rec.Latency(false)
	res.P50Ms, res.P99Ms, res.P999Ms = ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Quantile(0.999))
	res.MaxMs = ms(h.Max())
	if r.tailsN > 0 {
		tc := r.rec.Totals(true)
		res.TailExpected, res.TailDelivered = expT, tc.Received
		th := r.rec.Latency(true)
		res.TailP99Ms = ms(th.Quantile(0.99))
		res.Reported += tc.Reported
	}
}

// fillCounters: the router's drop and history counters, the sink's requests.
func fillCounters(res *Result, s0, s1 sample) {
	res.RouterDropped = int64(Delta(s0.m, s1.m, "logplex_drain_dropped_total"))
	res.HistoryWritten = int64(Delta(s0.m, s1.m, "logplex_history_written_total"))
	res.HistoryDropped = int64(Delta(s0.m, s1.m, "logplex_history_dropped_total"))
	res.IngestBatchMsgs = ratio(Delta(s0.m, s1.m, "logplex_message_batch_messages_sum"), Delta(s0.m, s1.m, "logplex_message_batch_messages_count"))
	res.HistoryFlushMsgs = ratio(Delta(s0.m, s1.m, "logplex_history_flush_messages_sum"), Delta(s0.m, s1.m, "logplex_history_flush_messages_count"))
	res.DrainRequests = s1.reqs - s0.reqs
	if s1.bad > s0.bad {
		res.Notes = append(res.Notes, fmt.Sprintf("http sink: %d malformed requests", s1.bad-s0.bad))
	}
}

// fillProcess: CPU and memory of the router (from /proc), the suite and Redis.
// sent is the router's reading when sending stopped (for its busy cores).
func (r *scenarioRun) fillProcess(res *Result, s0, s1 sample, sent ProcSample, peak, msgs int64) {
	res.RSSStartMiB = mib(s0.router.RSS)
	if r.pid() > 0 && !s1.router.Taken.IsZero() {
		res.RouterCPUSeconds = (s1.router.CPU - s0.router.CPU).Seconds()
		res.RouterSysSeconds = (s1.router.Sys - s0.router.Sys).Seconds()
		if w := sent.Taken.Sub(s0.router.Taken).Seconds(); w > 0 {
			res.RouterCores = (sent.CPU - s0.router.CPU).Seconds() / w
		}
		if msgs > 0 {
			res.CPUPerMillion = res.RouterCPUSeconds / (float64(msgs) / 1e6)
		}
		res.RSSPeakMiB, res.RSSEndMiB, res.HWMMiB = mib(max(peak, s1.router.RSS)), mib(s1.router.RSS), mib(s1.router.HWM)
	}
	res.BenchCPUSeconds = (s1.self.CPU - s0.self.CPU).Seconds()
	if r.redis != nil {
		res.RedisCPUSeconds = (s1.redis.CPU - s0.redis.CPU).Seconds()
	}
	// What the rest of the machine used: other processes, and kernel work
	// not charged to ours (softirq network processing).
	other := (s1.system - s0.system).Seconds() - res.RouterCPUSeconds - res.BenchCPUSeconds - res.RedisCPUSeconds
	res.OtherCPUSeconds = max(other, 0)
	if r.router != nil && !r.router.Alive() {
		res.Notes = append(res.Notes, "the router exited during the run (see router.log)")
	}
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// settleStall: settle gives up once nothing has been delivered for this
// long (unless the scenario set scenarioRun.stall).
const settleStall = 2 * time.Second

// settle waits after sending until the drains (and tails, and history)
// have everything, or nothing moved for the stall, or Options.Settle
// passed. It returns the last metrics scraped (nil if none).
func (r *scenarioRun) settle(ctx context.Context, sent, expD, expT int64, m0 Metrics) Metrics {
	history := r.s.History == "redis" && r.admin() != ""
	var m Metrics
	var lastScrape time.Time
	last, since := int64(-1), time.Now()
	end := time.Now().Add(r.o.Settle)
	for ctx.Err() == nil && time.Now().Before(end) {
		d, t := r.rec.DrainMsgs(), r.rec.TailMsgs()
		var hist int64
		if history && time.Since(lastScrape) > 200*time.Millisecond {
			if mm, err := ScrapeMetrics(r.admin()); err == nil {
				m, lastScrape = mm, time.Now()
			}
		}
		if history && m != nil {
			hist = int64(Delta(m0, m, "logplex_history_written_total") + Delta(m0, m, "logplex_history_dropped_total"))
		}
		if d >= expD && t >= expT && (!history || hist >= sent) {
			break
		}
		if n := d + t + hist; n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > cmp.Or(r.stall, settleStall) {
			break
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
	if history {
		if mm, err := ScrapeMetrics(r.admin()); err == nil {
			m = mm
		}
	}
	return m
}

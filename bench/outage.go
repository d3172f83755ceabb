package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The drain-outage scenarios (issue 19): the usual 100 channels × 1 HTTP
// drain at a steady rate, and the endpoint of drain 0 goes down
// (connection refused) for Scenario.Outage, then comes back. With the disk
// spill on, drain 0 must get every message, in order, and catch up fast;
// with it off, what it lost must be exactly what its L10 notices report.
//
//	warm ──► drain 0's endpoint closed ──(outage)──► reopened ──(after)──► settle
//	                                                   └ catch-up: first delivery → first message sent after the reopening

// outageStall is settle's stall after an outage: the longest reconnect
// backoff of an HTTP drain at the defaults (5.1 s) and a second.
const outageStall = 6200 * time.Millisecond

// outageSink is drain 0's endpoint: net/http on a fixed address that can be
// closed and reopened; it feeds the recorder like the other sinks and
// times the catch-up.
type outageSink struct {
	addr string
	rec  *Recorder
	lay  *Layout

	mu        sync.Mutex
	srv       *http.Server
	reopened  int64 // Unix ns; 0 until the outage ends
	first     int64 // first delivery after reopening
	caughtUp  int64 // delivery of the first message sent after reopening
	catchMsgs int64 // messages delivered from first to caughtUp
	catchReqs int64 // requests from first to caughtUp
	catchBusy int64 // ns the sink spent in them (reading and checking the bodies)
}

func startOutageSink(host string, rec *Recorder, lay *Layout) (*outageSink, error) {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		return nil, fmt.Errorf("outage sink: %w", err)
	}
	s := &outageSink{addr: ln.Addr().String(), rec: rec, lay: lay}
	s.serve(ln)
	return s, nil
}

// URL is drain 0's URL.
func (s *outageSink) URL() string { return "http://" + s.addr + "/d/0" }

func (s *outageSink) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

// down closes the listener and every connection: the endpoint is gone.
func (s *outageSink) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (s *outageSink) up() error {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port may be held for a moment
	}
	if err != nil {
		return fmt.Errorf("outage sink: listen again: %w", err)
	}
	s.mu.Lock()
	s.reopened = time.Now().UnixNano()
	s.mu.Unlock()
	s.serve(ln)
	return nil
}

func (s *outageSink) close() { s.down() }

func (s *outageSink) handle(w http.ResponseWriter, req *http.Request) {
	t0 := nowNs()
	body, err := io.ReadAll(bufio.NewReader(req.Body))
	if err != nil {
		w.WriteHeader(400)
		return
	}
	now := nowNs()
	b := s.rec.NewBatch()
	if !b.Start(0, FormatHTTPDrain, now) {
		w.WriteHeader(404)
		return
	}
	msgs, fresh := int64(0), false
	s.mu.Lock()
	reopened := s.reopened
	s.mu.Unlock()
	for len(body) > 0 {
		sp := bytes.IndexByte(body, ' ')
		n, err := strconv.Atoi(string(body[:max(sp, 0)]))
		if sp < 0 || err != nil || sp+1+n > len(body) {
			b.AddCorrupt()
			break
		}
		msg := body[sp+1 : sp+1+n]
		body = body[sp+1+n:]
		b.Add(msg)
		if c, ok, err := s.lay.ParseContent(msg, false); ok && err == nil {
			msgs++
			if reopened > 0 && c.SentNs >= reopened {
				fresh = true
			}
		}
	}
	b.Done()
	if reopened > 0 {
		s.mu.Lock()
		if s.first == 0 {
			s.first = now
		}
		if s.caughtUp == 0 {
			s.catchMsgs += msgs
			s.catchReqs++
			s.catchBusy += nowNs() - t0
			if fresh {
				s.caughtUp = now
			}
		}
		s.mu.Unlock()
	}
	w.WriteHeader(200)
}

// catchUp is the catch-up: messages delivered from the first delivery
// after the reopening to the first message sent after it, and how long
// that took (0: it did not happen).
func (s *outageSink) catchUp() (msgs int64, d time.Duration, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caughtUp == 0 {
		return s.catchMsgs, 0, 0
	}
	return s.catchMsgs, time.Duration(s.caughtUp - s.first), time.Duration(s.first - s.reopened)
}

// catchUpRequests is the requests of the catch-up and the time the sink
// spent serving them.
func (s *outageSink) catchUpRequests() (int64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catchReqs, time.Duration(s.catchBusy)
}

// endCounts are what endpoint i received since Reset.
func (r *Recorder) endCounts(i int) EndCounts {
	e := &r.ends[i]
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.c
}

// OutageResult is what a drain-outage scenario measured on the drain whose
// endpoint went down.
type OutageResult struct {
	OutageSeconds   float64 `json:"outage_seconds"`
	Spill           bool    `json:"spill"`
	Sent            int64   `json:"sent"`         // messages for that drain
	Delivered       int64   `json:"delivered"`    // received by its endpoint
	Reported        int64   `json:"reported"`     // in its L10 notices
	OutOfOrder      int64   `json:"out_of_order"` // at its endpoint
	CatchupMsgs     int64   `json:"catchup_msgs"` // delivered from the first delivery after the outage to the first message sent after it
	CatchupSeconds  float64 `json:"catchup_seconds"`
	CatchupPerSec   float64 `json:"catchup_msgs_per_sec"`
	ReconnectSecs   float64 `json:"reconnect_seconds"` // from the reopening to the first delivery (the drain's backoff)
	CatchupRequests int64   `json:"catchup_requests"`
	SinkBusySecs    float64 `json:"sink_busy_seconds"` // of the catch-up, spent in the sink's handler
	SpillPeakMiB    float64 `json:"spill_peak_mib"`    // logplex_drain_spill_bytes, sampled
	SpilledMessages int64   `json:"spilled_messages"`  // logplex_drain_spill_spilled_total increase
}

// outageDuration is the scenario's outage, or the "outage" knob.
func (r *scenarioRun) outageDuration() (time.Duration, error) {
	if v, ok := r.ks.gen["outage"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("knob outage=%s: want a duration such as 60s", v)
		}
		return d, nil
	}
	return r.s.Outage, nil
}

// measureOutage runs a drain-outage scenario.
func (r *scenarioRun) measureOutage(ctx context.Context) error {
	if r.o.Target.API != "" {
		r.res.Skipped = "not run against --target (it stops a drain endpoint of its own)"
		return nil
	}
	outage, err := r.outageDuration()
	if err != nil {
		return err
	}
	r.res.Knobs["outage"] = outage.String()
	t0 := time.Now()
	layout, err := r.setUp(ctx)
	if err != nil {
		return err
	}
	sink, err := startOutageSink(r.o.SinkHost, r.rec, layout)
	if err != nil {
		return err
	}
	r.onTeardown(sink.close)
	if err := parallel(ctx, r.drains, 16, func(ctx context.Context, e int) error {
		u := r.httpSink.URL(r.o.SinkHost, e)
		if e == 0 {
			u = sink.URL()
		}
		_, err := r.api.CreateDrain(ctx, r.channelIDs[e], u, "")
		return err
	}); err != nil {
		return err
	}
	if err := r.startGenerator(ctx, layout); err != nil {
		return err
	}
	r.res.SetupSeconds = time.Since(t0).Seconds()
	if err := r.warmUp(ctx); err != nil {
		return err
	}
	warm, after := 2*time.Second, 10*time.Second
	if r.o.Quick {
		warm, after = 500*time.Millisecond, 3*time.Second
	}
	res := *r.res
	r.rec.Reset(time.Now().UnixNano())
	s0 := r.takeSample(true)
	watch := WatchRSS(r.pid(), 100*time.Millisecond)
	start := time.Now()
	gen := make(chan GenStats, 1)
	go func() { gen <- r.gen.Run(ctx, warm+outage+after, 0, r.rate) }()
	var spillPeak float64
	peakDone := make(chan struct{})
	stopPeak := make(chan struct{})
	go func() {
		defer close(peakDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := ScrapeMetrics(r.admin()); err == nil {
				spillPeak = max(spillPeak, m["logplex_drain_spill_bytes"])
			}
			select {
			case <-t.C:
			case <-stopPeak:
				return
			}
		}
	}()
	sleepCtx(ctx, warm)
	r.progress("drain 0's endpoint down for %s", outage)
	sink.down()
	sleepCtx(ctx, outage)
	if err := sink.up(); err != nil {
		return err
	}
	r.progress("drain 0's endpoint back; sending %s more", after)
	st := <-gen
	expD, _ := r.expected(st.PerToken)
	var exp0 int64
	for k, n := range st.PerToken {
		if r.topo.TokenChannel[k] == 0 {
			exp0 += int64(n)
		}
	}
	// drain 0 may be in its reconnect backoff when the endpoint comes back:
	// up to --http-reconnect-time × (2^10 − 1) / 2 (5.1 s at the default
	// 10 ms) before its next try, longer than settle's usual stall
	r.stall = outageStall
	m1 := r.settle(ctx, st.Sent, expD, 0, s0.m)
	close(stopPeak)
	<-peakDone
	s1 := r.takeSample(m1 == nil)
	if m1 != nil {
		s1.m = m1
	}
	peak := watch.Stop()
	res.TargetRate, res.WindowSeconds = r.rate, time.Since(start).Seconds()
	r.fillTraffic(&res, st, start, expD, 0)
	fillCounters(&res, s0, s1)
	r.fillProcess(&res, s0, s1, s1.router, peak, st.Sent)
	e0 := r.rec.endCounts(0)
	msgs, d, wait := sink.catchUp()
	o := &OutageResult{OutageSeconds: outage.Seconds(), Spill: r.s.Spill, Sent: exp0, Delivered: e0.Received,
		Reported: e0.Reported, OutOfOrder: e0.OutOfOrder, CatchupMsgs: msgs, CatchupSeconds: d.Seconds(),
		ReconnectSecs: wait.Seconds(), SpillPeakMiB: spillPeak / (1 << 20),
		SpilledMessages: int64(Delta(s0.m, s1.m, "logplex_drain_spill_spilled_total"))}
	if d > 0 {
		o.CatchupPerSec = float64(msgs) / d.Seconds()
	}
	reqs, busy := sink.catchUpRequests()
	o.CatchupRequests, o.SinkBusySecs = reqs, busy.Seconds()
	res.Outage = o
	res.Notes = append(res.Notes, fmt.Sprintf("drain 0 down %s: %d sent to it, %d delivered, %d in L10, %d out of order; "+
		"catch-up of %d msgs in %.3f s (%s msgs/s; %d requests, %.3f s of them in the sink) after %.2f s of reconnect backoff; %d spilled, spill peak %.1f MiB",
		outage, o.Sent, o.Delivered, o.Reported, o.OutOfOrder, o.CatchupMsgs, o.CatchupSeconds, count(o.CatchupPerSec),
		o.CatchupRequests, o.SinkBusySecs, o.ReconnectSecs, o.SpilledMessages, o.SpillPeakMiB))
	*r.res = res
	r.progress("%s", res.Notes[len(res.Notes)-1])
	return nil
}

// outageChecks are the targets of the drain-outage scenarios.
func outageChecks(by map[string]*Result, add func(scn, target, got string, met bool)) {
	if r := by["drain-outage"]; r != nil && r.Outage != nil {
		o := r.Outage
		add(r.Scenario, "spill on: the down drain loses nothing, in order; catch-up >= 200 000 msgs/s",
			fmt.Sprintf("%d of %d delivered, %d out of order, %s msgs/s", o.Delivered, o.Sent, o.OutOfOrder, count(o.CatchupPerSec)),
			o.Delivered == o.Sent && o.Reported == 0 && o.OutOfOrder == 0 && o.CatchupPerSec >= 200000)
	}
	if r := by["drain-outage-nospill"]; r != nil && r.Outage != nil {
		o := r.Outage
		add(r.Scenario, "spill off: the down drain's losses are exactly its L10 counts",
			fmt.Sprintf("%d delivered + %d in L10 = %d of %d", o.Delivered, o.Reported, o.Delivered+o.Reported, o.Sent),
			o.Delivered+o.Reported == o.Sent)
	}
}

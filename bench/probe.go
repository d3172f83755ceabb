package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/logplex/logplex/frame"
)

// Config-change probes (the platform scenario): while the load runs, a
// probe changes the config through the real API, a new token on a channel
// that has a drain, or a new drain on a channel that has a token, then
// sends a message every millisecond on its own TCP connection, for that
// token or channel, until the probe sink sees one. The probe's channel is
// its own (written with the config), and its drain is the probe sink's
// path /p/<probe>, so nothing of the measured load reaches the probe sink
// and nothing of the probes reaches the recorder.
//
// Two latencies per probe, both from the moment the API request starts:
// "routing" to the send time of the earliest probe message delivered (the
// router routed what it received from then on; the send cadence bounds
// the error to 1 ms) and "delivery" to the first arrival at the sink.

// probeMarker starts a probe message's content: "probe:<probe>:<send ns>".
var probeMarker = []byte("probe:")

// probeSink is the probes' HTTP drain endpoint: it answers 200 at once
// and records, per probe (path /p/<probe>), the first arrival and the
// earliest send time among that probe's messages.
type probeSink struct {
	connServer
	mu    sync.Mutex
	first map[int]probeSeen
}

type probeSeen struct{ arrivedNs, sentNs int64 }

func startProbeSink(addr string) (*probeSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("probe sink: %w", err)
	}
	s := &probeSink{first: map[int]probeSeen{}}
	s.start(ln, s.serve)
	return s, nil
}

// URL is the drain URL of probe i.
func (s *probeSink) URL(host string, i int) string {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return "http://" + net.JoinHostPort(host, port) + "/p/" + strconv.Itoa(i)
}

// seen returns what the sink saw of probe i.
func (s *probeSink) seen(i int) (probeSeen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.first[i]
	return v, ok
}

func (s *probeSink) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 16<<10)
	var body []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		probe := -1
		if p := field(line, 1); bytes.HasPrefix(p, []byte("/p/")) {
			if i, err := strconv.Atoi(string(p[3:])); err == nil {
				probe = i
			}
		}
		h, err := readHeaders(br)
		if err != nil || h.length > maxSinkBody {
			return
		}
		body = grow(body, h.length)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		now := nowNs()
		s.record(probe, body, now)
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")); err != nil || h.close {
			return
		}
	}
}

// record notes the probe messages of one body for probe (its path).
func (s *probeSink) record(probe int, body []byte, now int64) {
	if probe < 0 {
		return
	}
	minSent := int64(-1)
	for len(body) > 0 {
		msg, used, k := frame.Next(body)
		if k != frame.Message {
			break
		}
		body = body[used:]
		i := bytes.Index(msg, probeMarker)
		if i < 0 {
			continue
		}
		id, sent, ok := bytes.Cut(msg[i+len(probeMarker):], []byte(":"))
		if !ok {
			continue
		}
		n, err1 := strconv.Atoi(string(id))
		ns, err2 := strconv.ParseInt(string(bytes.TrimSpace(sent)), 10, 64)
		if err1 != nil || err2 != nil || n != probe {
			continue
		}
		if minSent < 0 || ns < minSent {
			minSent = ns
		}
	}
	if minSent < 0 {
		return
	}
	s.mu.Lock()
	if v, ok := s.first[probe]; !ok {
		s.first[probe] = probeSeen{arrivedNs: now, sentNs: minSent}
	} else if minSent < v.sentNs {
		v.sentNs = minSent
		s.first[probe] = v
	}
	s.mu.Unlock()
}

// probeFrame is one octet-counted probe message for token tok.
func probeFrame(dst []byte, tok string, probe int, sentNs int64) []byte {
	msg := "<134>1 2026-01-02T03:04:05Z host " + tok + " probe.1 - - probe:" + strconv.Itoa(probe) + ":" + strconv.FormatInt(sentNs, 10)
	dst = strconv.AppendInt(dst, int64(len(msg)), 10)
	dst = append(dst, ' ')
	return append(dst, msg...)
}

// ProbeStats are the config-change probes of one run.
type ProbeStats struct {
	Probes     int     `json:"probes"`   // changes made (half tokens, half drains)
	Observed   int     `json:"observed"` // changes whose messages reached the probe sink
	Errors     int     `json:"errors"`   // API calls that failed
	RoutingP50 float64 `json:"routing_p50_ms"`
	RoutingP99 float64 `json:"routing_p99_ms"`
	RoutingMax float64 `json:"routing_max_ms"`
	// Delivery is from the request's start to the first arrival at the sink.
	DeliveryP50 float64 `json:"delivery_p50_ms"`
	DeliveryP99 float64 `json:"delivery_p99_ms"`
	APIP50      float64 `json:"api_p50_ms"` // the API call alone (it answers once its own snapshot has the change)
	APIP99      float64 `json:"api_p99_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	// Messages is the probe messages sent (one a millisecond per probe
	// until observed), on top of the load; not counted in its rate.
	Messages int64 `json:"messages"`
}

// probeSet is what the probes work on: probe channels written with the
// config. Probe i uses channel ids[i]; an even probe adds a token to a
// channel that has the drain /p/i, an odd one adds the drain /p/i to a
// channel that has the token toks[i].
type probeSet struct {
	chans []int
	toks  []string
}

// runProbes makes up to n config changes, `parallel` at a time, until d
// passes, and measures each (see the top of this file).
func (r *scenarioRun) runProbes(ctx context.Context, ps *probeSet, sink *probeSink, d time.Duration, workers int) ProbeStats {
	var (
		mu                 sync.Mutex
		st                 ProbeStats
		routing, del, apiH Histogram
		next               int
		wg                 sync.WaitGroup
	)
	end := time.Now().Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", r.router.Syslog)
			if err != nil {
				mu.Lock()
				st.Errors++
				st.FirstError = err.Error()
				mu.Unlock()
				return
			}
			defer c.Close()
			for ctx.Err() == nil && time.Now().Before(end) {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(ps.chans) {
					return
				}
				res, err := r.probe(ctx, c, ps, sink, i)
				mu.Lock()
				st.Probes++
				st.Messages += res.sent
				if err != nil {
					st.Errors++
					if st.FirstError == "" {
						st.FirstError = err.Error()
					}
				} else if res.seen {
					st.Observed++
					routing.Record(res.routing)
					del.Record(res.delivery)
					apiH.Record(res.api)
				}
				mu.Unlock()
				sleepCtx(ctx, 50*time.Millisecond)
			}
		}()
	}
	wg.Wait()
	st.RoutingP50, st.RoutingP99, st.RoutingMax = ms(routing.Quantile(0.5)), ms(routing.Quantile(0.99)), ms(routing.Max())
	st.DeliveryP50, st.DeliveryP99 = ms(del.Quantile(0.5)), ms(del.Quantile(0.99))
	st.APIP50, st.APIP99 = ms(apiH.Quantile(0.5)), ms(apiH.Quantile(0.99))
	return st
}

type probeResult struct {
	seen                   bool
	routing, delivery, api int64 // ns
	sent                   int64 // probe messages
}

// probeTimeout is how long a probe sends before it counts as not observed.
const probeTimeout = 10 * time.Second

// probe makes change i and sends on c until the sink sees its messages.
func (r *scenarioRun) probe(ctx context.Context, c net.Conn, ps *probeSet, sink *probeSink, i int) (probeResult, error) {
	var res probeResult
	t0 := time.Now()
	tok := ps.toks[i]
	type apiOut struct {
		err error
		dur int64
	}
	apiDone := make(chan apiOut, 1)
	if i%2 == 0 {
		// a new token: its id is known once the API answers
		t, err := r.api.CreateToken(ctx, ps.chans[i], "probe"+strconv.Itoa(i))
		if err != nil {
			return res, err
		}
		tok = t
		apiDone <- apiOut{dur: int64(time.Since(t0))}
	} else {
		// a new drain: the channel's token sends from the start
		go func() {
			_, err := r.api.CreateDrain(ctx, ps.chans[i], sink.URL(r.o.SinkHost, i), "")
			apiDone <- apiOut{err, int64(time.Since(t0))}
		}()
	}
	waitAPI := func() error {
		a := <-apiDone
		res.api = a.dur
		return a.err
	}
	var buf []byte
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := t0.Add(probeTimeout)
	apiOK := false
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if !apiOK && len(apiDone) > 0 {
			if err := waitAPI(); err != nil {
				return res, err
			}
			apiOK = true
		}
		if v, ok := sink.seen(i); ok {
			if !apiOK {
				if err := waitAPI(); err != nil {
					return res, err
				}
			}
			res.seen = true
			res.routing = max(v.sentNs-t0.UnixNano(), 0)
			res.delivery = v.arrivedNs - t0.UnixNano()
			return res, nil
		}
		now := time.Now()
		buf = probeFrame(buf[:0], tok, i, now.UnixNano())
		_ = c.SetWriteDeadline(now.Add(5 * time.Second))
		res.sent++
		if _, err := c.Write(buf); err != nil {
			if !apiOK {
				_ = waitAPI()
			}
			return res, fmt.Errorf("probe connection: %w", err)
		}
		<-tick.C
	}
	if !apiOK {
		if err := waitAPI(); err != nil {
			return res, err
		}
	}
	return res, nil
}

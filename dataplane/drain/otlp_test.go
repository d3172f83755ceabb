package drain

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/logplex/logplex/config"
)

// otlpMsg is a syslog message's parts, to build it and to know what its
// record must hold.
type otlpMsg struct {
	pri                   int
	ts, host, app, ps, id string
	sd                    string
	sdWant                map[string]map[string]string // structured_data as a map; nil: sd kept as a string
	body                  string
}

func (m otlpMsg) cooked() []byte {
	sd := m.sd
	if sd == "" {
		sd = "-"
	}
	return fmt.Appendf(nil, "<%d>1 %s %s %s %s %s %s %s", m.pri, m.ts, m.host, m.app, m.ps, m.id, sd, m.body)
}

// otlpCases covers every severity, non-ASCII bodies, structured data
// (escapes included), "-" fields and timestamps with offsets and fractions.
func otlpCases() []otlpMsg {
	var ms []otlpMsg
	for sev := range 8 {
		ms = append(ms, otlpMsg{pri: (sev+1)%24*8 + sev, ts: "2012-12-10T03:00:48.123456Z", host: "host", app: "app",
			ps: "web." + strconv.Itoa(sev+1), id: "-", body: "severity " + strconv.Itoa(sev)})
	}
	return append(ms,
		otlpMsg{pri: 190, ts: "-", host: "-", app: "app", ps: "-", id: "-", body: "no time, no host: héllo wörld ✓ 日本語 🚀"},
		otlpMsg{pri: 134, ts: "2003-10-11T22:14:15.003-07:00", host: "mymachine.example.com", app: "heroku", ps: "router", id: "ID47",
			sd:     `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
			sdWant: map[string]map[string]string{"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}, "examplePriority@32473": {"class": "high"}},
			body:   "at=info method=GET"},
		otlpMsg{pri: 14, ts: "2024-02-29T23:59:60+05:30", host: "h", app: "app", ps: "run.1", id: "-",
			sd:     `[x@1 q="say \"hi\" \\ a\]b ü"][empty@1]`,
			sdWant: map[string]map[string]string{"x@1": {"q": `say "hi" \ a]b ü`}, "empty@1": {}},
			body:   "line one\nline two\n"},
		otlpMsg{pri: 13, ts: "1985-04-12T23:20:50.52Z", host: "h", app: "heroku", ps: "api", id: "-",
			sd: `[id k=v]`, body: "loose structured data kept as a string"},
		otlpMsg{pri: 191, ts: "not-a-time", host: "h", app: "router-app", ps: "web.2", id: "-", body: ""},
		otlpMsg{pri: 190, ts: "2012-12-10T03:00:48Z", host: "h", app: "app", ps: "web.3", id: "-",
			body: strings.Repeat("a record longer than 16383 bytes (a three-byte length) ", 400)},
	)
}

// decodeOTLP decodes a request body as the Collector's OTLP receiver does.
func decodeOTLP(t testing.TB, body []byte) plog.Logs {
	t.Helper()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatalf("plogotlp: %v", err)
	}
	return req.Logs()
}

// otlpRecords returns the records of ld by service.name, in order, and
// checks that each resource appears once and carries the drain's attributes.
func otlpRecords(t testing.TB, ld plog.Logs, channel, token string) map[string][]plog.LogRecord {
	t.Helper()
	out := map[string][]plog.LogRecord{}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		attrs := rl.Resource().Attributes()
		name := attrStr(attrs, "service.name")
		if _, dup := out[name]; dup {
			t.Errorf("service.name %q in two ResourceLogs", name)
		}
		if got := attrStr(attrs, "logplex.channel_id"); got != channel {
			t.Errorf("%s: logplex.channel_id = %q, want %q", name, got, channel)
		}
		if got := attrStr(attrs, "logplex.drain_token"); got != token {
			t.Errorf("%s: logplex.drain_token = %q, want %q", name, got, token)
		}
		out[name] = nil
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			recs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				out[name] = append(out[name], recs.At(k))
			}
		}
	}
	return out
}

func attrStr(m pcommon.Map, k string) string {
	v, ok := m.Get(k)
	if !ok {
		return "<absent>"
	}
	return v.Str()
}

var sevWant = [8]struct {
	num  plog.SeverityNumber
	text string
}{
	{plog.SeverityNumberFatal, "emerg"}, {plog.SeverityNumberError3, "alert"}, {plog.SeverityNumberError2, "crit"},
	{plog.SeverityNumberError, "err"}, {plog.SeverityNumberWarn, "warning"}, {plog.SeverityNumberInfo2, "notice"},
	{plog.SeverityNumberInfo, "info"}, {plog.SeverityNumberDebug, "debug"},
}

// checkRecord compares a decoded record with the message it came from.
func checkRecord(t testing.TB, r plog.LogRecord, m otlpMsg, observed time.Time) {
	t.Helper()
	where := string(m.cooked())
	var wantTime uint64
	if ts, err := time.Parse(time.RFC3339Nano, m.ts); err == nil {
		wantTime = uint64(ts.UnixNano())
	} else if m.ts == "2024-02-29T23:59:60+05:30" { // a leap second: Go refuses it, RFC 3339 allows it
		wantTime = uint64(time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("", 19800)).UnixNano()) + 1e9
	}
	if got := uint64(r.Timestamp()); got != wantTime {
		t.Errorf("%s: time_unix_nano = %d, want %d", where, got, wantTime)
	}
	if got := r.ObservedTimestamp().AsTime(); !got.Equal(observed) {
		t.Errorf("%s: observed = %v, want %v", where, got, observed)
	}
	sev := sevWant[m.pri&7]
	if r.SeverityNumber() != sev.num || r.SeverityText() != sev.text {
		t.Errorf("%s: severity = %v %q, want %v %q", where, r.SeverityNumber(), r.SeverityText(), sev.num, sev.text)
	}
	if r.Body().Type() != pcommon.ValueTypeStr || r.Body().Str() != m.body {
		t.Errorf("%s: body = %v %q, want %q", where, r.Body().Type(), r.Body().AsString(), m.body)
	}
	a := r.Attributes()
	want := map[string]any{"appname": m.app, "facility": int64(m.pri >> 3), "priority": int64(m.pri)}
	for k, v := range map[string]string{"hostname": m.host, "proc_id": m.ps, "msg_id": m.id} {
		if v != "-" {
			want[k] = v
		}
	}
	switch {
	case m.sdWant != nil:
		sd := map[string]any{}
		for id, ps := range m.sdWant {
			pm := map[string]any{}
			for k, v := range ps {
				pm[k] = v
			}
			sd[id] = pm
		}
		want["structured_data"] = sd
	case m.sd != "":
		want["structured_data"] = m.sd
	}
	got := a.AsRaw()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: attributes\n got %v\nwant %v", where, got, want)
	}
}

func TestOTLPEncodeMatchesSyslog(t *testing.T) {
	ms := otlpCases()
	e := newOTLPEncoder("ch7", httpTestToken)
	observed := time.Date(2026, 12, 6, 22, 0, 0, 123456789, time.UTC)
	for round := range 2 { // the second round reuses the buffers
		e.reset(observed)
		for _, m := range ms {
			if !e.add(m.cooked()) {
				t.Fatalf("add(%q) = false", m.cooked())
			}
		}
		if e.add([]byte("<13>2 - h app - - - version 2 goes to no drain")) || e.add([]byte("garbage")) {
			t.Fatal("add accepted a message Logplex's drains reject")
		}
		ld := decodeOTLP(t, e.appendRequest(nil, observed, 0, time.Time{}))
		recs := otlpRecords(t, ld, "ch7", httpTestToken)
		byApp := map[string][]otlpMsg{}
		for _, m := range ms {
			byApp[m.app] = append(byApp[m.app], m)
		}
		if len(recs) != len(byApp) {
			t.Fatalf("round %d: %d resources, want %d", round, len(recs), len(byApp))
		}
		for app, want := range byApp {
			got := recs[app]
			if len(got) != len(want) {
				t.Fatalf("%s: %d records, want %d", app, len(got), len(want))
			}
			for i := range want {
				checkRecord(t, got[i], want[i], observed)
			}
		}
	}
}

// The L10 record joins the "heroku" resource, or is one of its own.
func TestOTLPEncodeL10(t *testing.T) {
	now := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	since := now.Add(-time.Minute)
	for _, app := range []string{"heroku", "app"} {
		e := newOTLPEncoder("ch7", httpTestToken)
		e.reset(now)
		e.add([]byte("<134>1 2012-12-10T03:00:48Z host " + app + " web.1 - - hello"))
		recs := otlpRecords(t, decodeOTLP(t, e.appendRequest(nil, now, 42, since)), "ch7", httpTestToken)
		h := recs["heroku"]
		if len(h) == 0 {
			t.Fatalf("%s: no heroku resource", app)
		}
		l10 := h[0]
		want := "Error L10 (output buffer overflow): 42 messages dropped since 2026-12-06T21:59:00+00:00."
		if l10.Body().Str() != want || l10.SeverityText() != "warning" || attrStr(l10.Attributes(), "proc_id") != "logplex" {
			t.Errorf("%s: L10 record body %q severity %q proc_id %q", app, l10.Body().Str(), l10.SeverityText(), attrStr(l10.Attributes(), "proc_id"))
		}
		if n := len(recs["heroku"]) + len(recs["app"]); n != 2 {
			t.Errorf("%s: %d records, want 2", app, n)
		}
	}
}

func TestParseRFC3339(t *testing.T) {
	good := []string{"2012-12-10T03:00:48Z", "2012-12-10T03:00:48.123456789Z", "2003-10-11T22:14:15.003-07:00",
		"1970-01-01T00:00:00+00:00", "2000-02-29T12:00:00.5+14:00", "1899-12-31T23:59:59z", "2012-12-10t03:00:48.1Z"}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)) // Go wants 'T' and 'Z'; RFC 3339 allows either case
		got, ok := parseRFC3339([]byte(s))
		if err != nil || !ok || got != want.UnixNano() {
			t.Errorf("parseRFC3339(%q) = %d %v, want %d (%v)", s, got, ok, want.UnixNano(), err)
		}
	}
	for _, s := range []string{"-", "", "2012-12-10", "2012-12-10T03:00:48", "2012-13-10T03:00:48Z", "2013-02-29T00:00:00Z",
		"2012-12-10T24:00:00Z", "2012-12-10T03:00:48.Z", "2012-12-10T03:00:48.1234567891Z", "2012-12-10T03:00:48+0000",
		"2012-12-10T03:00:48+24:00", "2012-12-10 03:00:48Z", "2012-12-10T03:00:48Zx"} {
		if got, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("parseRFC3339(%q) = %d, want not ok", s, got)
		}
	}
}

func TestOTLPRejectedAndRetryAfter(t *testing.T) {
	resp := plogotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedLogRecords(7)
	resp.PartialSuccess().SetErrorMessage("too old")
	b, _ := resp.MarshalProto()
	if got := otlpRejected(b); got != 7 {
		t.Errorf("otlpRejected = %d, want 7", got)
	}
	for _, b := range [][]byte{nil, []byte("ok"), {0x0a, 0x05, 0x08}} {
		if got := otlpRejected(b); got != 0 {
			t.Errorf("otlpRejected(%q) = %d, want 0", b, got)
		}
	}
	now := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "x": 0, "-1": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second, now.Add(-time.Hour).Format(http.TimeFormat): 0} {
		if got := otlpRetryAfter([]byte(v), now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}

// otlpReceiver is an OTLP/HTTP endpoint that decodes every request with
// plogotlp and answers as its script says.
type otlpReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []otlpReq
	respond func(n int) (status int, hdr http.Header, body []byte)
	changed chan struct{}
}

type otlpReq struct {
	header http.Header
	logs   plog.Logs
	status int
	at     time.Time
	proto  int // HTTP major version
}

func newOTLPReceiver(t *testing.T) *otlpReceiver { return newOTLPReceiverH2(t, false) }

// newOTLPReceiverH2 is newOTLPReceiver speaking cleartext HTTP/2 too (h2).
func newOTLPReceiverH2(t *testing.T, h2 bool) *otlpReceiver {
	r := &otlpReceiver{t: t, changed: make(chan struct{}),
		respond: func(int) (int, http.Header, []byte) { return 200, nil, nil }}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	if h2 {
		r.srv.Config.Protocols = new(http.Protocols)
		r.srv.Config.Protocols.SetHTTP1(true)
		r.srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, q *http.Request) {
	wire, _ := io.ReadAll(q.Body)
	body, err := decodeBody(q.Header.Get("Content-Encoding"), wire)
	if err != nil {
		r.t.Errorf("body: %v", err)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		r.t.Errorf("plogotlp: %v", err)
	}
	r.mu.Lock()
	status, hdr, rb := r.respond(len(r.reqs) + 1)
	r.reqs = append(r.reqs, otlpReq{header: q.Header, logs: req.Logs(), status: status, at: time.Now(), proto: q.ProtoMajor})
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = w.Write(rb)
}

// setRespond replaces the script. The server is already serving, and the
// only thing between this write and a handler's read is the drain's request
// on a TCP connection: no synchronisation the race detector sees (the drain
// writes a request with writev, which it does not track), so the script is
// set under mu, as the handler reads it.
func (r *otlpReceiver) setRespond(f func(n int) (int, http.Header, []byte)) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

func (r *otlpReceiver) url() string {
	return "otlp+http://" + strings.TrimPrefix(r.srv.URL, "http://") + "/v1/logs"
}

func (r *otlpReceiver) Reqs() []otlpReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpReq(nil), r.reqs...)
}

func (r *otlpReceiver) waitFor(what string, cond func([]otlpReq) bool) []otlpReq {
	r.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		reqs, ch := append([]otlpReq(nil), r.reqs...), r.changed
		r.mu.Unlock()
		if cond(reqs) {
			return reqs
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("timed out waiting for %s (%d requests)", what, len(reqs))
		}
	}
}

var l10Count = regexp.MustCompile(`^Error L10 \(output buffer overflow\): (\d+) messages dropped since `)

// tally counts the records of 200-answered requests (minus rejected ones)
// and the losses their L10 records report.
func tally(reqs []otlpReq, rejected map[int]int) (delivered, reported int) {
	for i, q := range reqs {
		if q.status != 200 {
			continue
		}
		delivered -= rejected[i+1]
		rl := q.logs.ResourceLogs()
		for j := 0; j < rl.Len(); j++ {
			sl := rl.At(j).ScopeLogs()
			for k := 0; k < sl.Len(); k++ {
				recs := sl.At(k).LogRecords()
				for n := 0; n < recs.Len(); n++ {
					if m := l10Count.FindStringSubmatch(recs.At(n).Body().Str()); m != nil {
						c, _ := strconv.Atoi(m[1])
						reported += c
						continue
					}
					delivered++
				}
			}
		}
	}
	return delivered, reported
}

func partialSuccess(n int64) []byte {
	resp := plogotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedLogRecords(n)
	b, _ := resp.MarshalProto()
	return b
}

// Retries, drops and partial success, with exact accounting: every message
// is delivered or reported lost in an L10 record, and the drain's counters
// agree; over HTTP/1.1 and over a shared HTTP/2 connection (the partial
// success is an answer's body, read from its DATA frames).
func TestOTLPDrainAccounting(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "http2"}[h2], func(t *testing.T) { testOTLPDrainAccounting(t, h2) })
	}
}

func testOTLPDrainAccounting(t *testing.T, h2 bool) {
	rcv := newOTLPReceiverH2(t, h2)
	rejected := map[int]int{3: 2}
	rcv.setRespond(func(n int) (int, http.Header, []byte) {
		switch n {
		case 1:
			return 503, nil, nil
		case 2:
			return 429, http.Header{"Retry-After": {"0"}}, nil
		case 3:
			return 200, nil, partialSuccess(2)
		case 4, 5, 6:
			return 502, nil, nil // the frame's three tries: dropped
		case 7:
			return 400, nil, nil // not retried: dropped
		case 8:
			return 500, nil, nil // not retryable in OTLP: dropped
		}
		return 200, nil, nil
	})
	o := Options{HTTPTargetBytes: 300}
	if h2 {
		o.HTTP2 = HTTP2All
	}
	d := startOTLP(t, o, rcv.url(), "", "x-api-key: s3cret\nAuthorization: Bearer abc")
	sent := 0
	for round := range 12 {
		push(d, testMsgs(sent, 3+round%3)...)
		sent += 3 + round%3
		want := round + 1
		rcv.waitFor(fmt.Sprintf("request %d", want), func(r []otlpReq) bool { return len(r) >= want })
	}
	reqs := rcv.waitFor("every message accounted", func(r []otlpReq) bool {
		del, rep := tally(r, rejected)
		return del+rep == sent
	})
	del, rep := tally(reqs, rejected)
	if rep == 0 || del == 0 {
		t.Errorf("delivered %d, reported %d: want both", del, rep)
	}
	waitFor(t, wait, "drain counters", func() bool {
		st := d.Status()
		return st.Delivered == uint64(del) && st.Dropped == uint64(rep) && st.Buffered == 0
	})
	h := reqs[0].header
	if h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "gzip" ||
		h.Get("X-Api-Key") != "s3cret" || h.Get("Authorization") != "Bearer abc" || h.Get("Logplex-Msg-Count") != "" {
		t.Errorf("request headers %v", h)
	}
	for _, q := range reqs {
		if want := map[bool]int{false: 1, true: 2}[h2]; q.proto != want {
			t.Fatalf("a request over HTTP/%d, want %d", q.proto, want)
		}
	}
	if reqs[0].logs.LogRecordCount() != reqs[1].logs.LogRecordCount() {
		t.Errorf("a 503-answered frame was not sent again: %d then %d records", reqs[0].logs.LogRecordCount(), reqs[1].logs.LogRecordCount())
	}
}

// Retry-After is honoured: the next try waits at least that long.
func TestOTLPDrainRetryAfter(t *testing.T) {
	rcv := newOTLPReceiver(t)
	rcv.setRespond(func(n int) (int, http.Header, []byte) {
		if n == 1 {
			return 429, http.Header{"Retry-After": {"1"}}, nil
		}
		return 200, nil, nil
	})
	d := startOTLP(t, Options{}, rcv.url(), "none", "")
	push(d, testMsg(1))
	reqs := rcv.waitFor("the retry", func(r []otlpReq) bool { return len(r) >= 2 })
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %v, Retry-After asked for 1s", gap)
	}
	if reqs[1].header.Get("Content-Encoding") != "" || reqs[1].logs.LogRecordCount() != 1 {
		t.Errorf("retry: Content-Encoding %q, %d records", reqs[1].header.Get("Content-Encoding"), reqs[1].logs.LogRecordCount())
	}
}

func startOTLP(t testing.TB, o Options, url, compression, headers string) *Drain {
	t.Helper()
	opts := testOptions(o)
	u, err := config.ParseDrainURL(url)
	if err != nil {
		t.Fatalf("ParseDrainURL(%q): %v", url, err)
	}
	d := &Drain{Config: &config.Drain{ID: httpNextID.Add(1), ChannelID: "ch1", Token: httpTestToken,
		URL: url, Compression: compression, Headers: headers}, URL: u}
	s, err := newHTTPSender(&opts, d)
	if err != nil {
		t.Fatalf("newHTTPSender: %v", err)
	}
	runDrain(d, s)
	t.Cleanup(func() { d.stop(time.Second) })
	return d
}

// The encoder allocates nothing per message once its buffers have grown.
func TestOTLPEncoderAllocs(t *testing.T) {
	msgs := logLines(200, 1)
	msgs = append(msgs, otlpCases()[9].cooked(), otlpCases()[10].cooked())
	e := newOTLPEncoder("ch1", httpTestToken)
	var body, z []byte
	frameOf := func() {
		e.reset(time.Unix(1, 0))
		for _, m := range msgs {
			e.add(m)
		}
		body = e.appendRequest(body[:0], time.Unix(2, 0), 3, time.Unix(1, 0))
	}
	frameOf()
	if n := testing.AllocsPerRun(50, frameOf); n != 0 {
		t.Errorf("%.1f allocations per frame of %d messages, want 0", n, len(msgs))
	}
	if httpRaceEnabled {
		return // sync.Pool drops items under -race
	}
	gz := func() { z = appendGzip(z[:0], body) } // as the sender compresses: per frame
	gz()
	if n := testing.AllocsPerRun(50, gz); n > 0 {
		t.Errorf("%.1f allocations per gzip of a frame, want 0", n)
	}
}

// BenchmarkOTLPEncode: messages per second into one OTLP drain's body,
// encode and gzip (level 1), frames of HTTPTargetBytes (100 KB) of cooked
// messages.
func BenchmarkOTLPEncode(b *testing.B) {
	for _, c := range []struct{ name, coding string }{{"none", "none"}, {"gzip", codingGzip}, {"gzip-120B", codingGzip}} {
		coding := c.coding
		b.Run(c.name, func(b *testing.B) {
			msgs := logLines(4096, 1)
			if c.name == "gzip-120B" { // the size logplex bench sends
				for i := range msgs {
					m := fmt.Appendf(nil, "<134>1 2024-05-01T12:00:00.%06d+00:00 host app web.%d - - seq=%d ", i, 1+i%4, i)
					msgs[i] = append(m, strings.Repeat("x", 120-len(m))...)
				}
			}
			e := newOTLPEncoder("ch1", httpTestToken)
			var raw, z []byte
			budget, size, cooked := 102400, 0, 0
			now := time.Now()
			flush := func() {
				raw = e.appendRequest(raw[:0], now, 0, now)
				if coding == codingGzip {
					z = appendGzip(z[:0], raw)
				}
				e.reset(now)
				size = 0
			}
			e.reset(now)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				m := msgs[i&4095]
				if size+len(m) >= budget {
					flush()
				}
				e.add(m)
				size += len(m)
				cooked += len(m)
			}
			flush()
			cpu := processCPU() - cpu0
			b.SetBytes(int64(cooked / max(b.N, 1)))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			// per core: the process's CPU time (this goroutine, GC and all),
			// which a loaded machine does not inflate as it does wall time
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "msgs/cpu-s")
		})
	}
}

// processCPU returns the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The OTLP send path (take a frame from the buffer, encode it with its L10
// record, gzip it, fill the request with the drain's headers) does not
// allocate once warm.
func TestOTLPSendPathAllocs(t *testing.T) {
	if httpRaceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	opts := testOptions(Options{})
	url := "otlp+http://127.0.0.1:9/v1/logs"
	u, _ := config.ParseDrainURL(url)
	d := &Drain{Config: &config.Drain{ID: httpNextID.Add(1), ChannelID: "ch1", Token: httpTestToken, URL: url,
		Headers: "x-api-key: k"}, URL: u}
	snd, err := newHTTPSender(&opts, d)
	if err != nil {
		t.Fatal(err)
	}
	s := snd.(*httpSender)
	batch := newBenchBatch(FormCooked, logLines(100, 1))
	frame := func() {
		d.Buf.PushBatch(batch.buf, batch.spans, 1)
		if !s.nextFrame() {
			t.Fatal("no frame")
		}
		s.dropped, s.dropSince = 1, time.Unix(1e9, 0) // with an L10 record
		body, count := s.body(time.Unix(1e9, 0))
		s.conns.head = s.tmpl.appendHead(s.conns.head[:0], len(body), count, s.fr.id[:])
		s.fr.msgs = 0
	}
	for range 2000 {
		frame()
	}
	if allocs := testing.AllocsPerRun(100, frame); allocs != 0 {
		t.Errorf("%v allocations per frame of 100 messages, want 0", allocs)
	}
}

// FuzzOTLPEncode: any message either goes to no drain or becomes a record
// the Collector's library decodes, with MSG as its body.
func FuzzOTLPEncode(f *testing.F) {
	for _, m := range otlpCases() {
		f.Add(m.cooked())
	}
	f.Add([]byte(`<14>1 2024-02-29T23:59:60.1234567891+05:30 h app run.1 - [a b="\\\"][c] x`))
	f.Add([]byte(`<999>1 - - - - - [x@1 a="]"] y`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		e := newOTLPEncoder("ch", httpTestToken)
		e.reset(time.Unix(1, 0))
		if !e.add(msg) {
			return
		}
		ld := decodeOTLP(t, e.appendRequest(nil, time.Unix(1, 0), 1, time.Unix(0, 0)))
		if n := ld.LogRecordCount(); n != 2 {
			t.Fatalf("%d records, want the message and the L10", n)
		}
	})
}

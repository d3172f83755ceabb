package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// otlpSink is an OTLP/HTTP logs receiver: it decodes each request as the
// OpenTelemetry Collector does (pdata's plogotlp), answers as scripted, and
// counts, for the requests it accepted, the records by "seq=<n>" and the
// losses that L10 records report.
type otlpSink struct {
	URL string

	mu       sync.Mutex
	seen     map[int]int // seq → times delivered
	reported int
	requests int
	headers  []http.Header
	sample   plog.LogRecord
	res      map[string]string // resource attributes of the sample
	status   func(n int) (int, http.Header)
	bad      []string
}

var otlpL10 = regexp.MustCompile(`^Error L10 \(output buffer overflow\): (\d+) messages dropped since `)

func startOTLPSink(t *testing.T, status func(n int) (int, http.Header)) *otlpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &otlpSink{URL: "otlp+http://" + ln.Addr().String() + "/v1/logs", seen: map[int]int{}, status: status}
	srv := &http.Server{Handler: http.HandlerFunc(s.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *otlpSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, err = io.ReadAll(zr)
		}
	}
	req := plogotlp.NewExportRequest()
	if err == nil {
		err = req.UnmarshalProto(body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if err != nil {
		s.bad = append(s.bad, err.Error())
	}
	s.headers = append(s.headers, r.Header)
	code, hdr := s.status(s.requests)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	if code != 200 {
		return
	}
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			recs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				s.count(rl, recs.At(k))
			}
		}
	}
}

// count records one accepted record (under mu).
func (s *otlpSink) count(rl plog.ResourceLogs, rec plog.LogRecord) {
	body := rec.Body().Str()
	if m := otlpL10.FindStringSubmatch(body); m != nil {
		n, _ := strconv.Atoi(m[1])
		s.reported += n
		return
	}
	_, after, ok := strings.Cut(body, "seq=")
	seq, err := strconv.Atoi(after)
	if !ok || err != nil {
		s.bad = append(s.bad, "record without seq: "+body)
		return
	}
	s.seen[seq]++
	if s.res == nil {
		s.sample = plog.NewLogRecord()
		rec.CopyTo(s.sample)
		s.res = map[string]string{}
		rl.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			s.res[k] = v.AsString()
			return true
		})
	}
}

// account returns the messages of seq lo..hi-1 delivered (once or more),
// duplicates, and the losses reported so far.
func (s *otlpSink) account(lo, hi int) (delivered, dups, reported int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for seq, n := range s.seen {
		if seq >= lo && seq < hi {
			delivered++
			dups += n - 1
		}
	}
	return delivered, dups, s.reported
}

// TestOTLPDrainThroughBinary: TCP syslog in, OTLP/HTTP out to a receiver
// that answers 503 and 429 (with Retry-After) for a while. Every message
// is delivered or reported lost in an L10 record, exactly; the records
// decode with the Collector's own library and carry the mapping; the
// drain's header reaches the receiver and never the process's output.
func TestOTLPDrainThroughBinary(t *testing.T) {
	sink := startOTLPSink(t, func(n int) (int, http.Header) {
		switch {
		case n >= 3 && n < 8:
			return 503, nil
		case n >= 8 && n < 11:
			return 429, http.Header{"Retry-After": {"1"}}
		case n == 11:
			return 400, nil // not retried: the frame is lost, and reported
		}
		return 200, nil
	})
	p := StartAll(t, binPath, t.TempDir(), "--allow-private-drains", "--http-drain-buffer-size", "300",
		"--http-drain-target-bytes", "4096", "--http-reconnect-time", "1", "--drain-status-interval", "50ms")
	ch, tok := createChannel(t, p, "app")
	const secret = "otlp-e2e-s3cret"
	r := Do(t, "POST", "http://"+p.API+"/v2/channels/"+ch+"/drains", p.User, p.Pass, nil,
		[]byte(`{"url":"`+sink.URL+`","headers":{"x-api-key":"`+secret+`"}}`))
	if r.Status != 201 || strings.Contains(r.Body, secret) {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	var d struct {
		ID    int64
		Token string
	}
	JSON(t, r, &d)
	waitDrainRunning(t, p.V3, ch, d.ID, nil, p.User, p.Pass, 1)
	const n = 3000
	for i := 0; i < n; i += 100 { // a steady load: 100 messages every 10 ms
		sendTCP(t, p.Syslog, tok, i, i+100, nil)
		time.Sleep(10 * time.Millisecond)
	}
	marker := 1_000_000 // messages after the storm carry the last L10 record
	var delivered, dups, reported int
	Eventually(t, 30*time.Second, "every message delivered or reported", func() bool {
		sendTCP(t, p.Syslog, tok, marker, marker+1, nil)
		marker++
		delivered, dups, reported = sink.account(0, n)
		return delivered+reported >= n
	})
	t.Logf("account: sent %d = delivered %d + reported dropped %d (duplicates from retries: %d)", n, delivered, reported, dups)
	if delivered+reported != n {
		t.Fatalf("sent %d != delivered %d + reported %d", n, delivered, reported)
	}
	if reported == 0 {
		t.Fatal("the 400 and the overflow during the 503/429 storm must have lost something: the faults did not happen")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bad) > 0 {
		t.Fatalf("receiver: %v", sink.bad[:min(len(sink.bad), 5)])
	}
	for i, h := range sink.headers {
		if h.Get("X-Api-Key") != secret || h.Get("Content-Type") != "application/x-protobuf" || h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("request %d headers: %v", i+1, h)
		}
	}
	if want := map[string]string{"service.name": "app", "logplex.channel_id": ch, "logplex.drain_token": d.Token}; fmt.Sprint(sink.res) != fmt.Sprint(want) {
		t.Errorf("resource %v, want %v", sink.res, want)
	}
	rec := sink.sample
	ts := time.Date(2012, 12, 10, 3, 0, 48, 123456000, time.UTC)
	if !rec.Timestamp().AsTime().Equal(ts) || rec.SeverityNumber() != plog.SeverityNumberInfo || rec.SeverityText() != "info" {
		t.Errorf("record time %v severity %v %q", rec.Timestamp().AsTime(), rec.SeverityNumber(), rec.SeverityText())
	}
	attrs := rec.Attributes().AsRaw()
	if fmt.Sprint(attrs) != fmt.Sprint(map[string]any{"appname": "app", "facility": int64(16), "hostname": "host", "priority": int64(134), "proc_id": "web.1"}) {
		t.Errorf("record attributes %v", attrs)
	}
	if strings.Contains(p.Output(), secret) {
		t.Fatal("the drain's header value appears in the process output")
	}
}

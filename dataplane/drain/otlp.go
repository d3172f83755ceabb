package drain

// OTLP/HTTP log drains (an extension): otlp+http(s)://host[:port]/v1/logs.
// The HTTP drain's sender (http.go) with an otlpEncoder (otlp_encode.go):
// same buffer bound, batching (HTTPTargetBytes of cooked messages per
// request, HTTPBatchAge), connection handling, degrading and accounting;
// what differs is the body (an ExportLogsServiceRequest, gzip unless the
// drain's compression says "zstd" or "none"), the headers (the drain's
// own, e.g. an API key) and the outcome of an answer, per the OTLP/HTTP
// specification:
//
//	2xx                 delivered; a partial success's rejected_log_records
//	                    are counted as dropped and reported in the next L10
//	429, 502, 503, 504  retried (the frame keeps 1+HTTPFrameRetries tries) on
//	                    the same connection after a backoff: HTTPReconnectTime
//	                    × 2^n, n the consecutive retryable answers (≤
//	                    HTTPMaxRetries), jittered, or the answer's Retry-After
//	                    if longer (at most otlpMaxRetryAfter)
//	no answer           retried on a new connection, as by HTTP drains (fail)
//	anything else       the frame is dropped (reported in the next L10)

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// otlpMaxRetryAfter caps the wait a Retry-After header asks for.
const otlpMaxRetryAfter = time.Minute

// popOTLP adds one cooked message to the OTLP frame being filled, with the
// HTTP drain's budget rule on the cooked bytes; it returns false, leaving
// it in the buffer, when it belongs to the next frame. A message that does
// not parse is taken and counted (skipped).
func (s *httpSender) popOTLP(msg []byte) bool {
	if s.full {
		return false
	}
	switch size := len(msg); {
	case s.budget-size > 0:
		s.budget -= size
	case size >= s.o.HTTPTargetBytes:
		s.full = true
	default:
		return false
	}
	if s.otlp.add(msg) {
		s.fr.msgs++
	} else {
		s.skipped++
	}
	return true
}

// otlpBody writes the request of this try into raw (with the L10 record
// when a loss is pending) and compresses it; it returns the body and its
// record count.
func (s *httpSender) otlpBody(now time.Time) ([]byte, int) {
	n, since, count := s.dropped+s.fr.loss, now, s.fr.msgs
	if s.dropped > 0 {
		since = s.dropSince
	}
	if n > 0 {
		count++
	}
	s.raw = s.otlp.appendRequest(s.raw[:0], now, n, since)
	body := s.raw
	if s.coding != "" {
		s.zbody = appendCompressed(s.zbody[:0], body, s.coding)
		body = s.zbody
	}
	return body, count
}

// otlpOutcome acts on the answer to one try of an OTLP frame (status 0:
// none, err says why).
func (s *httpSender) otlpOutcome(status int, err error, now time.Time) {
	switch {
	case status >= 200 && status < 300:
		rejected := min(otlpRejected(s.ans.body), int64(s.fr.msgs))
		s.fr.msgs -= int(rejected)
		s.delivered(now)
		if rejected > 0 { // dropped now, reported in the next L10
			s.fr.msgs, s.fr.loss = int(rejected), 0
			s.d.Stats.SetError(fmt.Errorf("partial success: %d log records rejected", rejected))
			s.dropFrame(now)
		}
	case status == 0:
		s.retryFrame(now)
		s.fail(fmt.Errorf("POST: %w", err))
	case otlpRetryable(status):
		s.retryFrame(now)
		s.throttle(fmt.Errorf("POST answered %d", status), otlpRetryAfter(s.ans.retryAfter, now))
	default:
		s.d.Stats.SetError(fmt.Errorf("POST answered %d: frame of %d messages dropped", status, s.fr.msgs))
		s.dropFrame(now)
	}
}

// otlpRetryable: the statuses the OTLP/HTTP specification retries.
func otlpRetryable(status int) bool {
	return status == 429 || status == 502 || status == 503 || status == 504
}

// throttle waits before the next try after a retryable answer: the
// connection stays open; the wait grows with each such answer in a row.
func (s *httpSender) throttle(err error, retryAfter time.Duration) {
	if !s.failing {
		s.failing = true
		s.logger().Warn("otlp drain throttled", "err", err)
	}
	s.maybeShrink(time.Now())
	s.d.Stats.SetError(err)
	s.throttled++
	unit := s.o.HTTPReconnectTime << min(s.throttled, s.o.HTTPMaxRetries, 30)
	wait := unit/2 + time.Duration(rand.Int64N(int64(unit/2)+1))
	wait = max(wait, min(retryAfter, otlpMaxRetryAfter))
	s.backingOff = true
	s.reconnectTimer.Reset(wait)
}

// otlpRetryAfter reads a Retry-After header (delay-seconds or an HTTP
// date); 0 when absent or unreadable.
func otlpRetryAfter(v []byte, now time.Time) time.Duration {
	if len(v) == 0 {
		return 0
	}
	if secs, err := strconv.ParseUint(string(v), 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(string(v)); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// otlpRejected returns partial_success.rejected_log_records of an
// ExportLogsServiceResponse (0 when absent, negative or unreadable).
func otlpRejected(body []byte) int64 {
	ps, ok := pbField(body, 1)
	if !ok {
		return 0
	}
	for len(ps) > 0 {
		num, typ, n := protowire.ConsumeTag(ps)
		if n < 0 {
			return 0
		}
		ps = ps[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(ps)
			if n < 0 || int64(v) < 0 {
				return 0
			}
			return int64(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, ps)
		if n < 0 {
			return 0
		}
		ps = ps[n:]
	}
	return 0
}

// pbField returns the last length-delimited field num of message b.
func pbField(b []byte, num protowire.Number) (v []byte, ok bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			val, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, false
			}
			v, ok, b = val, true, b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
	}
	return v, ok
}

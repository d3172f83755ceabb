package bench

import (
	"bytes"
	"errors"
)

// The OTLP/HTTP drain endpoint is the HTTP sink (sink_http.go) reading each
// body as an ExportLogsServiceRequest: every log record is recorded as the
// HTTP drain line "<0>1 - host <service.name> - - <body>", so the recorder
// checks routing (service.name is the token name), content and latency as
// for HTTP drains, and counts L10 records as notices. The protobuf is
// walked by hand (bench imports no protobuf module).

// StartOTLPSink listens on addr (host:0 for a free port).
func StartOTLPSink(addr string, rec *Recorder) (*HTTPSink, error) {
	return startHTTPSink(addr, rec, true, false)
}

// otlpURL is the OTLP drain URL of endpoint i of an OTLP sink.
func (s *HTTPSink) otlpURL(host string, i int) string { return "otlp+" + s.URL(host, i) }

var errOTLP = errors.New("malformed ExportLogsServiceRequest")

// recordOTLP records every log record of the request body and returns how
// many there were.
func (sc *sinkScratch) recordOTLP(body []byte) (int, error) {
	n := 0
	for len(body) > 0 {
		num, val, rest, ok := pbNext(body)
		if !ok {
			return n, errOTLP
		}
		body = rest
		if num != 1 || val == nil {
			continue
		}
		k, err := sc.recordResourceLogs(val)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// recordResourceLogs records the records of one ResourceLogs.
func (sc *sinkScratch) recordResourceLogs(rl []byte) (int, error) {
	var name []byte
	for b := rl; len(b) > 0; { // resource (1) → attributes (1) → service.name
		num, val, rest, ok := pbNext(b)
		if !ok {
			return 0, errOTLP
		}
		b = rest
		if num == 1 && val != nil {
			name = otlpServiceName(val)
		}
	}
	n := 0
	for b := rl; len(b) > 0; { // scope_logs (2) → log_records (2) → body (5) → string_value (1)
		num, scope, rest, _ := pbNext(b)
		b = rest
		if num != 2 || scope == nil {
			continue
		}
		for len(scope) > 0 {
			num, rec, rest, ok := pbNext(scope)
			if !ok {
				return n, errOTLP
			}
			scope = rest
			if num != 2 || rec == nil {
				continue
			}
			sc.line = append(append(append(sc.line[:0], "<0>1 - host "...), name...), " - - "...)
			sc.line = append(sc.line, pbString(pbField(rec, 5), 1)...)
			sc.b.Add(sc.line)
			n++
		}
	}
	return n, nil
}

// otlpServiceName returns the service.name attribute of a Resource.
func otlpServiceName(res []byte) []byte {
	for len(res) > 0 {
		num, kv, rest, ok := pbNext(res)
		if !ok {
			return nil
		}
		res = rest
		if num == 1 && bytes.Equal(pbField(kv, 1), []byte("service.name")) {
			return pbString(pbField(kv, 2), 1)
		}
	}
	return nil
}

// pbString is the string field num of message m (an AnyValue: 1).
func pbString(m []byte, num int) []byte { return pbField(m, num) }

// pbField returns the first length-delimited field num of message m.
func pbField(m []byte, num int) []byte {
	for len(m) > 0 {
		n, val, rest, ok := pbNext(m)
		if !ok {
			return nil
		}
		if n == num && val != nil {
			return val
		}
		m = rest
	}
	return nil
}

// pbNext reads one field of a protobuf message: its number, its payload
// when length-delimited (nil otherwise) and what follows.
func pbNext(b []byte) (num int, val, rest []byte, ok bool) {
	tag, b, ok := pbVarint(b)
	if !ok {
		return 0, nil, nil, false
	}
	num = int(tag >> 3)
	switch tag & 7 {
	case 0:
		_, b, ok = pbVarint(b)
		return num, nil, b, ok
	case 1:
		if len(b) < 8 {
			return 0, nil, nil, false
		}
		return num, nil, b[8:], true
	case 2:
		l, b, ok := pbVarint(b)
		if !ok || l > uint64(len(b)) {
			return 0, nil, nil, false
		}
		return num, b[:l:l], b[l:], true
	case 5:
		if len(b) < 4 {
			return 0, nil, nil, false
		}
		return num, nil, b[4:], true
	}
	return 0, nil, nil, false
}

func pbVarint(b []byte) (uint64, []byte, bool) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}

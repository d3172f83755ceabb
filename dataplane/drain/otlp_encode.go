package drain

// The OTLP/HTTP log payload (an extension): one ExportLogsServiceRequest in
// protobuf per frame, written with protowire into reused buffers, no
// allocation per message once they have grown.
//
//	ExportLogsServiceRequest
//	└─ resource_logs (1), one per token name (service.name) in the frame
//	   ├─ resource (1): attributes service.name, logplex.channel_id, logplex.drain_token
//	   └─ scope_logs (2)
//	      └─ log_records (2), one per message, in buffer order:
//	         time_unix_nano (1)  TIMESTAMP (RFC 3339), absent when "-" or unparsable
//	         severity_number (2), severity_text (3)  from PRI's severity
//	         body (5)            MSG, a string
//	         attributes (6)      hostname, appname, proc_id, msg_id (each unless "-"),
//	                             facility, priority (ints), structured_data (a map of
//	                             SD-ID -> map of PARAM-NAME -> PARAM-VALUE, unless "-")
//	         observed_time_unix_nano (11)  when the drain took the frame from its buffer
//
// Names and values follow the OpenTelemetry Collector's syslog receiver
// (stanza's syslog parser, RFC 5424), so its dashboards work unchanged.
// Messages are parsed as Logplex's drains parse them (frame.ParseDrain): a
// message that does not parse goes to no drain.

import (
	"bytes"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logplex/logplex/frame"
)

// Field numbers (opentelemetry/proto/logs/v1, common/v1, resource/v1).
const (
	pbRequestResourceLogs = 1 // ExportLogsServiceRequest.resource_logs
	pbResourceLogsRes     = 1 // ResourceLogs.resource
	pbResourceLogsScope   = 2 // ResourceLogs.scope_logs
	pbResourceAttrs       = 1 // Resource.attributes
	pbScopeLogsRecords    = 2 // ScopeLogs.log_records
	pbRecTime             = 1
	pbRecSevNum           = 2
	pbRecSevText          = 3
	pbRecBody             = 5
	pbRecAttrs            = 6
	pbRecObserved         = 11
	pbKVKey               = 1 // KeyValue.key
	pbKVValue             = 2 // KeyValue.value
	pbAnyString           = 1 // AnyValue.string_value
	pbAnyInt              = 3 // AnyValue.int_value
	pbAnyKVList           = 6 // AnyValue.kvlist_value
	pbKVListValues        = 1 // KeyValueList.values
)

// otlpSeverity maps a syslog severity to the OTLP severity number and text
// the Collector's syslog parser gives it.
var otlpSeverity = [8]struct {
	num  uint64
	text string
}{
	{21, "emerg"},   // FATAL
	{19, "alert"},   // ERROR3
	{18, "crit"},    // ERROR2
	{17, "err"},     // ERROR
	{13, "warning"}, // WARN
	{10, "notice"},  // INFO2
	{9, "info"},     // INFO
	{5, "debug"},    // DEBUG
}

// otlpGroup is the records of one resource (token name) in the frame.
type otlpGroup struct {
	name []byte // service.name
	recs []byte // ScopeLogs.log_records fields, tag and length included
}

// otlpEncoder builds the request of one frame. Messages are added (add) as
// they are taken from the buffer; the request is written (appendRequest) on
// each try, with the L10 record of that try.
type otlpEncoder struct {
	channelID, drainToken string
	observed              uint64 // observed_time_unix_nano of the frame's records

	groups []otlpGroup // groups[:n] in use; buffers kept for the next frame
	n      int

	rec, sd, sdElem []byte // scratch: one record, its structured data
	l10, l10rec     []byte // scratch: the L10 message and its record
}

func newOTLPEncoder(channelID, drainToken string) *otlpEncoder {
	return &otlpEncoder{channelID: channelID, drainToken: drainToken}
}

// reset starts a new frame whose records were observed at now.
func (e *otlpEncoder) reset(now time.Time) {
	e.n = 0
	e.observed = uint64(now.UnixNano())
}

// release drops the buffers (an idle drain).
func (e *otlpEncoder) release() {
	e.groups, e.n = nil, 0
	e.rec, e.sd, e.sdElem, e.l10, e.l10rec = nil, nil, nil, nil, nil
}

// add encodes the cooked message msg as a record of the frame; it reports
// false, encoding nothing, when msg does not parse as a drain message.
// msg is only read during the call.
func (e *otlpEncoder) add(msg []byte) bool {
	f, ok := frame.ParseDrain(msg)
	if !ok {
		return false
	}
	g := e.group(f.Source)
	b := protowire.AppendTag(g.recs, pbScopeLogsRecords, protowire.BytesType)
	at := len(b)
	b = append(b, 0, 0) // room for the length of a record of 128..16383 bytes, the usual
	b = e.appendRecord(b, msg, &f)
	g.recs = putLen(b, at, 2)
	return true
}

var zeros [10]byte // a varint is at most 10 bytes

// putLen writes the length of b[at+room:] as a varint at b[at:], in the
// room bytes left for it there, moving the bytes after it when the varint
// needs more or fewer.
func putLen(b []byte, at, room int) []byte {
	n := len(b) - at - room
	sz := protowire.SizeVarint(uint64(n))
	switch {
	case sz > room:
		b = append(b, zeros[:sz-room]...)
		copy(b[at+sz:], b[at+room:len(b)-(sz-room)])
	case sz < room:
		copy(b[at+sz:], b[at+room:])
		b = b[:len(b)-(room-sz)]
	}
	protowire.AppendVarint(b[at:at], uint64(n)) // within b: fits in sz bytes
	return b
}

// group returns the frame's group for service.name name, starting one if
// needed. A frame holds few names (a channel's tokens): a linear search.
func (e *otlpEncoder) group(name []byte) *otlpGroup {
	for i := range e.groups[:e.n] {
		if bytes.Equal(e.groups[i].name, name) {
			return &e.groups[i]
		}
	}
	if e.n == len(e.groups) {
		e.groups = append(e.groups, otlpGroup{})
	}
	g := &e.groups[e.n]
	e.n++
	g.name = append(g.name[:0], name...)
	g.recs = g.recs[:0]
	return g
}

// appendRecord appends the LogRecord fields of msg, parsed as f.
func (e *otlpEncoder) appendRecord(b, msg []byte, f *frame.Fields) []byte {
	// ParseDrain checked the single-SP layout, so the fields it skips lie
	// between the ones it returns: offsets from the capacities.
	off := func(s []byte) int { return cap(msg) - cap(s) }
	hostStart := off(f.Time) + len(f.Time) + 1
	host := msg[hostStart : off(f.Source)-1]
	psEnd := off(f.PS) + len(f.PS)
	idEnd := psEnd + 1 + bytes.IndexByte(msg[psEnd+1:], ' ')
	msgID := msg[psEnd+1 : idEnd]
	sd := msg[idEnd+1 : off(f.Content)-1]

	if t, ok := parseRFC3339(f.Time); ok {
		b = protowire.AppendTag(b, pbRecTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, uint64(t))
	}
	b = append(b, otlpSevFields[f.Pri&7]...)
	b = append(b, pbBodyTag)
	b = appendVarint(b, uint64(sizeStringField(len(f.Content))))
	b = append(b, pbAnyStringTag)
	b = appendVarint(b, uint64(len(f.Content)))
	b = append(b, f.Content...)
	b = appendAttr(b, otlpKeyHostname, host)
	b = appendAttr(b, otlpKeyAppname, f.Source)
	b = appendAttr(b, otlpKeyProcID, f.PS)
	b = appendAttr(b, otlpKeyMsgID, msgID)
	b = append(b, otlpPriAttrs[f.Pri&255]...)
	if !isNil(sd) {
		b = e.appendSDAttr(b, sd)
	}
	b = protowire.AppendTag(b, pbRecObserved, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, e.observed)
}

// The per-record constants, encoded once: the severity fields by syslog
// severity, the facility and priority attributes by PRI (ParseDrain wraps
// it to 8 bits), and the attribute keys (KeyValue.key fields).
var (
	otlpSevFields = func() (t [8][]byte) {
		for i, s := range otlpSeverity {
			b := protowire.AppendTag(nil, pbRecSevNum, protowire.VarintType)
			b = protowire.AppendVarint(b, s.num)
			t[i] = appendStringField(b, pbRecSevText, s.text)
		}
		return t
	}()
	otlpPriAttrs = func() (t [256][]byte) {
		for pri := range t {
			b := appendIntAttr(nil, pbRecAttrs, "facility", uint64(pri>>3))
			t[pri] = appendIntAttr(b, pbRecAttrs, "priority", uint64(pri))
		}
		return t
	}()
	otlpKeyHostname = appendStringField(nil, pbKVKey, "hostname")
	otlpKeyAppname  = appendStringField(nil, pbKVKey, "appname")
	otlpKeyProcID   = appendStringField(nil, pbKVKey, "proc_id")
	otlpKeyMsgID    = appendStringField(nil, pbKVKey, "msg_id")
)

// One-byte tags (field number << 3 | wire type 2).
const (
	pbBodyTag      = pbRecBody<<3 | 2
	pbAttrTag      = pbRecAttrs<<3 | 2
	pbKVValueTag   = pbKVValue<<3 | 2
	pbAnyStringTag = pbAnyString<<3 | 2
)

// appendAttr appends an attributes field KeyValue{key, AnyValue{string_value:
// val}}, key being an encoded KeyValue.key field; nothing when val is "-".
func appendAttr(b, key, val []byte) []byte {
	if isNil(val) {
		return b
	}
	anyv := sizeStringField(len(val))
	b = append(b, pbAttrTag)
	b = appendVarint(b, uint64(len(key)+sizeBytesField(anyv)))
	b = append(b, key...)
	b = append(b, pbKVValueTag)
	b = appendVarint(b, uint64(anyv))
	b = append(b, pbAnyStringTag)
	b = appendVarint(b, uint64(len(val)))
	return append(b, val...)
}

// appendVarint is protowire.AppendVarint with the one- and two-byte cases
// (every length in a record but the longest bodies) inlined.
func appendVarint(b []byte, v uint64) []byte {
	if v < 1<<7 {
		return append(b, byte(v))
	}
	if v < 1<<14 {
		return append(b, byte(v)|0x80, byte(v>>7))
	}
	return protowire.AppendVarint(b, v)
}

// isNil reports whether a syslog field is the nil value "-".
func isNil(v []byte) bool { return len(v) == 1 && v[0] == '-' }

// appendRequest appends the ExportLogsServiceRequest of the frame to dst.
// When n > 0 it carries an L10 record, first in the "heroku" resource
// (Logplex's L10 line: "<172>1 now host heroku logplex - Error L10 …").
func (e *otlpEncoder) appendRequest(dst []byte, now time.Time, n int, since time.Time) []byte {
	var l10 []byte
	if n > 0 {
		e.l10 = appendL10Message(e.l10[:0], now, n, since)
		f, _ := frame.ParseDrain(e.l10) // it parses: built above
		rec := e.appendRecord(e.rec[:0], e.l10, &f)
		e.rec = rec
		e.l10rec = protowire.AppendTag(e.l10rec[:0], pbScopeLogsRecords, protowire.BytesType)
		e.l10rec = protowire.AppendBytes(e.l10rec, rec)
		l10 = e.l10rec
	}
	for i := range e.groups[:e.n] {
		g := &e.groups[i]
		var first []byte
		if l10 != nil && string(g.name) == otlpL10Source {
			first, l10 = l10, nil
		}
		dst = e.appendResourceLogs(dst, g.name, first, g.recs)
	}
	if l10 != nil {
		dst = e.appendResourceLogs(dst, []byte(otlpL10Source), l10, nil)
	}
	return dst
}

// otlpL10Source is the APP-NAME of Logplex's L10 line, its service.name.
const otlpL10Source = "heroku"

// appendL10Message appends the L10 notice as a drain message:
// <172>1 <now> host heroku logplex - - Error L10 (output buffer overflow):
// <n> messages dropped since <since>.
func appendL10Message(dst []byte, now time.Time, n int, since time.Time) []byte {
	dst = append(dst, "<172>1 "...)
	dst = frame.AppendDate(dst, now)
	dst = append(dst, " host heroku logplex - - Error L10 (output buffer overflow): "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, " messages dropped since "...)
	dst = frame.AppendDate(dst, since)
	return append(dst, '.')
}

// appendResourceLogs appends one ResourceLogs field: the resource of
// service.name name, then one ScopeLogs holding the records first and recs.
func (e *otlpEncoder) appendResourceLogs(dst, name, first, recs []byte) []byte {
	res := sizeStrAttr(len("service.name"), len(name)) +
		sizeStrAttr(len("logplex.channel_id"), len(e.channelID)) +
		sizeStrAttr(len("logplex.drain_token"), len(e.drainToken))
	scope := len(first) + len(recs)
	rl := sizeBytesField(res) + sizeBytesField(scope)
	dst = protowire.AppendTag(dst, pbRequestResourceLogs, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(rl))
	dst = protowire.AppendTag(dst, pbResourceLogsRes, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(res))
	dst = appendStrKV(dst, pbResourceAttrs, "service.name", name)
	dst = appendStrKV(dst, pbResourceAttrs, "logplex.channel_id", e.channelID)
	dst = appendStrKV(dst, pbResourceAttrs, "logplex.drain_token", e.drainToken)
	dst = protowire.AppendTag(dst, pbResourceLogsScope, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(scope))
	dst = append(dst, first...)
	return append(dst, recs...)
}

// sizeBytesField is the size of a length-delimited field of n bytes
// (field number below 16: a one-byte tag).
func sizeBytesField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// sizeStringField is sizeBytesField for a string.
func sizeStringField(n int) int { return sizeBytesField(n) }

// appendStringField appends field num holding s.
func appendStringField[S string | []byte](b []byte, num protowire.Number, s S) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// sizeStrAttr is the size of a KeyValue with a string AnyValue.
func sizeStrAttr(key, val int) int {
	return sizeBytesField(sizeBytesField(key) + sizeBytesField(sizeStringField(val)))
}

// appendStrAttr appends field num: KeyValue{key, AnyValue{string_value: val}};
// nothing when val is the nil value "-".
func appendStrAttr[S string | []byte](b []byte, num protowire.Number, key string, val S) []byte {
	if len(val) == 1 && val[0] == '-' {
		return b
	}
	return appendStrKV(b, num, key, val)
}

// appendStrKV is appendStrAttr for any value, "-" included (a resource
// attribute: its size is counted beforehand).
func appendStrKV[S string | []byte](b []byte, num protowire.Number, key string, val S) []byte {
	b = appendKVHead(b, num, key, sizeStringField(len(val)))
	return appendStringField(b, pbAnyString, val)
}

// appendKVHead appends field num: KeyValue{key, AnyValue{…}} up to the
// AnyValue's content, which is anyv bytes long and follows.
func appendKVHead[S string | []byte](b []byte, num protowire.Number, key S, anyv int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(sizeStringField(len(key))+sizeBytesField(anyv)))
	b = appendStringField(b, pbKVKey, key)
	b = protowire.AppendTag(b, pbKVValue, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(anyv))
}

// appendIntAttr appends field num: KeyValue{key, AnyValue{int_value: v}}.
func appendIntAttr(b []byte, num protowire.Number, key string, v uint64) []byte {
	b = appendKVHead(b, num, key, 1+protowire.SizeVarint(v))
	b = protowire.AppendTag(b, pbAnyInt, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendKVListAttr appends field num: KeyValue{key, AnyValue{kvlist_value:
// KeyValueList{list}}}, list being KeyValueList.values fields.
func appendKVListAttr[S string | []byte](b []byte, num protowire.Number, key S, list []byte) []byte {
	b = appendKVHead(b, num, key, sizeBytesField(len(list)))
	b = protowire.AppendTag(b, pbAnyKVList, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(list)))
	return append(b, list...)
}

// appendSDAttr appends the structured_data attribute: a map of SD-ID to a
// map of its params, as the Collector's parser gives it. STRUCTURED-DATA
// that is not RFC 5424 SD-ELEMENTs (Logplex's parser is looser) is kept as
// a string.
func (e *otlpEncoder) appendSDAttr(b, sd []byte) []byte {
	e.sd = e.sd[:0]
	rest := sd
	for len(rest) > 0 {
		id, next, ok := e.parseSDElement(rest)
		if !ok {
			return appendStrAttr(b, pbRecAttrs, "structured_data", sd)
		}
		e.sd = appendKVListAttr(e.sd, pbKVListValues, id, e.sdElem)
		rest = next
	}
	return appendKVListAttr(b, pbRecAttrs, "structured_data", e.sd)
}

// parseSDElement reads one "[SD-ID *(SP PARAM-NAME="PARAM-VALUE")]" at the
// start of s into e.sdElem (KeyValueList.values fields, values unescaped)
// and returns the SD-ID and the rest of s.
func (e *otlpEncoder) parseSDElement(s []byte) (id, rest []byte, ok bool) {
	if len(s) < 3 || s[0] != '[' {
		return nil, nil, false
	}
	i := 1
	for i < len(s) && s[i] != ' ' && s[i] != ']' && s[i] != '=' && s[i] != '"' {
		i++
	}
	if i == 1 || i == len(s) {
		return nil, nil, false
	}
	id = s[1:i]
	e.sdElem = e.sdElem[:0]
	for s[i] == ' ' {
		j := i + 1
		for j < len(s) && s[j] != '=' && s[j] != ' ' && s[j] != ']' && s[j] != '"' {
			j++
		}
		if j == i+1 || j+1 >= len(s) || s[j] != '=' || s[j+1] != '"' {
			return nil, nil, false
		}
		name := s[i+1 : j]
		end, vlen, ok := sdValueEnd(s, j+2)
		if !ok {
			return nil, nil, false
		}
		e.sdElem = appendSDParam(e.sdElem, name, s[j+2:end], vlen)
		i = end + 1
		if i >= len(s) {
			return nil, nil, false
		}
	}
	if s[i] != ']' {
		return nil, nil, false
	}
	return id, s[i+1:], true
}

// sdValueEnd finds the closing '"' of a PARAM-VALUE starting at s[i] and
// the value's unescaped length (\" \\ \] stand for the escaped byte).
func sdValueEnd(s []byte, i int) (end, n int, ok bool) {
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			return i, n, true
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\' || s[i+1] == ']') {
				i++
			}
		}
		n++
	}
	return 0, 0, false
}

// appendSDParam appends KeyValue{name, AnyValue{string_value}} as a
// KeyValueList.values field, raw being the escaped value of unescaped
// length n.
func appendSDParam(b, name, raw []byte, n int) []byte {
	anyv := sizeStringField(n)
	b = protowire.AppendTag(b, pbKVListValues, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(sizeStringField(len(name))+sizeBytesField(anyv)))
	b = appendStringField(b, pbKVKey, name)
	b = protowire.AppendTag(b, pbKVValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyv))
	b = protowire.AppendTag(b, pbAnyString, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) && (raw[i+1] == '"' || raw[i+1] == '\\' || raw[i+1] == ']') {
			i++
			c = raw[i]
		}
		b = append(b, c)
	}
	return b
}

// parseRFC3339 parses an RFC 5424 TIMESTAMP (RFC 3339: full date, 'T',
// time, optional fraction of up to 9 digits, 'Z' or ±hh:mm; 't' and 'z'
// accepted) into Unix nanoseconds, without allocating. ok is false for "-"
// and anything else.
func parseRFC3339(s []byte) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	i, nanos := 19, int64(0)
	if s[i] == '.' {
		i++
		start := i
		scale := int64(100_000_000)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if i-start < 9 {
				nanos += int64(s[i]-'0') * scale
				scale /= 10
			}
			i++
		}
		if i == start || i-start > 9 || i == len(s) {
			return 0, false
		}
	}
	var offset int64
	switch {
	case (s[i] == 'Z' || s[i] == 'z') && i+1 == len(s):
	case (s[i] == '+' || s[i] == '-') && i+6 == len(s) && s[i+3] == ':':
		oh, ok1 := digits(s[i+1 : i+3])
		om, ok2 := digits(s[i+4 : i+6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - offset
	return secs*1e9 + nanos, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to y-m-d (proleptic
// Gregorian; Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

package frame

import (
	"strconv"
	"time"
)

// AppendSyslogDrain appends the octet-counted frame a TCP/TLS syslog drain
// writes for f (to_msg, docs/logplex.md §3.3):
//
//	<len> SP <PRI>1 SP TIME SP drainToken SP SOURCE SP PS SP - SP - SP CONTENT [LF]
//
// The drain token replaces HOSTNAME, MSGID and SD become "- -", and an LF is
// added unless CONTENT already ends with one (empty CONTENT gives just LF);
// len counts the LF.
func AppendSyslogDrain(dst []byte, f Fields, drainToken []byte) []byte {
	lf := missingLF(f.Content)
	n := priLen(f.Pri) + len(f.Time) + 1 + len(drainToken) + 1 + len(f.Source) + 1 +
		len(f.PS) + len(" - - ") + len(f.Content) + lf
	dst = appendLen(dst, n)
	dst = appendPri(dst, f.Pri)
	dst = append(dst, f.Time...)
	dst = append(dst, ' ')
	dst = append(dst, drainToken...)
	dst = append(dst, ' ')
	dst = append(dst, f.Source...)
	dst = append(dst, ' ')
	dst = append(dst, f.PS...)
	dst = append(dst, " - - "...)
	dst = append(dst, f.Content...)
	return appendLF(dst, lf)
}

// AppendHTTPDrain appends the octet-counted frame an HTTP drain puts in a POST
// body for f (rfc5424/8 with host "host", docs/logplex.md §3.3):
//
//	<len> SP <PRI>1 SP TIME SP host SP SOURCE SP PS SP - SP CONTENT
//
// HOSTNAME is the literal "host", MSGID is "-", there is no SD field, and no LF
// is added.
func AppendHTTPDrain(dst []byte, f Fields) []byte {
	return appendHTTPFormat(dst, f, f.Source, 0)
}

// AppendV3Log appends the octet-counted frame of GET /v3/channels/<ch>/logs:
// the HTTP drain format plus an LF, always (even after a CONTENT that ends in
// LF); len counts the LF.
func AppendV3Log(dst []byte, f Fields) []byte {
	return appendHTTPFormat(dst, f, f.Source, 1)
}

// isField reports whether name is one \S+ field of the drain parser.
func isField[S string | []byte](name S) bool {
	for i := 0; i < len(name); i++ {
		if pcreSpace[name[i]] {
			return false
		}
	}
	return len(name) > 0
}

// appendHTTPFormat appends the HTTP drain frame for f, with source as its
// SOURCE, followed by lf LFs.
func appendHTTPFormat[S string | []byte](dst []byte, f Fields, source S, lf int) []byte {
	n := priLen(f.Pri) + len(f.Time) + len(" host ") + len(source) + 1 +
		len(f.PS) + len(" - ") + len(f.Content) + lf
	dst = appendLen(dst, n)
	dst = appendPri(dst, f.Pri)
	dst = append(dst, f.Time...)
	dst = append(dst, " host "...)
	dst = append(dst, source...)
	dst = append(dst, ' ')
	dst = append(dst, f.PS...)
	dst = append(dst, " - "...)
	dst = append(dst, f.Content...)
	return appendLF(dst, lf)
}

// AppendSessionLine appends the line a session or tail prints for f
// (logplex_utils:format, docs/logplex.md §3.3), not framed:
//
//	TIME SP SOURCE [ PS ]: SP CONTENT [LF]
//
// with an LF added unless CONTENT already ends with one.
func AppendSessionLine(dst []byte, f Fields) []byte {
	dst = append(dst, f.Time...)
	dst = append(dst, ' ')
	dst = append(dst, f.Source...)
	dst = append(dst, '[')
	dst = append(dst, f.PS...)
	dst = append(dst, "]: "...)
	dst = append(dst, f.Content...)
	return appendLF(dst, missingLF(f.Content))
}

// AppendDate appends t in UTC as YYYY-MM-DDTHH:MM:SS+00:00, without fraction
// (Logplex's datetime/1). Years outside 0..9999 print all their digits.
func AppendDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year >= 0 && year < 1000 {
		dst = append(dst, "000"[:4-decLen(year)]...)
	}
	dst = appendInt(dst, year)
	dst = append(dst, '-')
	dst = append2(dst, int(month))
	dst = append(dst, '-')
	dst = append2(dst, day)
	dst = append(dst, 'T')
	dst = append2(dst, hour)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	dst = append2(dst, sec)
	return append(dst, "+00:00"...)
}

// append2 appends v (0..99) as two digits.
func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendPri appends "<pri>1 ".
func appendPri(dst []byte, pri int) []byte {
	dst = append(dst, '<')
	dst = appendDec(dst, pri)
	return append(dst, ">1 "...)
}

// priLen is the length of "<pri>1 ".
func priLen(pri int) int { return decLen(pri) + len("<>1 ") }

func appendInt(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v), 10) }

// decLen is the number of bytes strconv.AppendInt (and appendDec) writes
// for v.
func decLen(v int) int {
	switch {
	case v >= 0 && v < 10:
		return 1
	case v >= 10 && v < 100:
		return 2
	case v >= 100 && v < 1000:
		return 3
	}
	n, u := 1, uint64(v)
	if v < 0 {
		n, u = 2, -u
	}
	for ; u >= 10; u /= 10 {
		n++
	}
	return n
}

// missingLF is 1 if content does not end with an LF (Logplex's nl/1), else 0.
func missingLF(content []byte) int {
	if len(content) > 0 && content[len(content)-1] == '\n' {
		return 0
	}
	return 1
}

// appendLF appends n LFs (0 or 1).
func appendLF(dst []byte, n int) []byte {
	if n > 0 {
		dst = append(dst, '\n')
	}
	return dst
}

package frame

import (
	"bytes"
	"math/big"
	"regexp"
)

// The regular expressions Logplex runs (docs/logplex.md §3.2), used as oracles: Go's
// regexp picks the same (leftmost-first) match as PCRE's backtracking, and its
// \s is the same set (SP, \t, \n, \f, \r).
var (
	drainRE   = regexp.MustCompile(`(?s)^<(\d+)>1 (\S+) \S+ (\S+) (\S+) \S+ (?:-|(?:\[(?:[^\]]|\\])+\])+) (.*)`)
	sessionRE = regexp.MustCompile(`(?s)^<(\d+)>(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]]|\\])+\])+) (.*)`)
	spacesRE  = regexp.MustCompile(` +`)
)

// oracleDrain is from_msg by regexp.
func oracleDrain(msg []byte) (Fields, bool) {
	m := drainRE.FindSubmatch(msg)
	if m == nil {
		return Fields{}, false
	}
	pri, _ := new(big.Int).SetString(string(m[1]), 10)
	low := new(big.Int).And(pri, big.NewInt(0xFF)).Int64()
	return Fields{Pri: int(low), Time: m[2], Source: m[3], PS: m[4], Content: m[5]}, true
}

// oracleSession is parse_msg by regexp.
func oracleSession(msg []byte) (Fields, bool) {
	m := sessionRE.FindSubmatch(msg)
	if m == nil {
		return Fields{}, false
	}
	pri, _ := new(big.Int).SetString(string(m[1]), 10)
	if pri.Cmp(big.NewInt(maxInt32)) > 0 {
		pri.SetInt64(maxInt32)
	}
	return Fields{Pri: int(pri.Int64()), Time: m[3], Source: m[5], PS: m[6], Content: m[9]}, true
}

// oracleAppName is re:split(Msg, " +", [{parts,5}]) needing 5 parts.
func oracleAppName(msg []byte) (start, end int, ok bool) {
	m := spacesRE.FindAllIndex(msg, 4)
	if len(m) < 4 {
		return 0, 0, false
	}
	return m[2][1], m[3][0], true
}

// oracleNext is syslog_parser's msg_type + parse_to_nl, written plainly with
// unbounded integers and no line limit. incomplete means "wait for more".
func oracleNext(buf []byte) (msg []byte, n int, k Kind) {
	if len(buf) > 0 && buf[0] >= '1' && buf[0] <= '9' {
		i := 0
		for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
			i++
		}
		if i == len(buf) {
			return nil, 0, NeedMore
		}
		if buf[i] == ' ' {
			size, _ := new(big.Int).SetString(string(buf[:i]), 10)
			if size.Cmp(big.NewInt(MaxFrameLen)) <= 0 {
				end := i + 1 + int(size.Int64())
				if len(buf) < end {
					return nil, 0, NeedMore
				}
				return buf[i+1 : end], end, Message
			}
		}
	}
	crlf, lf := bytes.Index(buf, []byte("\r\n")), bytes.IndexByte(buf, '\n')
	switch {
	case lf < 0:
		return nil, 0, NeedMore
	case crlf >= 0 && crlf < lf:
		return buf[:crlf], crlf + 2, Malformed
	}
	return buf[:lf], lf + 1, Malformed
}

func equalFields(a, b Fields) bool {
	return a.Pri == b.Pri && bytes.Equal(a.Time, b.Time) && bytes.Equal(a.Source, b.Source) &&
		bytes.Equal(a.PS, b.PS) && bytes.Equal(a.Content, b.Content)
}

package frame

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// AppName finds the field that carries the token (docs/logplex.md §2.3): Logplex splits
// the message on runs of spaces (" +") into at most 5 parts
// [PRI+VERSION, TIMESTAMP, HOSTNAME, APP-NAME, REST] and needs all 5. start and
// end are the byte offsets of APP-NAME in msg; ok is false when there are fewer
// than 5 parts (the 4th run of spaces is missing). Only SP separates: tabs and
// line feeds are field bytes. Whether the field is a token is the caller's
// check (HasTokenPrefix).
func AppName(msg []byte) (start, end int, ok bool) {
	var h Head
	if !h.Read(msg) {
		return 0, 0, false
	}
	return h.Start, h.End, true
}

// skipPart returns the index of the first SP at or after i, or len(msg).
func skipPart(msg []byte, i int) int {
	j := bytes.IndexByte(msg[i:], ' ')
	if j < 0 {
		return len(msg)
	}
	return i + j
}

// skipSpaces returns the index of the first non-SP byte at or after i, or len(msg).
func skipSpaces(msg []byte, i int) int {
	for i < len(msg) && msg[i] == ' ' {
		i++
	}
	return i
}

// HasTokenPrefix reports whether field starts with "t.", the mark of a token id.
func HasTokenPrefix(field []byte) bool {
	return len(field) >= 2 && field[0] == 't' && field[1] == '.'
}

// AppendCooked appends msg with msg[start:end] replaced by name: the
// token -> token-name rewrite of docs/logplex.md §3.1, applied literally to the APP-NAME
// field found by AppName. It lets the caller copy a message once, rewritten,
// into a batch buffer.
func AppendCooked(dst, msg []byte, start, end int, name []byte) []byte {
	dst = append(dst, msg[:start]...)
	dst = append(dst, name...)
	return append(dst, msg[end:]...)
}

// Fields are the parts of a message the output formats need (docs/logplex.md §3.2). The
// slices alias the parsed message and are valid as long as it is.
type Fields struct {
	// Pri is facility*8+severity. ParseDrain sets the low 8 bits of PRI (Logplex
	// wraps PRI > 255); ParseSession sets PRI itself, saturating at MaxInt32.
	Pri     int
	Time    []byte // TIMESTAMP
	Source  []byte // APP-NAME (the token name after rewriting)
	PS      []byte // PROCID
	Content []byte // everything after the SP that ends STRUCTURED-DATA; may hold '\n'
}

// ParseDrain parses msg the way Logplex's drains and v3 channel logs do
// (from_msg, docs/logplex.md §3.2), i.e. as the regular expression
//
//	(?s)^<(\d+)>1 (\S+) \S+ (\S+) (\S+) \S+ (?:-|(?:\[(?:[^\]]|\\])+\])+) (.*)
//
// (PCRE, leftmost-first): VERSION must be exactly "1", fields are separated by
// exactly one SP, and STRUCTURED-DATA must be "-" or [...] elements. \s is
// SP, \t, \n, \f or \r. HOSTNAME, MSGID and SD are skipped. ok is false when
// the message does not match; Logplex then delivers it to no drain. f's slices
// alias msg and are valid as long as msg is unchanged.
func ParseDrain(msg []byte) (f Fields, ok bool) {
	f, version, ok := parseHeader(msg)
	if !ok || len(version) != 1 || version[0] != '1' {
		return Fields{}, false
	}
	return f, true
}

// ParseSession parses msg the way Logplex's sessions and tails do (parse_msg,
// docs/logplex.md §3.2), i.e. as the regular expression
//
//	(?s)^<(\d+)>(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]]|\\])+\])+) (.*)
//
// with groups PRI, VERSION, TIME, HOSTNAME, SOURCE, PS, MSGID, SD, CONTENT.
// It is ParseDrain with any VERSION accepted and Pri left unwrapped; f's
// slices alias msg and are valid as long as msg is unchanged.
func ParseSession(msg []byte) (f Fields, ok bool) {
	f, _, ok = parseHeader(msg)
	if ok {
		f.Pri = rawPri(msg)
	}
	return f, ok
}

// parseHeader matches the common shape of both parsers and returns the fields
// (Pri wrapped to 8 bits) and VERSION.
func parseHeader(msg []byte) (f Fields, version []byte, ok bool) {
	pri, i, ok := parsePri(msg)
	if !ok {
		return Fields{}, nil, false
	}
	var parts [6][]byte // VERSION, TIME, HOSTNAME, APP-NAME, PROCID, MSGID
	for p := range parts {
		end := fieldEnd(msg, i)
		if end == i || end == len(msg) || msg[end] != ' ' {
			return Fields{}, nil, false
		}
		parts[p], i = msg[i:end], end+1
	}
	sp, ok := sdEnd(msg, i)
	if !ok {
		return Fields{}, nil, false
	}
	f = Fields{Pri: pri, Time: parts[1], Source: parts[3], PS: parts[4], Content: msg[sp+1:]}
	return f, parts[0], true
}

// parsePri reads "<digits>" at the start of msg and returns PRI modulo 256 and
// the index after '>'.
func parsePri(msg []byte) (pri, next int, ok bool) {
	if len(msg) < 3 || msg[0] != '<' {
		return 0, 0, false
	}
	i := 1
	for i < len(msg) && isDigit(msg[i]) {
		pri = (pri*10 + int(msg[i]-'0')) & 0xFF
		i++
	}
	if i == 1 || i == len(msg) || msg[i] != '>' {
		return 0, 0, false
	}
	return pri, i + 1, true
}

// rawPri returns the PRI of a message parsePri accepted, saturating at MaxInt32.
func rawPri(msg []byte) int {
	pri := 0
	for _, c := range msg[1:] {
		if !isDigit(c) {
			break
		}
		pri = min(pri*10+int(c-'0'), maxInt32)
	}
	return pri
}

const maxInt32 = 1<<31 - 1

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pcreSpace is \s of the PCRE in Logplex's runtime (and of Go's regexp):
// SP, \t, \n, \f, \r. \v is not a space there.
var pcreSpace = [256]bool{' ': true, '\t': true, '\n': true, '\f': true, '\r': true}

// fieldEnd returns the end of the \S* run starting at i. Every \s byte is
// below 0x21, so it looks at eight bytes at a time for the first byte below
// 0x21 (the lowest byte the subtraction flags is exact) and checks that one.
func fieldEnd(msg []byte, i int) int {
	for i+8 <= len(msg) {
		x := binary.LittleEndian.Uint64(msg[i:])
		t := (x - 0x2121212121212121) &^ x & 0x8080808080808080
		if t == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(t) >> 3
		if pcreSpace[msg[i]] {
			return i
		}
		i++ // a control byte that is not \s: part of the field
	}
	for i < len(msg) && !pcreSpace[msg[i]] {
		i++
	}
	return i
}

// sdEnd matches STRUCTURED-DATA followed by SP at msg[i:], that is
// (?:-|(?:\[(?:[^\]]|\\])+\])+) SP, and returns the index of that SP, choosing
// the end a backtracking matcher finds first.
//
// An element ends at a ']'; the matcher tries the first ']' first and extends
// the element past a ']' only when the byte before it is '\' (the "\]" escape),
// so the candidate ends, in the order tried, are the ']'s of a run where each
// but the last is escaped. The first candidate followed by SP wins; a candidate
// followed by '[' may also start another element, which the matcher tries next
// in the same left-to-right order; after an unescaped ']' only that is left.
func sdEnd(msg []byte, i int) (int, bool) {
	if i < len(msg) && msg[i] == '-' {
		if i+1 < len(msg) && msg[i+1] == ' ' {
			return i + 1, true
		}
		return 0, false
	}
	for i < len(msg) && msg[i] == '[' {
		j := i + 1
		if j == len(msg) || msg[j] == ']' { // an element needs one byte inside
			return 0, false
		}
		for {
			k := bytes.IndexByte(msg[j:], ']')
			if k < 0 {
				return 0, false
			}
			j += k
			if j+1 < len(msg) && msg[j+1] == ' ' {
				return j + 1, true
			}
			if msg[j-1] != '\\' { // an unescaped ']' ends the run
				break
			}
			j++
		}
		i = j + 1
	}
	return 0, false
}

// MatchPS is the session "ps" filter (docs/logplex.md §4.5): procid equals ps or starts
// with ps + ".". An empty ps matches everything.
func MatchPS(procid, ps []byte) bool {
	if len(ps) == 0 || bytes.Equal(procid, ps) {
		return true
	}
	return len(procid) > len(ps) && procid[len(ps)] == '.' && bytes.HasPrefix(procid, ps)
}

// MatchSource is the session "source" filter (docs/logplex.md §4.5): appName equals
// source. An empty source matches everything.
func MatchSource(appName, source []byte) bool {
	return len(source) == 0 || bytes.Equal(appName, source)
}

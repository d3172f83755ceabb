package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// A benchmark message is an RFC 5424 message whose content carries what the
// sinks check, in fixed-width lowercase hex after a '|' marker:
//
//	<134>1 2026-01-02T03:04:05Z host t.<uuid> web.1 - - |TTTTTTTTTTTTTTTTCCCCSSSSSSSSKKKKKK|abcdefg…
//	                                                       └ send time ┘└cn┘└ seq  ┘└tok ┘ └ pad ┘
//
// T is the send time (Unix nanoseconds), C the sending connection, S that
// connection's sequence number, K the token index; the padding fills the
// message to its size with 'a'+(S+i)%26, so any corrupted, truncated or
// merged byte is seen. Each output format keeps the content as is (syslog
// drains append a newline), so one parser serves every sink.

const (
	msgPRI      = "<134>1 2026-01-02T03:04:05Z host "
	msgProcID   = " web.1 - - "
	fieldsLen   = 16 + 4 + 8 + 6 // T, C, S, K in hex
	contentMin  = 1 + fieldsLen + 1
	maxConns    = 1 << 16
	maxSeq      = 1 << 32
	maxTokens   = 1 << 24
	patternSpan = 26
)

// errCorrupt: a message's content does not parse or its padding is wrong.
var errCorrupt = errors.New("corrupt message")

// Layout builds the messages of one run: fixed size, one prefix per token.
type Layout struct {
	Size     int      // bytes of each syslog message (the octet count)
	prefixes [][]byte // per token: "<size> <134>1 … t.… web.1 - - |"
	padLens  []int    // per token
	pattern  []byte   // 'a'..'z' repeated, long enough for any pad
}

// NewLayout prepares messages of size bytes for tokens (token ids).
func NewLayout(size int, tokens []string) (*Layout, error) {
	if len(tokens) == 0 || len(tokens) > maxTokens {
		return nil, fmt.Errorf("need 1..%d tokens, have %d", maxTokens, len(tokens))
	}
	l := &Layout{Size: size, prefixes: make([][]byte, len(tokens)), padLens: make([]int, len(tokens))}
	maxPad := 0
	for i, tok := range tokens {
		head := len(msgPRI) + len(tok) + len(msgProcID)
		pad := size - head - contentMin
		if pad < 0 {
			return nil, fmt.Errorf("message size %d is too small: at least %d bytes with token %q", size, head+contentMin, tok)
		}
		p := strconv.AppendInt(nil, int64(size), 10)
		p = append(p, ' ')
		p = append(p, msgPRI...)
		p = append(p, tok...)
		p = append(p, msgProcID...)
		p = append(p, '|')
		l.prefixes[i], l.padLens[i] = p, pad
		maxPad = max(maxPad, pad)
	}
	l.pattern = make([]byte, maxPad+patternSpan)
	for i := range l.pattern {
		l.pattern[i] = 'a' + byte(i%patternSpan)
	}
	return l, nil
}

// MinSize is the smallest message size a token of length tokLen allows.
func MinSize(tokLen int) int { return len(msgPRI) + tokLen + len(msgProcID) + contentMin }

// WireSize is the bytes of one framed message ("<size> " + message).
func (l *Layout) WireSize() int { return len(strconv.Itoa(l.Size)) + 1 + l.Size }

// Append appends one octet-counted message for token k, sent at ts (16 hex
// digits, see HexTime) on connection conn with sequence number seq.
func (l *Layout) Append(dst []byte, k int, ts *[16]byte, conn, seq uint32) []byte {
	dst = append(dst, l.prefixes[k]...)
	dst = append(dst, ts[:]...)
	dst = appendHex(dst, uint64(conn), 4)
	dst = appendHex(dst, uint64(seq), 8)
	dst = appendHex(dst, uint64(k), 6)
	dst = append(dst, '|')
	s := int(seq % patternSpan)
	return append(dst, l.pattern[s:s+l.padLens[k]]...)
}

// HexTime writes t (Unix nanoseconds) as 16 hex digits.
func HexTime(t int64, out *[16]byte) { appendHex(out[:0], uint64(t), 16) }

const hexDigits = "0123456789abcdef"

func appendHex(dst []byte, v uint64, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// Content is what a message's content says about it.
type Content struct {
	SentNs int64
	Conn   uint32
	Seq    uint32
	Token  int
}

// ParseContent finds the benchmark content in msg (any output format) and
// checks its padding. trailingLF strips one final '\n' (syslog drains and
// tail lines add it). ok is false when msg holds no benchmark content (a
// notice); err is errCorrupt when it holds a damaged one.
func (l *Layout) ParseContent(msg []byte, trailingLF bool) (c Content, ok bool, err error) {
	i := bytes.IndexByte(msg, '|')
	if i < 0 {
		return c, false, nil
	}
	f := msg[i+1:]
	if len(f) < fieldsLen+1 || f[fieldsLen] != '|' {
		return c, true, errCorrupt
	}
	t, ok1 := parseHex(f[0:16])
	cn, ok2 := parseHex(f[16:20])
	s, ok3 := parseHex(f[20:28])
	k, ok4 := parseHex(f[28:34])
	if !ok1 || !ok2 || !ok3 || !ok4 || int(k) >= len(l.padLens) {
		return c, true, errCorrupt
	}
	pad := f[fieldsLen+1:]
	if trailingLF {
		if len(pad) == 0 || pad[len(pad)-1] != '\n' {
			return c, true, errCorrupt
		}
		pad = pad[:len(pad)-1]
	}
	st := int(s % patternSpan)
	if len(pad) != l.padLens[k] || !bytes.Equal(pad, l.pattern[st:st+len(pad)]) {
		return c, true, errCorrupt
	}
	return Content{SentNs: int64(t), Conn: uint32(cn), Seq: uint32(s), Token: int(k)}, true, nil
}

// field returns the n-th (0-based) space-separated field of msg.
func field(msg []byte, n int) []byte {
	for ; n > 0; n-- {
		i := bytes.IndexByte(msg, ' ')
		if i < 0 {
			return nil
		}
		msg = msg[i+1:]
	}
	if i := bytes.IndexByte(msg, ' '); i >= 0 {
		return msg[:i]
	}
	return msg
}

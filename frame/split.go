package frame

import "bytes"

// MaxFrameLen is the largest octet count accepted (Logplex's SYSLOG_MAX_SIZE).
// A larger count switches the frame to newline mode.
const MaxFrameLen = 10240

// MaxLineLen bounds a newline-mode line: a line with no LF within its first
// MaxLineLen+1 bytes is cut after MaxLineLen bytes (see Next). It is above the
// largest octet-counted frame (5 digits + SP + MaxFrameLen), so NeedMore is
// only ever returned for a buffer of at most MaxLineLen bytes.
const MaxLineLen = MaxFrameLen + 16

// Kind says what Next found at the start of a buffer.
type Kind uint8

const (
	// NeedMore: not enough bytes buffered to decide or complete the frame.
	NeedMore Kind = iota
	// Message: an octet-counted message.
	Message
	// Malformed: a newline-mode line (or a cut over-long one); count and skip it.
	Malformed
)

// String returns the constant's name.
func (k Kind) String() string {
	switch k {
	case NeedMore:
		return "NeedMore"
	case Message:
		return "Message"
	case Malformed:
		return "Malformed"
	}
	return "Kind(?)"
}

// Next reads the frame at the start of buf (docs/logplex.md §2.1) and returns it with the
// number of bytes it occupies; the caller discards n bytes and calls Next again.
//
//   - Message: msg is the LEN message bytes exactly as received and
//     n = digits + 1 + LEN.
//   - Malformed: msg is the line without its "\n" or "\r\n" and n includes the
//     terminator. A line with no LF within its first MaxLineLen+1 bytes is cut:
//     msg = buf[:MaxLineLen], n = MaxLineLen, and the rest of the line is read
//     as the next frame, so a sender can never make the caller buffer more than
//     MaxLineLen bytes.
//   - NeedMore: msg is nil, n is 0, and len(buf) <= MaxLineLen.
//
// The result depends only on the bytes buffered so far, never on how they
// arrived: feeding a stream in any split gives the same frames. msg aliases buf
// (with its capacity cut to its length) and is valid as long as those bytes of
// buf are.
func Next(buf []byte) (msg []byte, n int, k Kind) {
	if len(buf) == 0 {
		return nil, 0, NeedMore
	}
	if c := buf[0]; c >= '1' && c <= '9' {
		size, hdr, mode := octetCount(buf)
		switch mode {
		case countIncomplete:
			return nil, 0, NeedMore
		case countOK:
			end := hdr + size
			if len(buf) < end {
				return nil, 0, NeedMore
			}
			return buf[hdr:end:end], end, Message
		}
	}
	return nextLine(buf)
}

// Results of octetCount.
const (
	countOK         = iota // an octet count up to MaxFrameLen followed by SP
	countIncomplete        // the digits run to the end of buf
	countNewline           // not a usable count: the frame is newline mode
)

// octetCount reads the decimal length at the start of buf (buf[0] is '1'..'9')
// and returns it with the header size (digits + SP). It looks at no more than
// 6 digits: once the value passes MaxFrameLen the frame is newline mode,
// whatever follows.
func octetCount(buf []byte) (size, hdr, mode int) {
	for i, c := range buf {
		switch {
		case c >= '0' && c <= '9':
			size = size*10 + int(c-'0')
			if size > MaxFrameLen {
				return 0, 0, countNewline
			}
		case c == ' ':
			return size, i + 1, countOK
		default:
			return 0, 0, countNewline
		}
	}
	return 0, 0, countIncomplete
}

// nextLine splits a newline-mode frame at the earliest "\r\n" or "\n".
func nextLine(buf []byte) (msg []byte, n int, k Kind) {
	window := buf[:min(len(buf), MaxLineLen+1)]
	lf := bytes.IndexByte(window, '\n')
	if lf < 0 {
		if len(buf) > MaxLineLen {
			return buf[:MaxLineLen:MaxLineLen], MaxLineLen, Malformed
		}
		return nil, 0, NeedMore
	}
	end := lf
	if lf > 0 && buf[lf-1] == '\r' {
		end--
	}
	return buf[:end:end], lf + 1, Malformed
}

// AppendFrame appends msg octet-counted: "<len(msg)> SP msg".
func AppendFrame(dst, msg []byte) []byte {
	dst = appendLen(dst, len(msg))
	return append(dst, msg...)
}

// appendLen appends the frame header "<n> SP".
func appendLen(dst []byte, n int) []byte { return append(appendDec(dst, n), ' ') }

// appendDec appends n in decimal. Numbers below 10 000 (every frame length
// and PRI but a rare one) are written digit by digit, without strconv's
// scratch copy.
func appendDec(dst []byte, n int) []byte {
	switch {
	case n < 0 || n >= 10000:
		return appendInt(dst, n)
	case n >= 1000:
		return append(dst, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	case n >= 100:
		return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	case n >= 10:
		return append(dst, byte('0'+n/10), byte('0'+n%10))
	}
	return append(dst, byte('0'+n))
}

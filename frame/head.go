package frame

import (
	"encoding/binary"
	"math/bits"
)

// Head is the start of a message as the router reads it, once: APP-NAME for
// the token lookup (AppName's field) and where the fields before it end, so
// that formatting the message for HTTP drains (AppendHTTPDrainHead) parses
// only what follows APP-NAME.
type Head struct {
	Start, End int // APP-NAME as AppName finds it; valid when ok

	ok       bool
	sp0, sp1 int // the SPs that end PRI+VERSION and TIMESTAMP
}

// Read reads msg's head (AppName is Read). It reports whether msg has an
// APP-NAME field; Start and End are valid only then.
func (h *Head) Read(msg []byte) bool {
	*h = Head{}
	var sp [3]int // the SPs (runs) that end PRI+VERSION, TIMESTAMP, HOSTNAME
	i := 0
	for k := range 3 {
		i = skipPart(msg, i)
		if i == len(msg) {
			return false
		}
		sp[k] = i
		i = skipSpaces(msg, i)
	}
	end := skipPart(msg, i)
	if end == len(msg) {
		return false
	}
	h.Start, h.End, h.sp0, h.sp1, h.ok = i, end, sp[0], sp[1], true
	return true
}

// below21 counts the bytes of b below 0x21, eight at a time: every SP and
// every \s byte is one.
func below21(b []byte) int {
	n := 0
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		// exact per byte (no borrow between bytes): the high bit is set
		// where the byte is below 0x21
		n += bits.OnesCount64(^((x&0x7F7F7F7F7F7F7F7F + 0x5F5F5F5F5F5F5F5F) | x) & 0x8080808080808080)
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x21 {
			n++
		}
	}
	return n
}

// AppendHTTPDrainHead appends the HTTP drain frame of the cooked message
// AppendCooked(msg, h.Start, h.End, name) exactly as
// AppendHTTPDrain(dst, ParseDrain(cooked)) would, and reports false, dst
// unchanged, when the cooked message does not parse (it goes to no drain).
// h is msg's Read head (a message without APP-NAME never parses); name
// msg[h.Start:h.End] keeps the message as it is. The router formats every
// message for its HTTP drains this way, once, while it reads it.
//
// The usual message is not cooked first: when the only bytes below 0x21
// before APP-NAME are the three SPs AppName passed (so the fields before it
// are \S+, single-spaced, as the drain parser needs) and name is one field,
// the parse goes on from h.End over the bytes it would find after name in
// the cooked message. Otherwise the cooked message is built in *scratch and
// parsed.
func AppendHTTPDrainHead[S string | []byte](dst []byte, scratch *[]byte, msg []byte, h *Head, name S) ([]byte, bool) {
	if !h.ok {
		return dst, false
	}
	if isField(name) && below21(msg[:h.Start]) == 3 {
		pri, v, ok := parsePri(msg)
		if !ok || msg[v] != '1' || h.sp0 != v+1 {
			return dst, false
		}
		i := h.End + 1 // msg[h.End] is SP
		ps := fieldEnd(msg, i)
		if ps == i || ps == len(msg) || msg[ps] != ' ' {
			return dst, false
		}
		id := fieldEnd(msg, ps+1) // MSGID
		if id == ps+1 || id == len(msg) || msg[id] != ' ' {
			return dst, false
		}
		sp, ok := sdEnd(msg, id+1)
		if !ok {
			return dst, false
		}
		f := Fields{Pri: pri, Time: msg[h.sp0+1 : h.sp1], PS: msg[i:ps], Content: msg[sp+1:]}
		return appendHTTPFormat(dst, f, name, 0), true
	}
	c := append((*scratch)[:0], msg[:h.Start]...)
	c = append(c, name...)
	c = append(c, msg[h.End:]...)
	*scratch = c
	f, ok := ParseDrain(c)
	if !ok {
		return dst, false
	}
	return appendHTTPFormat(dst, f, f.Source, 0), true
}

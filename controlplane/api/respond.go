package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"unicode/utf8"
)

const (
	ctHTML = "text/html"
	ctJSON = "application/json"
	ctLogs = "application/logplex-1"
)

// reply writes a complete response. ctype "" leaves Content-Type as set.
func reply(w http.ResponseWriter, code int, ctype string, body []byte) {
	h := w.Header()
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func replyText(w http.ResponseWriter, code int, text string) {
	reply(w, code, ctHTML, []byte(text))
}

// jsonError is {"error":"<msg>"}.
func jsonError(msg string) []byte {
	b := append([]byte(`{"error":`), appendJSONString(nil, msg)...)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, compact and without HTML
// escaping (as mochijson2 and jsx write them); invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// newUUID returns a random (v4) UUID, lowercase.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// appendChannelID writes a channel id as Logplex's legacy API does: an
// integer when the id is all digits (backwards_compat_chan_id), else a string.
func appendChannelID(dst []byte, id string) []byte {
	if n, err := strconv.ParseUint(id, 10, 63); err == nil && id[0] != '+' {
		return strconv.AppendUint(dst, n, 10)
	}
	return appendJSONString(dst, id)
}

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

package config

// Per-drain request headers (an extension for OTLP drains: API keys such
// as Authorization, x-honeycomb-team or DD-API-KEY). Their values are
// secrets: stored with the drain, sent on every request, never logged and
// redacted ("***") when the drain is read back.
//
// Stored form (Drain.Headers, the hash field "headers"): one "name: value"
// line per header, lines joined by "\n", sorted by lower-cased name; ""
// when the drain has none.

import (
	"errors"
	"sort"
	"strings"
)

// Bounds of a drain's headers.
const (
	MaxDrainHeaders      = 16   // headers per drain
	MaxDrainHeadersBytes = 4096 // sum of len(name)+len(value) over a drain's headers
)

// Header is one request header of a drain.
type Header struct{ Name, Value string }

// Header errors; each text tells the client what to change.
var (
	ErrHeadersTooMany  = errors.New("too many headers (at most 16)")
	ErrHeadersTooLarge = errors.New("headers too large (at most 4096 bytes of names and values)")
)

// reservedHeaders are set by the sender (framing, coding, routing) and
// may not be overridden by a drain.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "content-encoding": true,
	"transfer-encoding": true, "connection": true, "keep-alive": true, "te": true,
	"trailer": true, "upgrade": true, "proxy-connection": true, "expect": true,
}

// EncodeDrainHeaders validates hs (names are RFC 9110 tokens, values
// field-content without leading or trailing whitespace, no name twice
// whatever its case, none the sender sets itself, within the bounds above)
// and returns their stored form.
func EncodeDrainHeaders(hs []Header) (string, error) {
	if len(hs) > MaxDrainHeaders {
		return "", ErrHeadersTooMany
	}
	size := 0
	seen := make(map[string]bool, len(hs))
	for _, h := range hs {
		if err := checkHeader(h); err != nil {
			return "", err
		}
		low := strings.ToLower(h.Name)
		if seen[low] {
			return "", errors.New("header " + h.Name + " is given twice")
		}
		seen[low] = true
		size += len(h.Name) + len(h.Value)
	}
	if size > MaxDrainHeadersBytes {
		return "", ErrHeadersTooLarge
	}
	s := append([]Header(nil), hs...)
	sort.Slice(s, func(i, j int) bool { return strings.ToLower(s[i].Name) < strings.ToLower(s[j].Name) })
	var b strings.Builder
	for i, h := range s {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(h.Name + ": " + h.Value)
	}
	return b.String(), nil
}

func checkHeader(h Header) error {
	if h.Name == "" || !allChars(h.Name, isTchar) {
		return errors.New("header name " + quoteSafe(h.Name) + " is not an RFC 9110 token")
	}
	if reservedHeaders[strings.ToLower(h.Name)] {
		return errors.New("header " + h.Name + " is set by logplex and cannot be given")
	}
	v := h.Value
	if v == "" || v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' ||
		!allChars(v, isFieldVchar) {
		// the value is a secret: not echoed
		return errors.New("value of header " + h.Name + " is not valid RFC 9110 field content (visible characters, inner spaces and tabs only)")
	}
	return nil
}

// DrainHeaders decodes the stored form; it returns nil for "".
func DrainHeaders(stored string) []Header {
	if stored == "" {
		return nil
	}
	lines := strings.Split(stored, "\n")
	hs := make([]Header, 0, len(lines))
	for _, l := range lines {
		n, v, _ := strings.Cut(l, ": ")
		hs = append(hs, Header{Name: n, Value: v})
	}
	return hs
}

// isTchar: tchar of RFC 9110 §5.6.2.
func isTchar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isFieldVchar: VCHAR, obs-text, SP or HTAB (RFC 9110 §5.5).
func isFieldVchar(c byte) bool { return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7f) }

// quoteSafe quotes a rejected header name for an error message, cut to 64
// bytes and with control bytes shown as '?'.
func quoteSafe(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return `"` + string(b) + `"`
}

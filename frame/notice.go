package frame

import "time"

// The notices logplex itself writes (docs/logplex.md §3.4, §5.7). Each takes the time as
// an argument; dates are UTC as written by AppendDate.

const (
	l10Text   = " heroku logplex - "
	l10Prefix = "Error L10 (output buffer overflow): "
	l10Middle = " messages dropped since "
)

// AppendL10Syslog appends the octet-counted L10 frame a TCP/TLS syslog drain
// writes before its next batch after losing n messages since since:
//
//	<len> <172>1 <now> <drainToken> heroku logplex - - Error L10 (output buffer
//	overflow): <n> messages dropped since <since>.LF
func AppendL10Syslog(dst []byte, now time.Time, drainToken []byte, n int, since time.Time) []byte {
	start := len(dst)
	dst = append(dst, "<172>1 "...)
	dst = AppendDate(dst, now)
	dst = append(dst, ' ')
	dst = append(dst, drainToken...)
	dst = append(dst, l10Text+"- "+l10Prefix...)
	dst = appendL10Count(dst, n, since)
	return frameTail(append(dst, '\n'), start)
}

// AppendL10HTTP appends the octet-counted L10 frame an HTTP drain puts first in
// its next POST body:
//
//	<len> <172>1 <now> host heroku logplex - Error L10 (output buffer
//	overflow): <n> messages dropped since <since>.
func AppendL10HTTP(dst []byte, now time.Time, n int, since time.Time) []byte {
	start := len(dst)
	dst = append(dst, "<172>1 "...)
	dst = AppendDate(dst, now)
	dst = append(dst, " host"+l10Text+l10Prefix...)
	dst = appendL10Count(dst, n, since)
	return frameTail(dst, start)
}

// appendL10Count appends "<n> messages dropped since <since>.".
func appendL10Count(dst []byte, n int, since time.Time) []byte {
	dst = appendInt(dst, n)
	dst = append(dst, l10Middle...)
	dst = AppendDate(dst, since)
	return append(dst, '.')
}

// AppendL11 appends the line a tail session prints after dropping n messages
// since since (not framed):
//
//	<now> logplex[1]: Error L11 (Tail buffer overflow) -> This tail session
//	dropped <n> messages since <since>.LF
func AppendL11(dst []byte, now time.Time, n int, since time.Time) []byte {
	dst = AppendDate(dst, now)
	dst = append(dst, " logplex[1]: Error L11 (Tail buffer overflow) -> This tail session dropped "...)
	dst = appendInt(dst, n)
	dst = append(dst, " messages since "...)
	dst = AppendDate(dst, since)
	return append(dst, ".\n"...)
}

// AppendL14 appends the raw (not framed) syslog message a TLS drain reports a
// certificate failure with; it goes to the channel's history and tails, where
// ParseSession reads it. source is the id of the channel's token named
// "heroku" (the caller rewrites it like any message); drainToken fills the
// HOSTNAME field. As Logplex's to_msg, it ends with an LF:
//
//	<188>1 <now> <drainToken> <source> logplex - - Error L14 (certificate
//	validation): error="<alert>" uri="<uri>"LF
func AppendL14(dst []byte, now time.Time, drainToken, source []byte, alert, uri string) []byte {
	dst = append(dst, "<188>1 "...)
	dst = AppendDate(dst, now)
	dst = append(dst, ' ')
	dst = append(dst, drainToken...)
	dst = append(dst, ' ')
	dst = append(dst, source...)
	dst = append(dst, ` logplex - - Error L14 (certificate validation): error="`...)
	dst = append(dst, alert...)
	dst = append(dst, `" uri="`...)
	dst = append(dst, uri...)
	return append(dst, "\"\n"...)
}

// AppendL20 appends the last line of a session whose channel forbids tails:
//
//	<now> Logplex: Error L20 (Tail sessions forbidden) Tail sessions for this
//	app are forbidden due to log volume.LF
//
// The date is UTC with "+00:00" (Logplex printed local time with a broken
// offset; spec Appendix A.16).
func AppendL20(dst []byte, now time.Time) []byte {
	dst = AppendDate(dst, now)
	return append(dst, " Logplex: Error L20 (Tail sessions forbidden) Tail sessions for this app are forbidden due to log volume.\n"...)
}

// frameTail turns dst[start:] into an octet-counted frame by inserting
// "<len> SP" before it (one move of the body; for the rare notices).
func frameTail(dst []byte, start int) []byte {
	n := len(dst) - start
	var hdr [24]byte
	h := appendLen(hdr[:0], n)
	dst = append(dst, h...) // grow by len(h)
	copy(dst[start+len(h):], dst[start:start+n])
	copy(dst[start:], h)
	return dst
}

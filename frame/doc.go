// Package frame owns the bytes of a log message: how the syslog input stream is
// cut into frames, where the token sits in a message header, how a message is
// rewritten and parsed, and every line logplex writes out (syslog drains, HTTP
// drains, v3 channel logs, session and tail lines, and the L10, L11, L14 and L20
// notices). Section numbers (§) refer to docs/logplex.md.
//
// Input framing (§2.1), decided at the first byte of each frame:
//
//	octet counted (RFC 6587): first byte '1'..'9', LEN <= MaxFrameLen
//	+-----+----+--------------------------+
//	| LEN | SP | MSG, exactly LEN bytes   |  the next frame starts right after MSG
//	+-----+----+--------------------------+
//	 118   ' '  <134>1 2012-12-10T03:00:48.123456Z erlang t.feff49f1-… console.1 - - Logsplat…
//
//	anything else is a newline-delimited line, counted as malformed and skipped
//	+----------------------------+----------------+
//	| LINE, at most MaxLineLen   | "\n" or "\r\n" |
//	+----------------------------+----------------+
//
// Message header (RFC 5424 as Logplex reads it, §2.3 and §3.2):
//
//	<PRI>VERSION SP TIME SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP CONTENT
//	                                    ^ the token t.<uuid> on input, replaced
//	                                      by the token name (AppendCooked)
//
// Output (§3.3), each "<len> SP body" framed where marked [framed]:
//
//	syslog drain [framed]  <PRI>1 TIME d.<uuid> APP-NAME PROCID - - CONTENT(⏎)
//	HTTP drain   [framed]  <PRI>1 TIME host APP-NAME PROCID - CONTENT
//	v3 logs      [framed]  <PRI>1 TIME host APP-NAME PROCID - CONTENT⏎
//	session line           TIME APP-NAME[PROCID]: CONTENT(⏎)
//
// (⏎) is a line feed added unless CONTENT already ends with one.
//
// Everything here is a pure function over []byte: no sockets, no clock (times
// are passed in), no goroutines, and no allocation per message (the alloc tests
// prove it). Append functions take the destination first and return it
// extended, like strconv.AppendInt. Slices returned by Next, ParseDrain and
// ParseSession alias their input and are valid as long as the
// caller leaves those input bytes unchanged.
//
// frame imports only bytes, encoding/binary, math/bits, strconv and time from the standard library; it
// must never import net, os, fmt or any module outside the standard library
// (TestImports enforces this).
package frame

package config

import "strings"

// RedactURL returns a URL fit for logs, banners and error messages: the
// whole userinfo replaced by "***" ("redis://:pw@h:6379" → "redis://***@h:6379").
// Not url.URL.Redacted: it hides only a password after ":" and keeps a user
// name, and Redis URLs are written with the password in either place; this
// also works on strings that do not parse as URLs.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return scheme + "://***@" + rest[at+1:]
	}
	return raw
}

package config

// MaxTokenNameLen is the longest token name: a token's name replaces the
// APP-NAME of the messages it sends, and RFC 5424 APP-NAME is 1*48PRINTUSASCII.
const MaxTokenNameLen = 48

// ValidTokenName reports whether name can be a token name: 1 to 48 bytes of
// printable US-ASCII without space ('!' to '~'), as an RFC 5424 APP-NAME.
// The APIs refuse other names, so a name cannot forge header fields or
// lines (a space, CR, LF or NUL would) when routing rewrites a message.
func ValidTokenName(name string) bool {
	if len(name) == 0 || len(name) > MaxTokenNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return false
		}
	}
	return true
}

// SafeTokenName returns name when it is valid, else a valid name made from
// it: each byte outside '!'..'~' becomes '_', the result is cut at 48 bytes,
// and an empty name becomes "-" (the syslog NILVALUE). Snapshots hold the
// safe form, so a name stored before the APIs checked names (or written to
// the config store by hand) is never written raw into a message header.
func SafeTokenName(name string) string {
	if ValidTokenName(name) {
		return name
	}
	if name == "" {
		return "-"
	}
	b := []byte(name[:min(len(name), MaxTokenNameLen)])
	for i, c := range b {
		if c < '!' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

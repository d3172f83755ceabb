package config

// Drain URL parsing and validation (docs/logplex.md §5.1).
//
//	syslog://host[:port][/path]          TCP syslog, default port 601
//	syslog+tls://host[:port][#insecure]  TLS syslog, default port 6514
//	http(s)://[user[:pass]@]host[:port][/path][?query]
//	otlp+http(s)://[user[:pass]@]host[:port][/path][?query]   OTLP/HTTP logs (extension)
//
// A URL is first parsed as an RFC 3986 URI (scheme ":" hier-part, authority
// with userinfo, host and port; every character checked), then validated per
// scheme. Scheme comparison is case-sensitive, as in Logplex. Errors carry
// Logplex's reason term (`{unknown_scheme,"ftp"}`, `invalid_http_uri`, …) as
// their text so the API can answer `Invalid drain destination: <reason>`.

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// DrainKind is the kind of sender a drain URL needs.
type DrainKind int

// Drain kinds.
const (
	DrainHTTP      DrainKind = iota + 1 // http:// and https://
	DrainSyslogTCP                      // syslog://
	DrainSyslogTLS                      // syslog+tls://
	DrainOTLP                           // otlp+http:// and otlp+https:// (extension)
)

// Default ports (docs/logplex.md §5.1).
const (
	DefaultSyslogPort    = 601
	DefaultSyslogTLSPort = 6514
)

// DrainURL is a parsed and validated drain destination.
type DrainURL struct {
	Kind DrainKind
	// Scheme is "http", "https", "syslog" or "syslog+tls"; for an OTLP
	// drain it is the transport, "http" or "https" (the URL says
	// "otlp+http" or "otlp+https").
	Scheme string
	// Host without brackets (an IPv6 literal is "::1", not "[::1]").
	Host string
	// Port is the port to connect to: the URL's, else the scheme default
	// (601, 6514, 80, 443).
	Port int
	// ExplicitPort reports whether the URL named the port (an HTTP drain's
	// Host header carries ":port" only then, docs/logplex.md §5.4).
	ExplicitPort bool
	Path         string // as written (percent-encoding kept); may be ""
	RawQuery     string // without '?'
	Fragment     string // without '#'
	// HasUser reports whether the URL had userinfo; User and Pass are its
	// percent-decoded parts split at the first ':' (Pass "" when absent).
	HasUser    bool
	User, Pass string
	// Insecure: syslog+tls with fragment "insecure" (no certificate checks).
	Insecure bool
	// Normalized is the URL as stored and echoed: syslog and syslog+tls
	// URLs gain their default port; http(s) URLs are unchanged.
	Normalized string
}

// HostPort returns "host:port" for dialing (IPv6 literals bracketed).
func (u *DrainURL) HostPort() string {
	return joinHostPort(u.Host, u.Port)
}

// RequestURI returns the HTTP request target: the path ("/" when empty)
// plus "?query" when the URL has one.
func (u *DrainURL) RequestURI() string {
	p := u.Path
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// DrainURLError is a rejected drain URL. Its text is Logplex's reason term,
// e.g. `{unknown_scheme,"ftp"}` or `invalid_http_uri`.
type DrainURLError struct {
	Reason string
	// Unsupported marks a URL Logplex accepts (or names) but logplex does
	// not deliver to (UDP syslog).
	Unsupported bool
}

func (e *DrainURLError) Error() string { return e.Reason }

// Reason terms (docs/logplex.md §4.2 notes, §5.1).
var (
	ErrInvalidURI       = &DrainURLError{Reason: "invalid_uri"}
	ErrInvalidHTTPURI   = &DrainURLError{Reason: "invalid_http_uri"}
	ErrInvalidTCPSyslog = &DrainURLError{Reason: "invalid_tcpsyslog_uri"}
	ErrInvalidTLSSyslog = &DrainURLError{Reason: "invalid_tlssyslog_uri"}
	ErrInvalidUDPSyslog = &DrainURLError{Reason: "invalid_udpsyslog_uri", Unsupported: true}
	ErrUDPUnsupported   = &DrainURLError{Reason: `{unsupported_scheme,"udpsyslog"}`, Unsupported: true}
)

// ParseDrainURL parses and validates a drain URL (docs/logplex.md §5.1).
func ParseDrainURL(raw string) (*DrainURL, error) {
	r, err := parseURI(raw)
	if err != nil {
		return nil, err
	}
	switch r.scheme {
	case "syslog":
		return r.syslog(raw, DrainSyslogTCP, DefaultSyslogPort, ErrInvalidTCPSyslog)
	case "syslog+tls":
		return r.syslog(raw, DrainSyslogTLS, DefaultSyslogTLSPort, ErrInvalidTLSSyslog)
	case "http", "https":
		return r.http(raw)
	case "otlp+http", "otlp+https":
		return r.otlp(raw)
	case "udpsyslog":
		return nil, ErrUDPUnsupported
	case "syslog+udp":
		return nil, ErrInvalidUDPSyslog
	case "tcpsyslog", "syslog+tcp":
		return nil, ErrInvalidTCPSyslog
	}
	if strings.HasPrefix(r.scheme, "http") {
		return nil, ErrInvalidHTTPURI
	}
	return nil, &DrainURLError{Reason: `{unknown_scheme,"` + r.scheme + `"}`}
}

func (r *uriParts) syslog(raw string, kind DrainKind, defPort int, bad *DrainURLError) (*DrainURL, error) {
	if !r.hasAuthority || r.host == "" {
		return nil, bad
	}
	u, err := r.drainURL(kind, defPort, bad)
	if err != nil {
		return nil, err
	}
	u.Insecure = kind == DrainSyslogTLS && r.fragment == "insecure"
	var b strings.Builder
	b.WriteString(r.scheme + "://")
	if r.hasUser {
		b.WriteString(r.userinfo + "@")
	}
	b.WriteString(r.rawHost + ":" + strconv.Itoa(u.Port) + r.path)
	if r.hasQuery {
		b.WriteString("?" + r.query)
	}
	if r.hasFragment {
		b.WriteString("#" + r.fragment)
	}
	u.Normalized = b.String()
	return u, nil
}

func (r *uriParts) http(raw string) (*DrainURL, error) {
	if !r.hasAuthority || r.host == "" {
		return nil, ErrInvalidHTTPURI
	}
	def := 80
	if r.scheme == "https" {
		def = 443
	}
	u, err := r.drainURL(DrainHTTP, def, ErrInvalidHTTPURI)
	if err != nil {
		return nil, err
	}
	u.Normalized = raw
	return u, nil
}

// ErrInvalidOTLPURI rejects an otlp+http(s) URL without a host.
var ErrInvalidOTLPURI = &DrainURLError{Reason: "invalid_otlp_uri"}

// otlp parses an OTLP/HTTP drain: like an HTTP drain, with the transport
// scheme ("http" or "https") in Scheme. The path is the endpoint's as
// written (OTLP's default is /v1/logs; logplex does not add it).
func (r *uriParts) otlp(raw string) (*DrainURL, error) {
	if !r.hasAuthority || r.host == "" {
		return nil, ErrInvalidOTLPURI
	}
	scheme, def := "http", 80
	if r.scheme == "otlp+https" {
		scheme, def = "https", 443
	}
	u, err := r.drainURL(DrainOTLP, def, ErrInvalidOTLPURI)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Normalized = scheme, raw
	return u, nil
}

func (r *uriParts) drainURL(kind DrainKind, defPort int, bad *DrainURLError) (*DrainURL, error) {
	u := &DrainURL{Kind: kind, Scheme: r.scheme, Host: r.host, Port: defPort,
		Path: r.path, RawQuery: r.query, Fragment: r.fragment}
	if r.port != "" {
		p, err := strconv.Atoi(r.port)
		if err != nil || p < 1 || p > 65535 {
			return nil, bad
		}
		u.Port, u.ExplicitPort = p, true
	}
	if r.hasUser {
		user, pass, _ := strings.Cut(r.userinfo, ":")
		var err1, err2 error
		u.HasUser = true
		u.User, err1 = pctDecode(user)
		u.Pass, err2 = pctDecode(pass)
		if err1 != nil || err2 != nil {
			return nil, bad
		}
	}
	return u, nil
}

// uriParts is an RFC 3986 URI split into its components.
type uriParts struct {
	scheme                        string
	hasAuthority, hasUser         bool
	userinfo, rawHost, host, port string
	path                          string
	hasQuery, hasFragment         bool
	query, fragment               string
}

// parseURI parses an absolute RFC 3986 URI, checking every character.
func parseURI(raw string) (*uriParts, error) {
	r := &uriParts{}
	i := strings.IndexByte(raw, ':')
	if i <= 0 || !validScheme(raw[:i]) {
		return nil, ErrInvalidURI
	}
	r.scheme, raw = raw[:i], raw[i+1:]
	if f, ok := cutAt(&raw, '#'); ok {
		r.hasFragment, r.fragment = true, f
		if !allChars(f, isQueryChar) || !validPct(f) {
			return nil, ErrInvalidURI
		}
	}
	if q, ok := cutAt(&raw, '?'); ok {
		r.hasQuery, r.query = true, q
		if !allChars(q, isQueryChar) || !validPct(q) {
			return nil, ErrInvalidURI
		}
	}
	if rest, ok := strings.CutPrefix(raw, "//"); ok {
		r.hasAuthority = true
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			slash = len(rest)
		}
		if err := r.parseAuthority(rest[:slash]); err != nil {
			return nil, err
		}
		raw = rest[slash:]
	}
	if !allChars(raw, isPathChar) || !validPct(raw) {
		return nil, ErrInvalidURI
	}
	r.path = raw
	return r, nil
}

// cutAt removes everything from the first sep on from *s and returns it
// (without sep).
func cutAt(s *string, sep byte) (string, bool) {
	i := strings.IndexByte(*s, sep)
	if i < 0 {
		return "", false
	}
	tail := (*s)[i+1:]
	*s = (*s)[:i]
	return tail, true
}

func (r *uriParts) parseAuthority(a string) error {
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		r.hasUser, r.userinfo = true, a[:at]
		if !allChars(r.userinfo, isUserChar) || !validPct(r.userinfo) {
			return ErrInvalidURI
		}
		a = a[at+1:]
	}
	hostEnd := len(a)
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return ErrInvalidURI
		}
		ip, err := netip.ParseAddr(a[1:end])
		if err != nil || !ip.Is6() {
			return ErrInvalidURI
		}
		r.host, hostEnd = ip.String(), end+1
		if ip.Zone() != "" {
			return ErrInvalidURI
		}
	} else if c := strings.LastIndexByte(a, ':'); c >= 0 {
		hostEnd = c
	}
	r.rawHost = a[:hostEnd]
	if r.host == "" {
		if !allChars(r.rawHost, isRegNameChar) || !validPct(r.rawHost) {
			return ErrInvalidURI
		}
		r.host = r.rawHost
	}
	rest := a[hostEnd:]
	if rest != "" {
		if rest[0] != ':' || !allChars(rest[1:], isDigit) {
			return ErrInvalidURI
		}
		r.port = rest[1:]
	}
	return nil
}

func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	return allChars(s, func(c byte) bool { return isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.' })
}

func allChars(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// validPct checks that every '%' starts a two-hex-digit escape.
func validPct(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			return false
		}
	}
	return true
}

func pctDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errors.New("bad percent-encoding")
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

func isRegNameChar(c byte) bool { return isUnreserved(c) || isSubDelim(c) || c == '%' }
func isUserChar(c byte) bool    { return isRegNameChar(c) || c == ':' }
func isPathChar(c byte) bool    { return isUserChar(c) || c == '@' || c == '/' }
func isQueryChar(c byte) bool   { return isPathChar(c) || c == '?' }

// IsPrivateHost reports whether a drain host names this machine or a
// network a drain may not reach (IsPrivateIP), written as IP literals (also
// the inet_aton forms "127.1", "0x7f.1", "2130706433"), or the names
// "localhost" and "*.localhost". It does no DNS lookup: a name that
// resolves to a private address must be caught where the connection is
// dialed, with IsPrivateIP on the address actually used.
func IsPrivateHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return IsPrivateIP(ip)
	}
	if ip, ok := parseInetAton(h); ok {
		return IsPrivateIP(ip)
	}
	return false
}

// IsPrivateIP reports whether a drain may not connect to ip: ip is in an
// entry of the IANA special-purpose address registries that is not globally
// reachable (specialPurpose: loopback, private-use, shared address space
// (CGNAT), link-local, benchmarking, documentation, reserved, …), or is
// multicast, site-local (fec0::/10) or in the IETF-reserved ::/8. IPv4
// carried inside IPv6 is unwrapped and checked as IPv4: IPv4-mapped
// (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16). Teredo
// (2001::/32) lies in 2001::/23, refused whole. A zone is ignored.
func IsPrivateIP(ip netip.Addr) bool {
	ip = unwrap4(ip.WithZone(""))
	if !ip.IsValid() || ip.IsMulticast() {
		return true
	}
	for _, e := range specialPurpose {
		if !e.global && e.prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// unwrap4 returns the IPv4 address an IPv6 address carries by a
// well-known translation or tunnelling scheme, or ip itself.
func unwrap4(ip netip.Addr) netip.Addr {
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap()
	case nat64.Contains(ip): // RFC 6052: the IPv4 address in the last 32 bits
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip): // RFC 3056: 2002:AABB:CCDD::/48
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// specialEntry is one row of an IANA special-purpose address registry, or
// a block refused beside them (registry "-").
type specialEntry struct {
	prefix netip.Prefix
	name   string
	global bool // the registry's "Globally Reachable" column is True
}

// specialPurpose: the IANA IPv4 and IPv6 Special-Purpose Address Registries
// (iana-ipv4-special-registry, iana-ipv6-special-registry, as of 2025),
// every row, plus blocks outside them that no drain may reach. A row marked
// global is still refused when it lies inside a refused row (192.0.0.9 in
// 192.0.0.0/24, 2001:1::1 in 2001::/23): no drain has a reason to go there.
// 64:ff9b::/96, ::ffff:0:0/96 and 2002::/16 are unwrapped before this list
// is consulted (unwrap4).
var specialPurpose = []specialEntry{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network", false},
	{netip.MustParsePrefix("0.0.0.0/32"), "this host on this network", false},
	{netip.MustParsePrefix("10.0.0.0/8"), "private-use", false},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)", false},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback", false},
	{netip.MustParsePrefix("169.254.0.0/16"), "link local", false},
	{netip.MustParsePrefix("172.16.0.0/12"), "private-use", false},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments", false},
	{netip.MustParsePrefix("192.0.0.0/29"), "IPv4 service continuity prefix (DS-Lite)", false},
	{netip.MustParsePrefix("192.0.0.8/32"), "IPv4 dummy address", false},
	{netip.MustParsePrefix("192.0.0.9/32"), "port control protocol anycast", true},
	{netip.MustParsePrefix("192.0.0.10/32"), "TURN anycast", true},
	{netip.MustParsePrefix("192.0.0.170/32"), "NAT64/DNS64 discovery", false},
	{netip.MustParsePrefix("192.0.0.171/32"), "NAT64/DNS64 discovery", false},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (TEST-NET-1)", false},
	{netip.MustParsePrefix("192.31.196.0/24"), "AS112-v4", true},
	{netip.MustParsePrefix("192.52.193.0/24"), "AMT", true},
	{netip.MustParsePrefix("192.88.99.0/24"), "deprecated (6to4 relay anycast)", false},
	{netip.MustParsePrefix("192.168.0.0/16"), "private-use", false},
	{netip.MustParsePrefix("192.175.48.0/24"), "direct delegation AS112 service", true},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking", false},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (TEST-NET-2)", false},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (TEST-NET-3)", false},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved", false},
	{netip.MustParsePrefix("255.255.255.255/32"), "limited broadcast", false},

	{netip.MustParsePrefix("::1/128"), "loopback address", false},
	{netip.MustParsePrefix("::/128"), "unspecified address", false},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped address", false},
	{netip.MustParsePrefix("64:ff9b::/96"), "IPv4-IPv6 translation", true},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 translation (local use)", false},
	{netip.MustParsePrefix("100::/64"), "discard-only address block", false},
	{netip.MustParsePrefix("100:0:0:1::/64"), "dummy IPv6 prefix", false},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments", false},
	{netip.MustParsePrefix("2001::/32"), "TEREDO", false},
	{netip.MustParsePrefix("2001:1::1/128"), "port control protocol anycast", true},
	{netip.MustParsePrefix("2001:1::2/128"), "TURN anycast", true},
	{netip.MustParsePrefix("2001:1::3/128"), "DNS-SD service registration protocol anycast", true},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking", false},
	{netip.MustParsePrefix("2001:3::/32"), "AMT", true},
	{netip.MustParsePrefix("2001:4:112::/48"), "AS112-v6", true},
	{netip.MustParsePrefix("2001:10::/28"), "deprecated (previously ORCHID)", false},
	{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2", true},
	{netip.MustParsePrefix("2001:30::/28"), "drone remote ID protocol entity tags (DETs)", true},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation", false},
	{netip.MustParsePrefix("2002::/16"), "6to4", false},
	{netip.MustParsePrefix("2620:4f:8000::/48"), "direct delegation AS112 service", true},
	{netip.MustParsePrefix("3fff::/20"), "documentation", false},
	{netip.MustParsePrefix("5f00::/16"), "segment routing (SRv6) SIDs", false},
	{netip.MustParsePrefix("fc00::/7"), "unique-local", false},
	{netip.MustParsePrefix("fe80::/10"), "link-local unicast", false},

	// not special-purpose rows, but nowhere a drain belongs
	{netip.MustParsePrefix("::/8"), "- reserved by IETF (IPv4-compatible, IPv4-translated)", false},
	{netip.MustParsePrefix("fec0::/10"), "- site-local (deprecated, RFC 3879)", false},
}

// parseInetAton parses the numeric IPv4 forms C libraries accept: one to
// four parts, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		if p == "" || strings.Contains(p, "_") || (len(p) > 1 && p[0] == '0' && strings.ContainsAny(p[1:2], "oObB")) {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil || (i < len(parts)-1 && v > 255) {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := vals[len(parts)-1]
	if last >= 1<<(8*(5-len(parts))) {
		return netip.Addr{}, false
	}
	var n uint64
	for i := 0; i < len(parts)-1; i++ {
		n |= vals[i] << (24 - 8*i)
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

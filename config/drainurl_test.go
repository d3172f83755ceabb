package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseDrainURL(t *testing.T) {
	cases := []struct {
		in, norm, reason string
		kind             DrainKind
		host             string
		port             int
	}{
		{in: "syslog://example.com", norm: "syslog://example.com:601", kind: DrainSyslogTCP, host: "example.com", port: 601},
		{in: "syslog://example.com:514/x?y#z", norm: "syslog://example.com:514/x?y#z", kind: DrainSyslogTCP, host: "example.com", port: 514},
		{in: "syslog+tls://logs.example.com", norm: "syslog+tls://logs.example.com:6514", kind: DrainSyslogTLS, port: 6514, host: "logs.example.com"},
		{in: "syslog+tls://[2001:db8::1]:7000/#insecure", norm: "syslog+tls://[2001:db8::1]:7000/#insecure", kind: DrainSyslogTLS, host: "2001:db8::1", port: 7000},
		{in: "http://my.drain.com/abc", norm: "http://my.drain.com/abc", kind: DrainHTTP, host: "my.drain.com", port: 80},
		{in: "https://u:p%40ss@h.example.com:8443/p?q=1", norm: "https://u:p%40ss@h.example.com:8443/p?q=1", kind: DrainHTTP, host: "h.example.com", port: 8443},
		{in: "ftp://x", reason: `{unknown_scheme,"ftp"}`},
		{in: "HTTP://x", reason: `{unknown_scheme,"HTTP"}`}, // case-sensitive, as Logplex
		{in: "httpx://x", reason: "invalid_http_uri"},
		{in: "http:///nohost", reason: "invalid_http_uri"},
		{in: "http:relative", reason: "invalid_http_uri"},
		{in: "https://h:0/", reason: "invalid_http_uri"},
		{in: "syslog://h:65536", reason: "invalid_tcpsyslog_uri"},
		{in: "syslog://", reason: "invalid_tcpsyslog_uri"},
		{in: "syslog+tls://:1", reason: "invalid_tlssyslog_uri"},
		{in: "tcpsyslog://h", reason: "invalid_tcpsyslog_uri"},
		{in: "syslog+tcp://h", reason: "invalid_tcpsyslog_uri"},
		{in: "syslog+udp://h", reason: "invalid_udpsyslog_uri"},
		{in: "udpsyslog://h", reason: `{unsupported_scheme,"udpsyslog"}`},
		{in: "i am not a url", reason: "invalid_uri"},
		{in: "http://x y", reason: "invalid_uri"},
		{in: "http://x/%zz", reason: "invalid_uri"},
		{in: "http://[::1", reason: "invalid_uri"},
		{in: "http://h:p/", reason: "invalid_uri"},
		{in: "", reason: "invalid_uri"},
		{in: "1http://x", reason: "invalid_uri"},
	}
	for _, c := range cases {
		u, err := ParseDrainURL(c.in)
		if c.reason != "" {
			if err == nil || err.Error() != c.reason {
				t.Errorf("%q: err %v, want %s", c.in, err, c.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if u.Normalized != c.norm || u.Kind != c.kind || u.Host != c.host || u.Port != c.port {
			t.Errorf("%q: got %+v", c.in, u)
		}
	}
	u, _ := ParseDrainURL("https://u:p%40ss@h.example.com/p?q=1")
	if !u.HasUser || u.User != "u" || u.Pass != "p@ss" || u.RequestURI() != "/p?q=1" || u.ExplicitPort || u.HostPort() != "h.example.com:443" {
		t.Fatalf("http parts: %+v", u)
	}
	u, _ = ParseDrainURL("syslog+tls://[::2]/#insecure")
	if !u.Insecure || u.HostPort() != "[::2]:6514" {
		t.Fatalf("tls parts: %+v", u)
	}
}

func TestIsPrivateHost(t *testing.T) {
	private := []string{"localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.1", "0x7f.1", "2130706433", "017700000001",
		"10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "0", "::1", "[::1]", "::", "fe80::1",
		"fc00::1", "::ffff:127.0.0.1", "::ffff:10.1.1.1"}
	public := []string{"example.com", "8.8.8.8", "2001:4860:4860::8888", "172.32.0.1", "my.drain.com", "1.2.3.4.5", "0x1g", "1_0"}
	for _, h := range private {
		if !IsPrivateHost(h) {
			t.Errorf("%q not private", h)
		}
	}
	for _, h := range public {
		if IsPrivateHost(h) {
			t.Errorf("%q private", h)
		}
	}
	if !IsPrivateIP(netip.MustParseAddr("fe80::1%eth0")) || IsPrivateIP(netip.MustParseAddr("93.184.216.34")) {
		t.Fatal("IsPrivateIP wrong")
	}
}

// FuzzDrainURL: parsing never panics; an accepted URL has a host, a port in
// range, and its normalized form parses to itself.
func FuzzDrainURL(f *testing.F) {
	for _, s := range []string{"syslog://example.com", "syslog+tls://h:1/#insecure", "https://u:p@h/p?q#f",
		"http://[::1]:80/", "ftp://x", "i am not a url", "udpsyslog://h", "http://%41/", "syslog://h:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseDrainURL(raw)
		if err != nil {
			if _, ok := err.(*DrainURLError); !ok || err.Error() == "" {
				t.Fatalf("%q: error %T %v", raw, err, err)
			}
			return
		}
		if u.Host == "" || u.Port < 1 || u.Port > 65535 || u.Kind == 0 {
			t.Fatalf("%q: accepted %+v", raw, u)
		}
		again, err := ParseDrainURL(u.Normalized)
		if err != nil || again.Normalized != u.Normalized {
			t.Fatalf("%q: normalized %q does not reparse to itself: %v", raw, u.Normalized, err)
		}
		_ = IsPrivateHost(u.Host)
		if strings.ContainsAny(u.Normalized, " \n\r\t") {
			t.Fatalf("%q: whitespace in %q", raw, u.Normalized)
		}
	})
}

// TestSpecialPurposeRegistry walks every row of the IANA registries: the
// first and last address of a row that is not globally reachable are
// refused, in every IPv6 wrapping of an IPv4 address; a global row not
// nested in a refused one is allowed; the addresses just outside the
// blocks the issue named are allowed.
func TestSpecialPurposeRegistry(t *testing.T) {
	last := func(p netip.Prefix) netip.Addr {
		b := p.Masked().Addr().AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	nested := func(e specialEntry) bool {
		for _, o := range specialPurpose {
			if !o.global && o.prefix.Bits() < e.prefix.Bits() && o.prefix.Overlaps(e.prefix) {
				return true
			}
		}
		return false
	}
	wrap := func(a netip.Addr) []netip.Addr {
		v := a.As4()
		b16 := func(pfx string, at int) netip.Addr {
			b := netip.MustParseAddr(pfx).As16()
			copy(b[at:at+4], v[:])
			return netip.AddrFrom16(b)
		}
		return []netip.Addr{a, netip.AddrFrom16(a.As16()), b16("64:ff9b::", 12), b16("2002::", 2)}
	}
	for _, e := range specialPurpose {
		for _, a := range []netip.Addr{e.prefix.Addr(), last(e.prefix)} {
			forms := []netip.Addr{a}
			if a.Is4() {
				forms = wrap(a)
			}
			for _, f := range forms {
				want := !e.global || nested(e)
				if got := IsPrivateIP(f); got != want {
					t.Errorf("%s (%s, %s): private %v, want %v", f, e.prefix, e.name, got, want)
				}
				if got := IsPrivateHost(f.String()); got != want {
					t.Errorf("host %q (%s): private %v, want %v", f, e.name, got, want)
				}
			}
		}
	}
	for _, s := range []string{"100.100.100.200", "100.64.0.1", "192.0.0.1", "198.18.0.1", "198.19.255.255", "240.0.0.1",
		"64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::6464:64c8", "64:ff9b:1::1", "2002:a00:1::1", "2002:7f00:1::",
		"fec0::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "224.0.0.1", "ff02::1", "::a00:1", "::ffff:0:a00:1"} {
		if !IsPrivateHost(s) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"100.63.255.255", "100.128.0.0", "198.17.255.255", "198.20.0.0", "192.0.1.1", "223.255.255.255",
		"64:ff9b::808:808", "2002:808:808::1", "2001:200::1", "2a00:1450::1", "2620:4f:8000::1"} {
		if IsPrivateHost(s) {
			t.Errorf("%s refused", s)
		}
	}
}

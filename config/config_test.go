package config

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCredVerify(t *testing.T) {
	c, pass := NewCredential("ops", true, false)
	if len(c.ID) != 32 || len(pass) != 64 {
		t.Fatalf("id %q pass %q: want 32 and 64 hex chars", c.ID, pass)
	}
	if !c.Verify(pass) || c.Verify(pass+"x") || c.Verify("") {
		t.Fatal("hashed password verification wrong")
	}
	legacy := &Cred{ID: "L", Pass: "secret"}
	if !legacy.Verify("secret") || legacy.Verify("Secret") {
		t.Fatal("plaintext (Logplex) password verification wrong")
	}
	if (&Cred{ID: "empty"}).Verify("") {
		t.Fatal("a credential without password must never verify")
	}
	round := credFromHash(c.ID, CredHash(c))
	if !round.Verify(pass) || !round.FullAPI || round.AnyChannel {
		t.Fatalf("cred hash round trip: %+v", round)
	}
}

func TestParseBasic(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte("token:t.abc:def"))
	u, p, raw, ok := ParseBasic("Basic " + enc)
	if !ok || u != "token" || p != "t.abc:def" || raw != enc {
		t.Fatalf("got %q %q %q %v", u, p, raw, ok)
	}
	for _, h := range []string{"", "basic " + enc, "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon"))} {
		if _, _, _, ok := ParseBasic(h); ok {
			t.Errorf("ParseBasic(%q) ok", h)
		}
	}
	if !AuthKeyMatches("k1", "k1") || AuthKeyMatches("k1", "k2") || AuthKeyMatches("", "") {
		t.Fatal("AuthKeyMatches wrong")
	}
}

func TestSnapshotWith(t *testing.T) {
	s := Build(map[string]Hash{
		TokenKey("t.1"):    TokenHash("1", "app"), // token before its channel: placeholder
		ChannelKey("1"):    ChannelHash("one", "no_tail:no_redis"),
		ChannelKey("2"):    ChannelHash("two", ""),
		DrainKey(5):        {"ch": "1", "token": "d.5", "host": "h", "port": "9"},
		"unrelated:key":    {"x": "y"},
		TokenKey("t.2"):    TokenHash("1", "aaa"),
		TokenKey("t.orph"): TokenHash("9", "x"),
	}, false, "1-0")
	c1 := s.Channel("1")
	if c1 == nil || !c1.NoTail || !c1.NoRedis || len(c1.Tokens) != 2 || c1.Tokens[0].Name != "aaa" {
		t.Fatalf("channel 1 = %+v", c1)
	}
	if c1.Drains[0].URL != "syslog://h:9" {
		t.Fatalf("legacy host/port drain url %q", c1.Drains[0].URL)
	}
	if s.Channel("9") != nil || s.Token("t.orph") == nil {
		t.Fatal("orphan token's channel must be hidden, the token kept")
	}
	// move t.1 to channel 2, delete channel 1's hash
	n := s.With([]Change{{Key: TokenKey("t.1"), Fields: TokenHash("2", "app")}, {Key: ChannelKey("1")}}, "2-0")
	if n.Channel("1") != nil || len(n.Channel("2").Tokens) != 1 {
		t.Fatalf("after move: ch1=%+v ch2=%+v", n.Channel("1"), n.Channel("2"))
	}
	if len(s.Channel("1").Tokens) != 2 || len(s.Channel("2").Tokens) != 0 {
		t.Fatal("With modified the old snapshot")
	}
	if n.Version != "2-0" {
		t.Fatalf("version %q", n.Version)
	}
	r := n.With([]Change{{Key: ControlRodKey, Fields: Hash{"0": "1"}}}, "3-0")
	if !r.ReadOnly || n.ReadOnly {
		t.Fatal("control rod bit")
	}
}

// FuzzParseBasic: any Authorization header parses without panicking, and a
// successful parse round-trips through base64.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"", "Basic ", "Basic dG9rZW46dC5hYmM=", "Basic !!!", "basic x", "Basic Og==",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b:c")), "Bearer x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		user, pass, raw, ok := ParseBasic(h)
		if !ok {
			return
		}
		// the decoder skips CR and LF (they cannot occur in an HTTP header)
		canon := strings.NewReplacer("\r", "", "\n", "").Replace(raw)
		if got := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)); got != canon {
			t.Fatalf("ParseBasic(%q) = %q,%q but re-encodes to %q", h, user, pass, got)
		}
		_ = AuthKeyMatches(raw, h)
	})
}

package config

import (
	"strings"
	"testing"
)

func TestValidTokenName(t *testing.T) {
	for _, n := range []string{"app", "a", "web.1", "!~", strings.Repeat("x", 48)} {
		if !ValidTokenName(n) {
			t.Errorf("ValidTokenName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "a b", "a\nb", "a\rb", "a\x00", "é", "\x7f", strings.Repeat("x", 49)} {
		if ValidTokenName(n) {
			t.Errorf("ValidTokenName(%q) = true", n)
		}
	}
}

// A name stored before names were checked reaches snapshots (and so the
// routing rewrite) only in its safe form.
func TestSnapshotTokenNamesAreSafe(t *testing.T) {
	s := Build(map[string]Hash{
		ChannelKey("1"):  ChannelHash("one", ""),
		TokenKey("t.1"):  TokenHash("1", "app 999 - [x] injected\n12 <13>1 x"),
		TokenKey("t.2"):  TokenHash("1", ""),
		TokenKey("t.3"):  TokenHash("1", strings.Repeat("y", 60)),
		TokenKey("t.ok"): TokenHash("1", "fine"),
	}, false, "1-0")
	want := map[string]string{"t.1": "app_999_-_[x]_injected_12_<13>1_x", "t.2": "-", "t.3": strings.Repeat("y", 48), "t.ok": "fine"}
	for id, name := range want {
		if got := s.Token(id).Name; got != name {
			t.Errorf("token %s name %q, want %q", id, got, name)
		}
	}
	n := s.With([]Change{{Key: TokenKey("t.4"), Fields: TokenHash("1", "a\x00b")}}, "2-0")
	if got := n.Token("t.4").Name; got != "a_b" {
		t.Errorf("changed token name %q, want a_b", got)
	}
}

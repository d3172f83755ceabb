package auth

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/logplex/logplex/config"
)

func TestChecker(t *testing.T) {
	full, pass, err := NewCred("ops", []string{GrantFullAPI})
	if err != nil {
		t.Fatal(err)
	}
	ingest, ipass, _ := NewCred("ship", []string{GrantAnyChannel})
	snap := config.Build(map[string]config.Hash{
		config.CredKey(full.ID):   config.CredHash(full),
		config.CredKey(ingest.ID): config.CredHash(ingest),
	}, false, "1-0")
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	c := Checker{AuthKey: "raw-key"}
	cases := []struct {
		header   string
		api, key bool
	}{
		{"Basic raw-key", true, true},
		{basic(full.ID, pass), true, false},
		{basic(full.ID, pass+"x"), false, false},
		{basic(ingest.ID, ipass), false, false}, // no full_api
		{basic("nobody", pass), false, false},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("raw-key")), false, false},
		{"basic raw-key", false, false},
		{"Basic !!!", false, false},
		{"", false, false},
	}
	for _, k := range cases {
		if got := c.API(k.header, snap); got != k.api {
			t.Errorf("API(%q) = %v", k.header, got)
		}
		if got := c.Key(k.header); got != k.key {
			t.Errorf("Key(%q) = %v", k.header, got)
		}
	}
	if (Checker{}).API("Basic ", snap) {
		t.Fatal("an empty auth key must never match")
	}
}

func TestNewCredAndList(t *testing.T) {
	if _, _, err := NewCred("x", []string{"full_api", "root"}); !errors.Is(err, ErrUnknownGrant) {
		t.Fatalf("err %v", err)
	}
	c, _, _ := NewCred("both", []string{GrantAnyChannel, GrantFullAPI})
	if g := Grants(c); len(g) != 2 || g[0] != GrantFullAPI || g[1] != GrantAnyChannel {
		t.Fatalf("grants %v", g)
	}
	a, _, _ := NewCred("a", nil)
	snap := config.Build(map[string]config.Hash{config.CredKey(c.ID): config.CredHash(c), config.CredKey(a.ID): config.CredHash(a)}, false, "1-0")
	l := List(snap)
	if len(l) != 2 || l[0].ID > l[1].ID || len(Grants(a)) != 0 {
		t.Fatalf("list %v", l)
	}
}

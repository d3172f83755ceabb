package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/logplex/logplex/store"
)

func TestGuardFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want store.Guard
		str  string
	}{
		{"50%", store.Guard{Shrink: 0.5}, "50%"},
		{"70", store.Guard{Shrink: 0.7}, "70%"},
		{"100%", store.Guard{Shrink: 1}, "100%"},
		{"off", store.Guard{Off: true}, "off"},
	} {
		var f guardFlag
		if err := f.Set(tc.in); err != nil || f.guard() != tc.want || f.String() != tc.str {
			t.Errorf("Set(%q): %+v %q %v, want %+v %q", tc.in, f.guard(), f.String(), err, tc.want, tc.str)
		}
	}
	for _, bad := range []string{"0", "0%", "-5%", "101%", "half", ""} {
		var f guardFlag
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted: %+v", bad, f.guard())
		}
	}
	var zero guardFlag
	if zero.String() != "50%" || zero.guard() != (store.Guard{}) {
		t.Errorf("default: %q %+v", zero.String(), zero.guard())
	}
}

func TestConfigCommandUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"config"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "logplex config accept") {
		t.Fatalf("logplex config: %d %q", code, errb.String())
	}
	t.Setenv("LOGPLEX_CONFIG_REDIS_URL", "")
	errb.Reset()
	if code := run([]string{"config", "accept"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--config-redis-url") {
		t.Fatalf("logplex config accept without a URL: %d %q", code, errb.String())
	}
}

package config

import (
	"strings"
	"testing"
)

func TestParseOTLPDrainURL(t *testing.T) {
	for raw, want := range map[string]DrainURL{
		"otlp+https://api.honeycomb.io/v1/logs":          {Kind: DrainOTLP, Scheme: "https", Host: "api.honeycomb.io", Port: 443, Path: "/v1/logs"},
		"otlp+http://collector.example.com:4318/v1/logs": {Kind: DrainOTLP, Scheme: "http", Host: "collector.example.com", Port: 4318, ExplicitPort: true, Path: "/v1/logs"},
		"otlp+https://u:p@[2001:db8::1]/x?y=1":           {Kind: DrainOTLP, Scheme: "https", Host: "2001:db8::1", Port: 443, Path: "/x", RawQuery: "y=1", HasUser: true, User: "u", Pass: "p"},
	} {
		u, err := ParseDrainURL(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		want.Normalized = raw
		if *u != want {
			t.Errorf("%s:\n got %+v\nwant %+v", raw, *u, want)
		}
	}
	for _, raw := range []string{"otlp+https:///v1/logs", "otlp+https:v1/logs", "otlp+http://h:0/", "otlp+http://h:99999/"} {
		if _, err := ParseDrainURL(raw); err == nil || err.Error() != "invalid_otlp_uri" {
			t.Errorf("%s: %v, want invalid_otlp_uri", raw, err)
		}
	}
	if _, err := ParseDrainURL("otlp+grpc://h/"); err == nil || !strings.Contains(err.Error(), "unknown_scheme") {
		t.Errorf("otlp+grpc: %v", err)
	}
}

func TestDrainHeaders(t *testing.T) {
	stored, err := EncodeDrainHeaders([]Header{{"x-honeycomb-team", "abc def"}, {"Authorization", "Bearer t0k3n=="}, {"DD-API-KEY", "é-obs-text"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Authorization: Bearer t0k3n==\nDD-API-KEY: é-obs-text\nx-honeycomb-team: abc def"; stored != want {
		t.Fatalf("stored %q, want %q", stored, want)
	}
	hs := DrainHeaders(stored)
	if len(hs) != 3 || hs[0] != (Header{"Authorization", "Bearer t0k3n=="}) || hs[2] != (Header{"x-honeycomb-team", "abc def"}) {
		t.Fatalf("decoded %v", hs)
	}
	if DrainHeaders("") != nil {
		t.Fatal("no headers decode to nil")
	}
	many := make([]Header, MaxDrainHeaders+1)
	for i := range many {
		many[i] = Header{"h" + strings.Repeat("x", i), "v"}
	}
	for name, hs := range map[string][]Header{
		"empty name": {{"", "v"}}, "space in name": {{"a b", "v"}}, "colon in name": {{"a:", "v"}},
		"CRLF in value": {{"a", "v\r\nX: 1"}}, "NUL": {{"a", "v\x00"}}, "DEL": {{"a", "v\x7f"}}, "empty value": {{"a", ""}},
		"leading space": {{"a", " v"}}, "trailing tab": {{"a", "v\t"}}, "twice": {{"X-K", "1"}, {"x-k", "2"}},
		"reserved": {{"Content-Encoding", "br"}}, "too many": many, "too large": {{"a", strings.Repeat("v", MaxDrainHeadersBytes)}},
	} {
		if _, err := EncodeDrainHeaders(hs); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "X: 1") {
			t.Errorf("%s: the error echoes the value: %v", name, err)
		}
	}
	if d := drainFromHash(1, DrainHash(&Drain{ChannelID: "c", Token: "d.x", URL: "otlp+https://h/", Headers: stored})); d.Headers != stored {
		t.Fatalf("hash round trip: %q", d.Headers)
	}
}

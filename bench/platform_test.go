package bench

import (
	"strings"
	"testing"
)

// The platform and many-channels targets are checked on full-size runs
// only, and each one says what was measured.
func TestPlatformChecks(t *testing.T) {
	full := Result{Scenario: "platform", Knobs: map[string]string{}, Expected: 10, Delivered: 10, CPUPerMillion: 1.2, RSSPeakMiB: 900,
		Platform: &PlatformResult{Channels: 100000,
			Changes: ProbeStats{Probes: 10, Observed: 10, RoutingP99: 60},
			Resync:  ResyncStats{FullLoads: 2, ResyncPerMinute: 0.01}}}
	scaled := full
	scaled.Scenario = "platform@20k"
	scaled.Platform = &PlatformResult{Channels: 85000, Scale: 0.85}
	mc := Result{Scenario: "many-channels", Knobs: map[string]string{"channels": "10000"}, Expected: 5, Delivered: 4, Lost: 1, CPUPerMillion: 1.5, RSSPeakMiB: 600}
	met := map[string]bool{}
	for _, c := range Checks([]Result{full, scaled, mc}) {
		if c.Scenario == "platform@20k" {
			t.Errorf("a scaled run was checked: %+v", c)
		}
		if c.Got == "" {
			t.Errorf("%q: nothing measured", c.Target)
		}
		met[c.Scenario+": "+c.Target] = c.Met
	}
	want := map[string]bool{
		"platform: platform: zero loss":                                                          true,
		"platform: platform: router CPU <= 1.5 core-s per million msgs":                          true,
		"platform: platform: RSS <= 1 GiB":                                                       true,
		"platform: platform: a token or drain change reaches routing in <= 50 ms p99 under load": false,
		"platform: platform: idle resync cost <= 0.05 core-s per minute":                         true,
		"many-channels: many-channels: zero loss":                                                false,
		"many-channels: many-channels: router CPU <= 2 core-s per million msgs":                  true,
		"many-channels: many-channels: RSS <= 512 MiB":                                           false,
	}
	for k, v := range want {
		got, ok := met[k]
		if !ok || got != v {
			t.Errorf("%s: met %v (checked %v), want %v", k, got, ok, v)
		}
	}
}

// --scale shrinks the layout and never gives more drains than channels.
func TestPlatformScaled(t *testing.T) {
	s, err := LookupScenario("platform", false)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Platform.scaled(&s, 0.1)
	if s.Channels != 10000 || p.HTTPDrains != 2000 || p.SyslogDrains != 200 || s.Platform.HTTPDrains != 20000 {
		t.Errorf("scaled: %d channels, %d+%d drains (scenario's own %d)", s.Channels, p.HTTPDrains, p.SyslogDrains, s.Platform.HTTPDrains)
	}
	s, _ = LookupScenario("platform", false)
	p = s.Platform.scaled(&s, 0.00001)
	if s.Channels != 1 || p.HTTPDrains+p.SyslogDrains > 1 {
		t.Errorf("tiny: %d channels, %d+%d drains", s.Channels, p.HTTPDrains, p.SyslogDrains)
	}
	if err := checkFileLimit(Platform{HTTPDrains: 1 << 30}, 8, false); err == nil || !strings.Contains(err.Error(), "--scale") {
		t.Errorf("a billion drains: %v", err)
	}
	if err := checkFileLimit(Platform{HTTPDrains: 1 << 20, HTTPSinks: 4}, 8, true); err != nil {
		t.Errorf("a million drains sharing HTTP/2 connections (~1 000): %v", err)
	}
}

// Without a full load in the idle window, the resync cost is what the
// router measured around its checks; with one, the window's figure.
func TestResyncPerMinute(t *testing.T) {
	for _, c := range []struct {
		rs   ResyncStats
		want float64
	}{
		{ResyncStats{Checks: 2, PerCheck: 0.003, ResyncPerMinute: 0.3}, 0.003},
		{ResyncStats{FullLoads: 1, Checks: 1, PerCheck: 0.003, ResyncPerMinute: 0.3}, 0.3},
		{ResyncStats{ResyncPerMinute: 0.3}, 0.3},
	} {
		if got, how := c.rs.perMinute(); got != c.want || how == "" {
			t.Errorf("%+v: %v (%q), want %v", c.rs, got, how, c.want)
		}
	}
}

// The one-core targets are checked on runs pinned to one CPU at the
// router's default settings only.
func TestOneCoreChecks(t *testing.T) {
	pinned := map[string]string{"router_cpus": "1", "router_settings": "default"}
	check := func(r Result) (met, checked bool) {
		t.Helper()
		cs := Checks([]Result{r})
		if len(cs) > 1 || (len(cs) == 1 && cs[0].Got == "") {
			t.Errorf("%s: checks %+v, want one that says what was measured", r.Scenario, cs)
		}
		return len(cs) == 1 && cs[0].Met, len(cs) == 1
	}
	for _, tc := range []struct {
		name string
		r    Result
		met  bool
	}{
		{"50k, 0.14 of the core, p99 45 ms, 21 per POST", Result{Scenario: "tcp-to-history@50k", Knobs: pinned, RouterCores: 0.14, P99Ms: 45, Delivered: 2100, DrainRequests: 100}, true},
		{"50k, 10.5 per POST", Result{Scenario: "tcp-to-history@50k", Knobs: pinned, RouterCores: 0.14, P99Ms: 45, Delivered: 2100, DrainRequests: 200}, false},
		{"50k, 0.16 of the core", Result{Scenario: "tcp-to-history@50k", Knobs: pinned, RouterCores: 0.16, P99Ms: 45, Delivered: 2100, DrainRequests: 100}, false},
		{"2.02 M msgs/s a core", Result{Scenario: "tcp-to-history", Knobs: pinned, InMsgsPerSec: 2e6, RouterCores: 0.99}, true},
		{"1.92 M msgs/s a core", Result{Scenario: "tcp-to-history", Knobs: pinned, InMsgsPerSec: 1.9e6, RouterCores: 0.99}, false},
		{"2.9 M msgs/s a core, a message dropped", Result{Scenario: "tcp-to-history", Knobs: pinned, InMsgsPerSec: 1.9e6, RouterCores: 0.65, RouterDropped: 1}, false},
	} {
		if met, checked := check(tc.r); !checked || met != tc.met {
			t.Errorf("%s: met %v (checked %v), want %v", tc.name, met, checked, tc.met)
		}
	}
	for _, knobs := range []map[string]string{{"router_cpus": "1"}, {"router_cpus": "0-1", "router_settings": "default"}, {}} {
		r := Result{Scenario: "tcp-to-history", Knobs: knobs, InMsgsPerSec: 2e6, RouterCores: 0.5}
		if _, checked := check(r); checked {
			t.Errorf("knobs %v: checked, want no check (not one core at the defaults)", knobs)
		}
	}
}

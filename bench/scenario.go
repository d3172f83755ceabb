package bench

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scenario is one end-to-end setup: what goes in, how the channels, drains
// and tails are laid out, and at what rate. Unless it says otherwise a
// scenario spreads 120-byte messages uniformly over 100 channels with one
// token and one HTTP drain each, history off, from 4 TCP connections at the
// highest rate the generator reaches.
type Scenario struct {
	Name string
	Desc string

	Input            string    // "tcp" (default) or "http"
	Drain            string    // "http" (default), "syslog" or "otlp"
	Channels         int       // default 100
	TokensPerChannel int       // default 1
	DrainsPerChannel int       // default 1
	Conns            int       // default 4 (tcp), 8 (http)
	Batch            int       // messages per write / request; 0: generator default
	Rate             float64   // msgs/s; 0: as fast as possible
	History          string    // "off" (default: --deny-redis-buffers), "embedded" or "redis"
	ConfigRedis      bool      // config on Redis too (the embedded store rewrites its file per API write)
	Compression      string    // HTTP drain compression: "" or "gzip"
	Tails            int       // tail sessions, on the first channels
	Spread           string    // "uniform" (default) or "zipf"
	Relay            bool      // the relay baseline instead of the router
	Idle             bool      // only start the router and measure it idle
	Platform         *Platform // the platform scenario's layout (platform.go)
	Sustained        bool      // search the highest lossless rate ("name@sustained")
	// Outage, when set, makes it a drain-outage scenario (outage.go): drain
	// 0's endpoint is down this long mid-run; Spill turns the disk spill on.
	Outage     time.Duration
	Spill      bool
	RouterArgs []string

	quick func(*Scenario) // shrinks it for --quick
}

// Scenarios are the built-in scenarios by name. A name may carry a rate
// suffix: "tcp-to-http-drain@50k" runs tcp-to-http-drain at 50 000 msgs/s;
// "@sustained" searches the highest rate without loss and reports a run at it.
var Scenarios = map[string]Scenario{
	"idle": {Desc: "logplex all started with no config and no traffic: idle RSS and CPU", Idle: true},
	"relay-baseline": {Desc: "no routing at all: a trivial TCP relay (64 KiB copy loop) between the generator and the TCP sink",
		Relay: true},
	// The throughput scenario names its drain buffers (8 192 messages, the
	// default since 5b96467: Logplex's 1 024 are 25 ms of a drain's 40 000
	// msgs/s, less than one scheduling hiccup) so that an A/B against an
	// older binary (--sweep bin=…) compares the same buffers.
	"tcp-to-http-drain": {Desc: "TCP octet-counted in, 100 channels x 1 HTTP drain (buffers of 8 192 messages), history off",
		RouterArgs: []string{"--http-drain-buffer-size=8192"}},
	"tcp-to-syslog-drain": {Desc: "TCP octet-counted in, 100 channels x 1 syslog (TCP) drain, history off",
		Drain: "syslog"},
	"tcp-to-history": {Desc: "TCP in, 100 channels x 1 HTTP drain, history on Redis (redis-server started by the suite)",
		History: "redis", ConfigRedis: true},
	"http-in": {Desc: "POST /logs (credential auth, 100 messages per request, 8 keep-alive connections), 100 channels x 1 HTTP drain",
		Input: "http"},
	"fanout-6-drains": {Desc: "TCP in, 100 channels x 6 HTTP drains (6 deliveries per message)", DrainsPerChannel: 6,
		quick: func(s *Scenario) { s.Rate = 20000 }},
	"many-channels": {Desc: "TCP in at 100 000 msgs/s, 100 000 tokens on 10 000 channels, each with an HTTP drain; Zipf(1.1) token spread; config on Redis",
		Channels: 10000, TokensPerChannel: 10, Spread: "zipf", ConfigRedis: true, Conns: 8, Rate: 100000,
		quick: func(s *Scenario) { s.Channels, s.Rate = 500, 20000 }},
	"many-connections": {Desc: "10 000 TCP senders, one message per write, 50 000 msgs/s in total, 100 channels x 1 HTTP drain",
		Conns: 10000, Batch: 1, Rate: 50000,
		quick: func(s *Scenario) { s.Conns, s.Rate = 1000, 10000 }},
	"with-tails": {Desc: "TCP in, 100 channels x 1 HTTP drain, plus 10 live tail sessions (GET /sessions/<id>, tail) on 10 channels",
		Tails: 10},
	"compressed-drain": {Desc: "TCP in, 100 channels x 1 HTTP drain with Content-Encoding: gzip", Compression: "gzip"},
	"otlp-drain": {Desc: "TCP in, 100 channels x 1 OTLP/HTTP drain (protobuf ExportLogsServiceRequest, gzip), history off",
		Drain: "otlp"},
	// The outage scenarios keep Logplex's 1 024-message drain buffers: 60 s
	// of drain 0's 100 msgs/s fit in the default 8 192, and they measure
	// what happens beyond the buffer (the spill, or the loss and its L10).
	"drain-outage": {Desc: "TCP in at 10 000 msgs/s, 100 channels x 1 HTTP drain (buffers of 1 024 messages), disk spill on: drain 0's endpoint is down for 60 s (--knob outage=…), then back",
		Rate: 10000, Outage: 60 * time.Second, Spill: true, RouterArgs: outageBuffers, quick: quickOutage},
	"drain-outage-nospill": {Desc: "drain-outage with the disk spill off: drain 0 loses what its buffer cannot hold, reported by L10",
		Rate: 10000, Outage: 60 * time.Second, RouterArgs: outageBuffers, quick: quickOutage},
}

// outageBuffers are the drain-outage scenarios' router flags.
var outageBuffers = []string{"--http-drain-buffer-size=1024"}

// quickOutage shrinks a drain-outage scenario: a 5 s outage, and drain
// buffers of 100 messages so that it still overflows them.
func quickOutage(s *Scenario) {
	s.Outage = 5 * time.Second
	s.RouterArgs = slices.Concat(s.RouterArgs, []string{"--http-drain-buffer-size=100"}) // not into outageBuffers
}

// DefaultScenarios is what `logplex bench` runs without --scenarios.
var DefaultScenarios = []string{
	"idle", "relay-baseline", "tcp-to-http-drain", "tcp-to-http-drain@sustained", "tcp-to-http-drain@50k",
	"tcp-to-syslog-drain@50k", "tcp-to-history@sustained", "tcp-to-history@1M", "http-in", "fanout-6-drains", "many-channels", "many-connections",
	"with-tails", "compressed-drain", "drain-outage", "drain-outage-nospill",
}

// QuickScenarios is the --quick set (CI smoke).
var QuickScenarios = []string{
	"idle", "relay-baseline@50k", "tcp-to-http-drain@50k", "tcp-to-syslog-drain@20k", "tcp-to-history@50k",
	"http-in@50k", "fanout-6-drains", "many-channels", "many-connections", "with-tails@20k", "compressed-drain@50k",
}

// LookupScenario resolves "name[@rate]" and fills the defaults.
func LookupScenario(spec string, quick bool) (Scenario, error) {
	name, rate, hasRate := strings.Cut(spec, "@")
	s, ok := Scenarios[name]
	if !ok {
		return s, fmt.Errorf("unknown scenario %q (have: %s)", name, strings.Join(ScenarioNames(), ", "))
	}
	s.Name = spec
	if quick && s.quick != nil {
		s.quick(&s)
	}
	if hasRate && rate == "sustained" {
		s.Sustained, s.Rate = true, 0
	} else if hasRate {
		r, err := ParseRate(rate)
		if err != nil {
			return s, fmt.Errorf("scenario %q: %w", spec, err)
		}
		s.Rate = r
	}
	s.setDefaults()
	return s, nil
}

func (s *Scenario) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if s.Input == "" {
		s.Input = "tcp"
	}
	if s.Drain == "" {
		s.Drain = "http"
	}
	if s.History == "" {
		s.History = "off"
	}
	if s.Spread == "" {
		s.Spread = "uniform"
	}
	def(&s.Channels, 100)
	def(&s.TokensPerChannel, 1)
	def(&s.DrainsPerChannel, 1)
	if s.Input == "http" {
		def(&s.Conns, 8)
	}
	def(&s.Conns, 4)
	if s.Relay {
		s.Channels, s.TokensPerChannel, s.DrainsPerChannel = 1, 100, 1
	}
}

// ScenarioNames lists the built-in scenarios.
func ScenarioNames() []string {
	var out []string
	for n := range Scenarios {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParseRate reads "50000", "50k", "1.5M".
func ParseRate(s string) (float64, error) {
	mul := 1.0
	switch {
	case strings.HasSuffix(s, "k") || strings.HasSuffix(s, "K"):
		mul, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "m") || strings.HasSuffix(s, "M"):
		mul, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: want a number of msgs/s such as 50000, 50k or 1M", s)
	}
	return v * mul, nil
}

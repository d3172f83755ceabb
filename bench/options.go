package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Options configure a suite run. Zero values mean the defaults given.
type Options struct {
	Bin       string        // the logplex binary: router (`all`) and relay (`bench relay`)
	Scenarios []string      // names, "name@rate" allowed; default DefaultScenarios (QuickScenarios with Quick)
	Duration  time.Duration // send window per scenario; default 5 s (1 s with Quick)
	Quick     bool          // CI smoke: smaller scenarios, shorter windows
	Settle    time.Duration // wait for deliveries after sending stops, at most; default 20 s
	// QuietWait is how long a scenario waits, before it starts, for the
	// machine to be quiet (other processes using under QuietCores);
	// default 60 s, negative: do not wait. A busy machine skews every figure.
	QuietWait  time.Duration
	QuietCores float64 // default 0.25

	// Overrides of every scenario (0 / "": the scenario's own).
	Rate   float64 // msgs/s for scenarios without "@rate"
	Conns  int
	Batch  int
	Size   int // message bytes (the octet count); default 120
	Spread string
	ZipfS  float64 // default 1.1
	// Scale multiplies the platform scenario's channels, tokens, drains
	// and rate (0 or 1: full size); a scaled run is not checked.
	Scale float64

	// Knobs are router settings, "name=value": GOMAXPROCS, GOGC, GOMEMLIMIT
	// and GODEBUG go to its environment, anything else becomes the router
	// flag --name=value (e.g. event-loops=2, http-drain-target-bytes=262144).
	Knobs []string
	// Sweep repeats every scenario once per value of one knob
	// ("http-drain-target-bytes=16384,65536,102400"); the knob may also be
	// a generator setting: batch, conns, size or rate.
	Sweep string

	Target Target // a running cluster instead of a router started per scenario

	SinkHost string // host drains are given for the sinks; default 127.0.0.1
	// SinkTLS makes the HTTP drain sinks speak TLS, offering h2 and
	// http/1.1 by ALPN, as a platform's receivers do (sinkTLSConfig).
	SinkTLS bool
	// RouterCPUs, a taskset CPU list ("1"), runs the router and the relay
	// on those CPUs and the suite on the others (cpus.go); "": anywhere.
	RouterCPUs string
	ProfileDir string // save a CPU profile of the router per scenario here
	WorkDir    string // router data, logs; default a temporary directory, removed
	Version    string // the binary's version (commit) for the report
	Command    string // the command line, for the report

	Progress io.Writer // progress lines; nil: none
}

// Target is a running logplex (cluster) to measure instead of starting one.
type Target struct {
	API    string // http://user:pass@host:port of the legacy API (credential with full_api, any_channel)
	Syslog string // host:port of TCP syslog input
	Logs   string // host:port of HTTP /logs input
	Admin  string // host:port of the admin listener (/metrics); "": no router counters
	PID    int    // router process id on this machine, for CPU and RSS; 0: not measured
}

func (o *Options) setDefaults() {
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
		if o.Quick {
			o.Duration = time.Second
		}
	}
	if o.Settle <= 0 {
		o.Settle = 20 * time.Second
	}
	if o.QuietWait == 0 {
		o.QuietWait = 60 * time.Second
	}
	if o.QuietCores <= 0 {
		o.QuietCores = 0.25
	}
	if o.Size <= 0 {
		o.Size = 120
	}
	if o.ZipfS <= 1 {
		o.ZipfS = 1.1
	}
	if o.SinkHost == "" {
		o.SinkHost = "127.0.0.1"
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = DefaultScenarios
		if o.Quick {
			o.Scenarios = QuickScenarios
		}
	}
}

// knobSet is the router's extra flags and environment for one run.
type knobSet struct {
	flags []string
	env   []string
	gen   map[string]string // generator settings from a sweep (batch, conns, size, rate)
}

var envKnobs = map[string]bool{"GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true, "GODEBUG": true}
var genKnobs = map[string]bool{"batch": true, "conns": true, "size": true, "rate": true, "outage": true}

// parseKnobs splits name=value knobs into flags, environment and generator settings.
func parseKnobs(knobs []string) (knobSet, error) {
	ks := knobSet{gen: map[string]string{}}
	for _, k := range knobs {
		name, val, ok := strings.Cut(k, "=")
		name = strings.TrimLeft(name, "-")
		if !ok || name == "" {
			return ks, fmt.Errorf("knob %q: want name=value", k)
		}
		switch {
		case envKnobs[strings.ToUpper(name)]:
			ks.env = append(ks.env, strings.ToUpper(name)+"="+val)
		case genKnobs[name]:
			ks.gen[name] = val
		default:
			ks.flags = append(ks.flags, "--"+name+"="+val)
		}
	}
	return ks, nil
}

// parseSweep reads "knob=v1,v2,…".
func parseSweep(s string) (name string, vals []string, err error) {
	if s == "" {
		return "", nil, nil
	}
	name, list, ok := strings.Cut(s, "=")
	if !ok || name == "" || list == "" {
		return "", nil, fmt.Errorf("--sweep %q: want knob=v1,v2,…", s)
	}
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			vals = append(vals, v)
		}
	}
	return strings.TrimLeft(name, "-"), vals, nil
}

// describeKnobs renders a run's knobs map for the report.
func describeKnobs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// the load first, then the router's environment, then its flags
	rank := func(k string) int {
		switch {
		case strings.HasPrefix(k, "router "):
			return 2
		case strings.HasPrefix(k, "env "):
			return 1
		}
		return 0
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + m[k])
	}
	return b.String()
}

package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// knobFlag is a shortcut flag for one router knob (--event-loops 2 is
// --knob event-loops=2).
type knobFlag struct {
	name  string
	knobs *listFlag
}

func (k knobFlag) String() string     { return "" }
func (k knobFlag) Set(v string) error { return k.knobs.Set(k.name + "=" + v) }

// benchKnobs are the router knobs with their own bench flag; any other
// router flag goes through --knob.
var benchKnobs = []struct{ flag, knob, help string }{
	{"event-loops", "event-loops", "router TCP ingest event loops"},
	{"read-buffer-cap", "read-buffer-cap", "router bytes read per TCP readable event"},
	{"http-drain-target-bytes", "http-drain-target-bytes", "router HTTP drain batch bytes"},
	{"http-drain-buffer-size", "http-drain-buffer-size", "router messages buffered per HTTP drain"},
	{"tcp-drain-target-bytes", "tcp-drain-target-bytes", "router syslog drain bytes per write"},
	{"tcp-drain-buffer-size", "tcp-drain-buffer-size", "router messages buffered per syslog drain"},
	{"redis-buffer-length", "redis-buffer-length", "router history queue per shard, in batches"},
	{"http-drain-batch-age", "http-drain-batch-age", "router minimum spacing of an HTTP drain's requests (e.g. 2ms)"},
	{"tcp-drain-batch-age", "tcp-drain-batch-age", "router minimum spacing of a syslog drain's writes"},
	{"http-drain-batch-window", "http-drain-batch-window", "router batch window of an idle HTTP drain (0: send at once)"},
	{"tcp-drain-batch-window", "tcp-drain-batch-window", "router batch window of an idle syslog drain (0: write at once)"},
	{"history-batch-bytes", "history-batch-bytes", "router Redis history pipeline bytes"},
	{"history-batch-age", "history-batch-age", "router Redis history batch age"},
	{"history-writers", "history-writers", "router Redis history writers (pipelines in flight) per shard"},
	{"gomaxprocs", "GOMAXPROCS", "router GOMAXPROCS"},
	{"gogc", "GOGC", "router GOGC"},
	{"gomemlimit", "GOMEMLIMIT", "router GOMEMLIMIT (e.g. 200MiB)"},
}

// Main is `logplex bench`: it parses the bench command's flags (args
// without the command name), runs the suite and writes the report; version
// is the binary's, for the report. The result is the process exit code: 0
// when every scenario ran (and, with --fail-on-miss, every target was met),
// 1 on a failed scenario, a missed target or an output error, 2 on bad flags.
func Main(args []string, stdout, stderr io.Writer, version string) int {
	if len(args) > 0 && args[0] == "relay" {
		return relayMain(args[1:], stdout, stderr)
	}
	var (
		o         Options
		scns      string
		knobs     listFlag
		jsonOut   bool
		jsonFile  string
		plotFile  string
		list      bool
		quiet     bool
		rate      string
		failMiss  bool
		selfProf  string
		target    Target
		bin, self string
	)
	self, _ = os.Executable()
	fs := flag.NewFlagSet("logplex bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&scns, "scenarios", "", "comma-separated scenarios, each optionally name@rate (e.g. tcp-to-http-drain@50k); default: all (see --list)")
	fs.BoolVar(&list, "list", false, "list the scenarios and exit")
	fs.BoolVar(&o.Quick, "quick", false, "CI smoke: a smaller set, smaller scenarios, 1 s windows")
	fs.DurationVar(&o.Duration, "duration", 0, "send window per scenario (default 5s; 1s with --quick)")
	fs.DurationVar(&o.Settle, "settle", 0, "longest wait for deliveries after sending stops (default 20s)")
	fs.DurationVar(&o.QuietWait, "quiet-wait", 60*time.Second, "before each scenario, wait up to this long for other processes to use under --quiet-cores (0: do not wait)")
	fs.Float64Var(&o.QuietCores, "quiet-cores", 0.25, "CPU cores other processes may use for the machine to count as quiet")
	fs.StringVar(&rate, "rate", "", "msgs/s for scenarios without @rate (50000, 50k, 1M); default: each scenario's own (most: as fast as possible)")
	fs.IntVar(&o.Conns, "conns", 0, "sending connections (default: the scenario's; 4 TCP, 8 HTTP)")
	fs.IntVar(&o.Batch, "batch", 0, "messages per write / per POST (default 64 TCP, 100 HTTP)")
	fs.IntVar(&o.Size, "size", 120, "message size in bytes (the octet count)")
	fs.StringVar(&o.Spread, "spread", "", "token spread: uniform or zipf (default: the scenario's)")
	fs.Float64Var(&o.ZipfS, "zipf-s", 1.1, "Zipf exponent (> 1)")
	fs.Float64Var(&o.Scale, "scale", 1, "multiply the platform scenario's channels, tokens, drains and rate (e.g. 0.1 on a small machine)")
	fs.Var(&knobs, "knob", "router knob name=value, repeatable: GOMAXPROCS, GOGC, GOMEMLIMIT, GODEBUG go to its environment, anything else is passed as --name=value")
	for _, k := range benchKnobs {
		fs.Var(knobFlag{k.knob, &knobs}, k.flag, k.help+" (same as --knob "+k.knob+"=V)")
	}
	fs.StringVar(&o.Sweep, "sweep", "", "repeat every scenario per value of one knob: name=v1,v2,… (router flag, env knob, batch/conns/size/rate, or bin: router binaries, for an A/B of two builds in one invocation)")
	fs.BoolVar(&jsonOut, "json", false, "write the report as JSON to stdout (the table goes to stderr)")
	fs.StringVar(&jsonFile, "json-file", "", "also write the JSON report to this file")
	fs.StringVar(&plotFile, "plot", "", "write an SVG plot here: delivered msgs/s, CPU per million, p99, RSS and losses per scenario (with --sweep: against the knob)")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "save a CPU profile of the router (/debug/pprof/profile) per scenario in this directory")
	fs.StringVar(&target.API, "target", "", "measure a running logplex: legacy API URL with a full_api+any_channel credential, http://ID:PASS@host:port")
	fs.StringVar(&target.Syslog, "target-syslog", "", "with --target: TCP syslog input host:port")
	fs.StringVar(&target.Logs, "target-logs", "", "with --target: HTTP /logs input host:port")
	fs.StringVar(&target.Admin, "target-admin", "", "with --target: admin host:port (/metrics, /debug/pprof)")
	fs.IntVar(&target.PID, "target-pid", 0, "with --target: the router's pid on this machine (CPU and RSS from /proc)")
	fs.StringVar(&o.SinkHost, "sink-host", "127.0.0.1", "address the drain sinks listen on and drains point at")
	fs.BoolVar(&o.SinkTLS, "sink-tls", false, "HTTP drain sinks speak TLS, offering h2 and http/1.1 by ALPN (drain URLs https://…#insecure: a self-signed certificate, not verified)")
	fs.StringVar(&o.RouterCPUs, "router-cpus", "", "run the router (and the relay) on these CPUs (taskset list, e.g. 1) and the suite on the others")
	fs.StringVar(&o.WorkDir, "work-dir", "", "keep router data and logs here (default: a temporary directory, removed)")
	fs.StringVar(&bin, "bin", self, "logplex binary to start as the router and the relay")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	fs.BoolVar(&failMiss, "fail-on-miss", false, "exit 1 when a performance target (bench.Checks: CPU per million, lossless rate, p99) is missed")
	fs.StringVar(&selfProf, "suite-profile", "", "write a CPU profile of the suite itself (generator, sinks) to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: logplex bench [flags]\n       logplex bench relay --listen ADDR --to ADDR\n\nRuns the end-to-end scenarios against the real binary on loopback and reports msgs/s,\nMB/s, router CPU per million messages, latency percentiles, RSS and losses. See docs/tuning.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.QuietWait == 0 {
		o.QuietWait = -1 // Options: negative is "do not wait", zero the default
	}
	if list {
		for _, n := range ScenarioNames() {
			fmt.Fprintf(stdout, "%-22s %s\n", n, Scenarios[n].Desc)
		}
		fmt.Fprintf(stdout, "\ndefault: %s\nquick:   %s\n", strings.Join(DefaultScenarios, ","), strings.Join(QuickScenarios, ","))
		return 0
	}
	if rate != "" {
		r, err := ParseRate(rate)
		if err != nil {
			fmt.Fprintln(stderr, "logplex bench:", err)
			return 2
		}
		o.Rate = r
	}
	if target.API != "" && (target.Syslog == "" || target.Logs == "") {
		fmt.Fprintln(stderr, "logplex bench: --target needs --target-syslog and --target-logs")
		return 2
	}
	if scns != "" {
		o.Scenarios = strings.Split(scns, ",")
	}
	o.Bin, o.Knobs, o.Target, o.Version = bin, knobs, target, version
	o.Command = "logplex bench " + strings.Join(args, " ")
	if !quiet {
		o.Progress = stderr
	}
	if selfProf != "" {
		f, err := os.Create(selfProf)
		if err != nil {
			fmt.Fprintln(stderr, "logplex bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "logplex bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, o)
	if err != nil && rep == nil {
		fmt.Fprintln(stderr, "logplex bench:", err)
		return 2
	}
	tableOut := stdout
	if jsonOut {
		tableOut = stderr
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintln(stderr, "logplex bench:", err)
			return 1
		}
	}
	if err := rep.WriteTable(tableOut); err != nil {
		fmt.Fprintln(stderr, "logplex bench:", err)
		return 1
	}
	if code := writeFiles(rep, jsonFile, plotFile, stderr); code != 0 {
		return code
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			return 1
		}
	}
	if failMiss {
		for _, c := range rep.Checks {
			if !c.Met {
				return 1
			}
		}
	}
	return 0
}

// writeFiles writes the JSON report and the plot where asked.
func writeFiles(rep *Report, jsonFile, plotFile string, stderr io.Writer) int {
	write := func(path string, fn func(io.Writer) error) int {
		f, err := os.Create(path)
		if err == nil {
			err = fn(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "logplex bench:", err)
			return 1
		}
		return 0
	}
	if jsonFile != "" {
		if c := write(jsonFile, rep.WriteJSON); c != 0 {
			return c
		}
	}
	if plotFile != "" {
		return write(plotFile, rep.Plot().WriteSVG)
	}
	return 0
}

// relayMain is `logplex bench relay`: the baseline relay in its own process.
func relayMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logplex bench relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	to := fs.String("to", "", "destination host:port")
	if err := fs.Parse(args); err != nil || *to == "" {
		fmt.Fprintln(stderr, "usage: logplex bench relay --listen ADDR --to ADDR")
		return 2
	}
	r, err := ListenRelay(*listen, *to)
	if err != nil {
		fmt.Fprintln(stderr, "logplex bench relay:", err)
		return 1
	}
	fmt.Fprintln(stdout, "relay listening on "+r.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := r.Serve(ctx); err != nil {
		fmt.Fprintln(stderr, "logplex bench relay:", err)
		return 1
	}
	return 0
}

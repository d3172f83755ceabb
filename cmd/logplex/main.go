// Command logplex is the log router: `logplex` (or `logplex all`) runs both
// planes in one process; `dataplane` and `controlplane` run one plane each on
// Redis; `cred` manages API credentials; `tail` streams a channel's logs.
// main only parses flags into Options, builds the planes and waits for a
// signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "all", "dataplane", "controlplane":
		return serve(cmd, args, stdout, stderr)
	case "cred":
		return runCred(args, stdout, stderr)
	case "tail":
		return runTail(args, stdout, stderr)
	case "shards":
		return runShards(args, stdout, stderr)
	case "config":
		return runConfig(args, stdout, stderr)
	case "bench":
		return runBench(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "logplex", version)
		return 0
	case "help":
		var s settings
		usage(newFlagSet("logplex", &s), stdout)
		return 0
	}
	fmt.Fprintf(stderr, "logplex: unknown command %q (try: logplex help)\n", cmd)
	return 2
}

func serve(role string, args []string, stdout, stderr io.Writer) int {
	var s settings
	fs := newFlagSet("logplex "+role, &s)
	fs.SetOutput(stderr)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "logplex:", err)
		return 2
	}
	adminDefault(role, fs, &s)
	log, err := newLogger(s.logLevel, s.logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "logplex:", err)
		return 2
	}
	slog.SetDefault(log)
	warnSecretFlags(fs, log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := start(ctx, role, &s, stdout, log); err != nil {
		fmt.Fprintln(stderr, "logplex:", err)
		return 1
	}
	return 0
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// adminDefault gives a control plane its own admin port (127.0.0.1:5566,
// docs/architecture.md "Processes and ports") unless one was chosen, so a data plane and a control
// plane can share a host.
func adminDefault(role string, fs *flag.FlagSet, s *settings) {
	if role != "controlplane" {
		return
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "admin-addr" })
	if _, env := os.LookupEnv(envName("admin-addr")); !set && !env {
		s.adminAddr = "127.0.0.1:5566"
	}
}

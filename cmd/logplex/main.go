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
	case "check":
		return runCheck(args, stdout, stderr)
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
	if code, ok := parseServeFlags(fs, &s, role, args, stderr); !ok {
		return code
	}
	log, level, err := newLogger(s.logLevel, s.logFormat, stderr)
	if err == nil && s.logLevelFile != "" {
		err = readLevelFile(level, s.logLevelFile)
	}
	if err != nil {
		fmt.Fprintln(stderr, "logplex:", err)
		return 2
	}
	slog.SetDefault(log)
	warnSecretFlags(fs, log)
	for _, w := range unknownEnv(fs, os.Environ()) {
		log.Warn(w)
	}
	hup := newReloader(log, level, s.logLevelFile) // before anything starts: SIGHUP never kills a role
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go hup.run(ctx)
	if err := start(ctx, role, &s, stdout, log, hup); err != nil {
		if s.logFormat == "json" { // the log stream stays JSON to its last line
			log.Error("logplex stopped", "err", err)
		} else {
			fmt.Fprintln(stderr, "logplex:", err)
		}
		return 1
	}
	return 0
}

// parseServeFlags parses and validates a role's flags and environment; on
// a problem it prints every one (naming the flag, its variable and what it
// accepts) and returns the exit status with ok false.
func parseServeFlags(fs *flag.FlagSet, s *settings, role string, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		fmt.Fprintln(stderr, "logplex:", err)
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "logplex %s: unexpected argument %q (flags start with --; try: logplex %s --help)\n", role, fs.Arg(0), role)
		return 2, false
	}
	adminDefault(role, fs, s)
	if errs := validate(fs, s); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, "logplex:", e)
		}
		fmt.Fprintf(stderr, "logplex: %d invalid setting(s); nothing started\n", len(errs))
		return 2, false
	}
	return 0, true
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

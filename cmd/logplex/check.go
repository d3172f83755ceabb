package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store/redisstore"
)

// checkTimeout bounds each Redis check of `logplex check`.
const checkTimeout = 5 * time.Second

// runCheck implements `logplex check [ROLE] [flags]`: it validates the
// role's settings as the role would, reaches its Redis (config and every
// history shard), tries to bind its ports and reads its files, prints one
// line per check, every problem included, and exits 1 when there is any
// problem, 2 on a usage error, 0 otherwise. It starts nothing.
func runCheck(args []string, stdout, stderr io.Writer) int {
	role := "all"
	if len(args) > 0 && (args[0] == "all" || args[0] == "dataplane" || args[0] == "controlplane") {
		role, args = args[0], args[1:]
	}
	var s settings
	fs := newFlagSet("logplex check", &s)
	fs.SetOutput(stderr)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "logplex check:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "logplex check: unknown role %q (want all, dataplane or controlplane)\n", fs.Arg(0))
		return 2
	}
	adminDefault(role, fs, &s)
	c := checker{w: stdout}
	for _, e := range validate(fs, &s) {
		c.problem("settings", e)
	}
	if c.problems == 0 {
		c.ok("settings", "every flag and LOGPLEX_* variable is valid")
	}
	for _, w := range unknownEnv(fs, os.Environ()) {
		fmt.Fprintf(stdout, "warning  environment  %s\n", w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*checkTimeout)
	defer cancel()
	c.stores(ctx, role, &s)
	for _, a := range listenAddrs(role, &s) {
		c.result("port", fmt.Sprintf("--%s %s can be bound", a.flag, a.addr), portFree(a))
	}
	c.files(&s)
	if c.problems > 0 {
		fmt.Fprintf(stdout, "%d problem(s): logplex %s would not start as configured\n", c.problems, role)
		return 1
	}
	fmt.Fprintf(stdout, "no problems: logplex %s can start\n", role)
	return 0
}

type checker struct {
	w        io.Writer
	problems int
}

func (c *checker) ok(what, msg string) { fmt.Fprintf(c.w, "ok       %-11s  %s\n", what, msg) }

func (c *checker) problem(what string, err error) {
	c.problems++
	fmt.Fprintf(c.w, "PROBLEM  %-11s  %v\n", what, err)
}

func (c *checker) result(what, okMsg string, err error) {
	if err != nil {
		c.problem(what, err)
	} else {
		c.ok(what, okMsg)
	}
}

// stores checks the config Redis (reachable, config loadable) and each
// history shard (reachable), or the embedded store's data directory.
func (c *checker) stores(ctx context.Context, role string, s *settings) {
	if s.configRedisURL == "" {
		if role != "all" {
			c.problem("redis", fmt.Errorf("logplex %s needs Redis: set --config-redis-url or LOGPLEX_CONFIG_REDIS_URL", role))
			return
		}
		c.result("data-dir", "--data-dir "+s.dataDir+" is usable for the embedded store", dataDirUsable(s.dataDir))
		return
	}
	if !redisURLOK(s.configRedisURL) {
		return // already a settings problem
	}
	c.result("redis", "config Redis "+config.RedactURL(s.configRedisURL)+" answers and its config loads",
		checkRedis(ctx, s.configRedisURL, s.redisCluster, true))
	if role == "controlplane" {
		return
	}
	for _, u := range config.SplitList(s.shardURLs) {
		if redisURLOK(u) {
			c.result("redis", "history shard "+config.RedactURL(u)+" answers", checkRedis(ctx, u, s.redisCluster, false))
		}
	}
}

func checkRedis(ctx context.Context, url string, cluster, load bool) error {
	st, err := redisstore.OpenConfig(ctx, redisstore.ConfigOptions{URL: url, Cluster: cluster, Timeout: checkTimeout})
	if err != nil {
		return fmt.Errorf("redis %s: %w", config.RedactURL(url), err)
	}
	defer st.Close()
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if err := st.Ping(cctx); err != nil {
		return fmt.Errorf("redis %s unreachable: %w", config.RedactURL(url), err)
	}
	if load {
		if _, err := st.Load(cctx); err != nil {
			return fmt.Errorf("redis %s: config does not load: %w", config.RedactURL(url), err)
		}
	}
	return nil
}

// dataDirUsable: the directory (or, when it does not exist yet, its
// nearest existing parent) is a directory logplex can write, and the
// store's files there (config.json, config.log) are readable.
func dataDirUsable(dir string) error {
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("--data-dir %s: %s is not a directory", dir, d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--data-dir %s: %w", dir, err)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("--data-dir %s: no existing parent directory", dir)
		}
		d = parent
	}
	f, err := os.CreateTemp(d, ".logplex-check-*")
	if err != nil {
		return fmt.Errorf("--data-dir %s: not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	if d == dir {
		for _, name := range []string{"config.json", "config.log"} {
			if f, err := os.Open(filepath.Join(dir, name)); err == nil {
				f.Close()
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("--data-dir %s: %s: %w", dir, name, err)
			}
		}
	}
	return nil
}

// files checks the files the settings name: the syslog TLS listener's
// certificate and key (a pair that loads), the drains' CA bundle, the log
// level file.
func (c *checker) files(s *settings) {
	if s.syslogTLSCert != "" && s.syslogTLSKey != "" {
		_, err := tls.LoadX509KeyPair(s.syslogTLSCert, s.syslogTLSKey)
		if err != nil {
			err = fmt.Errorf("--syslog-tls-cert/--syslog-tls-key: %w", err)
		}
		c.result("file", "--syslog-tls-cert and --syslog-tls-key load as a pair", err)
	}
	if s.tlsCACertFile != "" {
		c.result("file", "--tls-cacertfile "+s.tlsCACertFile+" holds PEM certificates", caBundle(s.tlsCACertFile))
	}
	if s.logLevelFile != "" {
		lv := new(slog.LevelVar)
		c.result("file", "--log-level-file "+s.logLevelFile+" holds a log level", readLevelFile(lv, s.logLevelFile))
	}
}

func caBundle(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--tls-cacertfile: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("--tls-cacertfile %s: no PEM certificate in it", path)
	}
	return nil
}

// namedAddr is a listen address and the flag that set it.
type namedAddr struct{ flag, addr string }

// listenAddrs are the addresses role listens on (port 0 and empty ones
// left out: they cannot clash).
func listenAddrs(role string, s *settings) []namedAddr {
	var all []namedAddr
	if role != "controlplane" {
		all = append(all, namedAddr{"syslog-addr", s.syslogAddr}, namedAddr{"http-input-addr", s.httpInputAddr},
			namedAddr{"syslog-tls-addr", s.syslogTLSAddr})
	}
	if role != "dataplane" {
		all = append(all, namedAddr{"api-addr", s.apiAddr}, namedAddr{"api-v3-addr", s.apiV3Addr})
	}
	all = append(all, namedAddr{"admin-addr", s.adminAddr})
	var out []namedAddr
	for _, a := range all {
		if _, port, err := net.SplitHostPort(a.addr); err == nil && port != "0" {
			out = append(out, a)
		}
	}
	return out
}

// portFree binds a's address for a moment: an address in use is named as
// such (the syslog engine alone would say "setsockopt: bad file descriptor").
func portFree(a namedAddr) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("--%s %s: address already in use (another process listens there: stop it or choose another address)", a.flag, a.addr)
		}
		return fmt.Errorf("--%s %s: %w", a.flag, a.addr, err)
	}
	return ln.Close()
}

// portsFree is portFree over every address, all problems joined.
func portsFree(addrs []namedAddr) error {
	var errs []error
	for _, a := range addrs {
		errs = append(errs, portFree(a))
	}
	return errors.Join(errs...)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore"
)

// guardFlag is --config-shrink-guard: "N%" (or N), the share of the config
// a full reload may lose at once before it is refused; "100%" turns the
// shrink check off (the epoch check stays); "off" turns the whole guard
// off (store.Guard).
type guardFlag struct{ g store.Guard }

func (f *guardFlag) String() string {
	switch {
	case f == nil:
		return ""
	case f.g.Off:
		return "off"
	case f.g.Shrink == 0:
		return "50%"
	}
	return strconv.FormatFloat(f.g.Shrink*100, 'f', -1, 64) + "%"
}

func (f *guardFlag) Set(v string) error {
	if v == "off" {
		f.g = store.Guard{Off: true}
		return nil
	}
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), "%"), 64)
	if err != nil || n <= 0 || n > 100 {
		return fmt.Errorf("want a percentage above 0 and up to 100 (e.g. 50%%), or off")
	}
	f.g = store.Guard{Shrink: n / 100}
	return nil
}

func (f *guardFlag) guard() store.Guard { return f.g }

const configUsage = `usage:
  logplex config accept [--config-redis-url URL] [--redis-cluster]
      adopt the config store as it is now on every node that refuses it
      (a config Redis that came back empty, changed epoch, or shrank past
      --config-shrink-guard); the data planes pick it up within a second
  logplex config status [--config-redis-url URL] [--redis-cluster]
      print the config store's epoch, latest acceptance and size
Both read LOGPLEX_CONFIG_REDIS_URL and LOGPLEX_REDIS_CLUSTER like the servers.
`

// runConfig implements `logplex config accept|status` and returns the exit
// status (0 ok, 1 failure, 2 usage).
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "accept" && args[0] != "status") {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	var s settings
	fs := flag.NewFlagSet("logplex config "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.configRedisURL, "config-redis-url", "", "config Redis URL")
	fs.BoolVar(&s.redisCluster, "redis-cluster", false, "treat the URL as a Redis Cluster")
	if err := parseWithEnv(fs, args[1:]); err != nil {
		return 2
	}
	if s.configRedisURL == "" {
		fmt.Fprintln(stderr, "logplex config: set --config-redis-url or LOGPLEX_CONFIG_REDIS_URL "+
			"(the embedded store of `logplex all` has no guard to accept)")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := redisstore.OpenConfig(ctx, redisstore.ConfigOptions{URL: s.configRedisURL, Cluster: s.redisCluster})
	if err != nil {
		fmt.Fprintln(stderr, "logplex config:", err)
		return 1
	}
	defer cfg.Close()
	if args[0] == "accept" {
		err = configAccept(ctx, cfg, stdout)
	} else {
		err = configStatus(ctx, cfg, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "logplex config:", err)
		return 1
	}
	return 0
}

func configAccept(ctx context.Context, cfg *redisstore.Config, stdout io.Writer) error {
	snap, err := cfg.Load(ctx)
	if err != nil {
		return err
	}
	ep, err := cfg.Accept(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "accepted the config of epoch %s (%d entities: %d channels, %d tokens, %d drains) at %s\n",
		ep.ID, store.Entities(snap), snap.NumChannels(), snap.NumTokens(), snap.NumDrains(), strings.TrimPrefix(ep.Accepted, ep.ID+" "))
	return nil
}

func configStatus(ctx context.Context, cfg *redisstore.Config, stdout io.Writer) error {
	snap, err := cfg.Load(ctx)
	if err != nil {
		return err
	}
	ep, err := cfg.Epoch(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "epoch:    %s\naccepted: %s\nentities: %d (%d channels, %d tokens, %d drains)\nfeed:     %s\n",
		orNone(ep.ID), orNone(ep.Accepted), store.Entities(snap), snap.NumChannels(), snap.NumTokens(), snap.NumDrains(), snap.Version)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

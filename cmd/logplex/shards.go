package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store/redisstore"
)

const shardsUsage = `usage:
  logplex shards plan    --from URLS --to URLS
  logplex shards migrate --from URLS --to URLS [--log-history N] [--redis-buffer-expiry S] [--delete-source]

URLS is a comma-separated shard list as LOGPLEX_SHARD_URLS (--from defaults
to it). plan counts the channels whose history moves; migrate merges each
one's old list into its new shard (docs/operations.md, "Changing history
shards").
`

// runShards implements `logplex shards plan|migrate` and returns the exit
// status (0 ok, 1 failure, 2 usage).
func runShards(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "migrate") {
		fmt.Fprint(stderr, shardsUsage)
		return 2
	}
	fs := flag.NewFlagSet("logplex shards "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, shardsUsage); fs.PrintDefaults() }
	from := fs.String("from", os.Getenv("LOGPLEX_SHARD_URLS"), "old shard list (env LOGPLEX_SHARD_URLS)")
	to := fs.String("to", "", "new shard list (required)")
	hist, _ := strconv.Atoi(envOr("LOGPLEX_LOG_HISTORY", "1500"))
	logHistory := fs.Int("log-history", hist, "entries a merged list keeps, as the router's (env LOGPLEX_LOG_HISTORY)")
	expiry := fs.Int("redis-buffer-expiry", 0, "seconds of TTL given to merged lists; 0 keeps the larger of the old and new list's TTL")
	deleteSource := fs.Bool("delete-source", false, "delete each old list once merged, if it did not change meanwhile (run only when no node writes the old shards)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on dials and each Redis command")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fromURLs, toURLs := config.SplitList(*from), config.SplitList(*to)
	if len(fromURLs) == 0 || len(toURLs) == 0 || fs.NArg() > 0 || *logHistory <= 0 || *expiry < 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if args[0] == "plan" {
		p, err := redisstore.PlanShards(ctx, fromURLs, toURLs, *timeout)
		if err != nil {
			fmt.Fprintln(stderr, "logplex shards plan:", err)
			return 1
		}
		moved := 0
		for _, m := range p.Moves {
			fmt.Fprintf(stdout, "%s -> %s: %d channels\n", m.From, m.To, m.Channels)
			moved += m.Channels
		}
		fmt.Fprintf(stdout, "moving %d channels, unchanged %d, stray %d\n", moved, p.Unchanged, p.Stray)
		return 0
	}
	c, err := redisstore.MigrateShards(ctx, redisstore.MigrateOptions{From: fromURLs, To: toURLs,
		History: *logHistory, Expiry: time.Duration(*expiry) * time.Second, DeleteSource: *deleteSource, Timeout: *timeout})
	fmt.Fprintf(stdout, "channels moved %d (written %d), entries copied %d, already there %d, trimmed %d",
		c.Channels, c.Merged, c.Copied, c.Present, c.Trimmed)
	if *deleteSource {
		fmt.Fprintf(stdout, ", old lists deleted %d, kept (changed meanwhile) %d", c.Deleted, c.Kept)
	}
	fmt.Fprintln(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "logplex shards migrate:", err)
		return 1
	}
	return 0
}

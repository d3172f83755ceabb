package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/auth"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
	"github.com/logplex/logplex/store/redisstore"
)

// openStoreForCred opens the config store `logplex cred` works on: the
// config Redis when LOGPLEX_CONFIG_REDIS_URL is set (as for the servers),
// else the embedded store under --data-dir, which is created only when
// create is true (a mistyped --data-dir given to list or revoke is
// refused, not turned into an empty store). Tests replace it.
var openStoreForCred = func(dataDir string, create bool) (store.ConfigStore, error) {
	if url := os.Getenv("LOGPLEX_CONFIG_REDIS_URL"); url != "" {
		return redisstore.OpenConfig(context.Background(), redisstore.ConfigOptions{URL: url,
			Cluster: os.Getenv("LOGPLEX_REDIS_CLUSTER") == "true"})
	}
	if !create && !embeddedStoreIn(dataDir) {
		return nil, fmt.Errorf("no embedded store in --data-dir %s (no config.json or config.log there): give the data directory of `logplex all`, or set LOGPLEX_CONFIG_REDIS_URL", dataDir)
	}
	return embedded.OpenConfig(dataDir)
}

const credUsage = `usage:
  logplex cred create --name NAME [--grant full_api,any_channel] [--data-dir DIR]
  logplex cred list   [--data-dir DIR]
  logplex cred revoke [--data-dir DIR] ID
`

// runCred implements `logplex cred create|list|revoke` and returns the exit
// status (0 ok, 1 failure, 2 usage).
func runCred(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, credUsage)
		return 2
	}
	fs := flag.NewFlagSet("logplex cred "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./data", "data directory of the embedded store")
	name := fs.String("name", "", "credential name (create)")
	grants := fs.String("grant", auth.GrantFullAPI, "comma-separated grants: full_api, any_channel (create)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	cmd := credCmd{stdout: stdout, dataDir: *dataDir}
	switch args[0] {
	case "create":
		if strings.TrimSpace(*name) == "" {
			fmt.Fprint(stderr, "logplex cred create: --name is required (it says whose credential this is in cred list)\n"+credUsage)
			return 2
		}
		err = cmd.create(*name, config.SplitList(*grants))
	case "list":
		err = cmd.list()
	case "revoke":
		if len(pos) != 1 {
			fmt.Fprint(stderr, credUsage)
			return 2
		}
		err = cmd.revoke(pos[0])
	default:
		fmt.Fprint(stderr, credUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "logplex cred:", err)
		return 1
	}
	return 0
}

// parseInterspersed parses flags placed before or after positional
// arguments (`revoke ID --data-dir D` as well as `revoke --data-dir D ID`)
// and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type credCmd struct {
	stdout  io.Writer
	dataDir string
}

// withStore opens the store, runs fn with a bounded context and closes it.
func (c credCmd) withStore(fn func(ctx context.Context, st store.ConfigStore) error) error {
	return c.open(true, fn)
}

// withExistingStore is withStore for commands that only read or remove:
// on the embedded store it refuses a --data-dir that holds no store
// (a mistyped directory) instead of creating an empty one there.
func (c credCmd) withExistingStore(fn func(ctx context.Context, st store.ConfigStore) error) error {
	return c.open(false, fn)
}

func (c credCmd) open(create bool, fn func(ctx context.Context, st store.ConfigStore) error) error {
	st, err := openStoreForCred(c.dataDir, create)
	if err != nil {
		return fmt.Errorf("open config store: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(fn(ctx, st), st.Close())
}

func (c credCmd) create(name string, grants []string) error {
	cred, pass, err := auth.NewCred(name, grants)
	if err != nil {
		return err
	}
	return c.withStore(func(ctx context.Context, st store.ConfigStore) error {
		if _, err := auth.Store(ctx, st, cred); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "id: %s\npassword: %s\nname: %s\ngrants: %s\n# the password is shown only once; use it as Authorization: Basic base64(id:password)\n",
			cred.ID, pass, cred.Name, strings.Join(auth.Grants(cred), ","))
		return nil
	})
}

func (c credCmd) list() error {
	return c.withExistingStore(func(ctx context.Context, st store.ConfigStore) error {
		snap, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tGRANTS")
		for _, cr := range auth.List(snap) {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cr.ID, cr.Name, strings.Join(auth.Grants(cr), ","))
		}
		return tw.Flush()
	})
}

func (c credCmd) revoke(id string) error {
	return c.withExistingStore(func(ctx context.Context, st store.ConfigStore) error {
		snap, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		if _, err := auth.Revoke(ctx, st, snap, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "revoked %s\n", id)
		return nil
	})
}

// embeddedStoreIn reports whether dir holds an embedded store (its
// snapshot or its write log).
func embeddedStoreIn(dir string) bool {
	for _, f := range []string{"config.json", "config.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/dataplane"
	"github.com/logplex/logplex/store"
)

// bootstrapCredential makes sure `logplex all` without LOGPLEX_AUTH_KEY has
// one credential (full_api, any_channel) an operator can use: it is
// created once and its id:password kept in <data-dir>/bootstrap-credential
// (mode 0600). created says whether this start made it: only then does the
// banner print the password (later starts name the file instead, so the
// password does not land in every start's log, e.g. journald).
//
// The file's credential is looked up in the watcher's first snapshot (a
// load of its own would read a platform's whole config a second time while
// the node starts). A config store that does not answer yet is waited for,
// with backoff, until ctx ends: the node serves 503 SYSTEM BOOTING
// meanwhile, as it does until its config loads.
func bootstrapCredential(ctx context.Context, st store.ConfigStore, w *store.Watcher, dataDir string, log *slog.Logger) (id, pass string, created bool, err error) {
	path := filepath.Join(dataDir, "bootstrap-credential")
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", "", false, err
	}
	if id, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":"); ok {
		if err := w.WaitVersion(ctx, ""); err != nil { // the first snapshot
			return "", "", false, err
		}
		if w.Current().Cred(id).Verify(pass) {
			return id, pass, false, nil
		}
	}
	cred, pass := config.NewCredential("bootstrap", true, true)
	change := config.Change{Key: config.CredKey(cred.ID), Fields: config.CredHash(cred)}
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		_, err := st.Write(ctx, change)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", "", false, ctx.Err()
		}
		log.Warn("bootstrap credential not created yet: the config store does not answer; retrying", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return "", "", false, ctx.Err()
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", false, err
	}
	// a new file renamed over the old: a crash never leaves half of one
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cred.ID+":"+pass+"\n"), 0o600); err != nil {
		return "", "", false, fmt.Errorf("save bootstrap credential: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", "", false, fmt.Errorf("save bootstrap credential: %w", err)
	}
	return cred.ID, pass, true, nil
}

// banner is what a process prints once it listens: where to reach it, how to
// authenticate, and the walkthrough with real values.
type banner struct {
	role, store, admin string
	dp                 *dataplane.DataPlane
	cp                 *controlplane.ControlPlane
	credID, credPass   string
	credNew            bool   // the credential was created by this start: print its password
	credFile           string // where it is kept
	authKey            string
}

func hostPort(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return "localhost:" + port
}

func (b *banner) print(w io.Writer) {
	fmt.Fprintf(w, "logplex %s running: %s on the %s\n", version, b.role, b.store)
	var api, v3, logs, syslog string
	if b.cp != nil {
		api, v3 = "http://"+hostPort(b.cp.APIAddr()), "http://"+hostPort(b.cp.V3Addr())
		fmt.Fprintf(w, "  API (legacy, v2, sessions)  %s\n  API v3                      %s\n", api, v3)
	}
	if b.dp != nil {
		logs, syslog = "http://"+hostPort(b.dp.HTTPAddr())+"/logs", hostPort(b.dp.SyslogAddr())
		fmt.Fprintf(w, "  HTTP log input              %s\n  TCP syslog input            %s\n", logs, syslog)
		if a := b.dp.SyslogTLSAddr(); a != nil {
			fmt.Fprintf(w, "  TLS syslog input            %s\n", hostPort(a))
		}
	}
	if b.admin != "" {
		fmt.Fprintf(w, "  metrics                     http://%s/metrics\n", b.admin)
	}
	user := b.credID + ":" + b.credPass
	switch {
	case b.authKey != "":
		fmt.Fprintf(w, "  auth: LOGPLEX_AUTH_KEY (send it raw: -H 'Authorization: Basic <key>')\n")
		user = ""
	case b.credID != "" && b.credNew:
		fmt.Fprintf(w, "  credential (full_api, any_channel): %s\n", user)
		fmt.Fprintf(w, "  (created now and shown this once; kept in %s, mode 0600)\n", b.credFile)
	case b.credID != "":
		fmt.Fprintf(w, "  credential (full_api, any_channel): %s, id:password in %s (mode 0600)\n", b.credID, b.credFile)
		user = "\"$(cat " + b.credFile + ")\""
	}
	defer fmt.Fprintln(w, "Press Ctrl-C to stop.")
	if b.cp == nil || b.dp == nil {
		return
	}
	auth := "-u " + user
	if user == "" {
		auth = "-H \"Authorization: Basic $LOGPLEX_AUTH_KEY\""
	}
	fmt.Fprintf(w, `
Try it:
  curl %[1]s %[2]s/healthcheck
  curl %[1]s -d '{"tokens":["app"]}' %[2]s/channels      # note the channel_id and the t.… token
  TOKEN=t.…   # the token from the answer above
  printf '%%s' "118 <134>1 2012-12-10T03:00:48.123456Z erlang $TOKEN console.1 - - Logsplat test message 1" > frames
  curl -u token:$TOKEN -H 'Content-Type: application/logplex-1' --data-binary @frames %[3]s
  printf '%%s' "118 <134>1 2012-12-10T03:00:48.123456Z erlang $TOKEN console.1 - - Logsplat test message 2" | nc -q1 %[4]s
  curl %[1]s -d '{"channel_id":"1"}' %[2]s/v2/sessions   # {"url":"…/sessions/<uuid>"}
  curl <that url>
`, auth, api, logs, strings.Replace(syslog, ":", " ", 1))
}

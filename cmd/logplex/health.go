package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/store"
)

// Health endpoints on the admin listener, in Kubernetes' form:
//
//	GET /livez   200 "ok" while the process serves at all
//	GET /readyz  200 "ok" when every check passes; else 503 and one line
//	             per check, "[+]name ok" or "[-]name failed: reason"
//	             (?verbose lists them on success too; ?exclude=name skips
//	             a check, e.g. a load balancer in front of data planes
//	             skips config-guard, docs/operations.md)
//
// Checks, per role:
//
//	listeners     the role's listeners are open and serving (after boot)
//	config        a config snapshot is loaded (not booting)
//	config-guard  the newest config load was not refused (store.Watcher.Refused)
//	store         control plane roles: the config store can serve writes

type health struct {
	started atomic.Bool // the listeners serve (set once the role is up)
	watcher *store.Watcher
	cp      *controlplane.ControlPlane // nil: no store check
}

type check struct {
	name string
	run  func(context.Context) error
}

func (h *health) checks() []check {
	cs := []check{
		{"listeners", func(context.Context) error {
			if !h.started.Load() {
				return fmt.Errorf("starting")
			}
			return nil
		}},
		{"config", func(context.Context) error {
			if !h.watcher.Ready() {
				return fmt.Errorf("no config snapshot loaded yet (booting)")
			}
			return nil
		}},
		{"config-guard", func(context.Context) error {
			if r := h.watcher.Refused(); r != nil {
				return fmt.Errorf("config refused since %s: %s; run `logplex config accept` to adopt it",
					r.Since.UTC().Format(time.RFC3339), r.Reason)
			}
			return nil
		}},
	}
	if h.cp != nil {
		cs = append(cs, check{"store", h.cp.StoreWritable})
	}
	return cs
}

func (h *health) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.readyz)
}

func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	excluded := map[string]bool{}
	for _, e := range q["exclude"] {
		for _, n := range strings.Split(e, ",") {
			excluded[strings.TrimSpace(n)] = true
		}
	}
	_, verbose := q["verbose"]
	var b strings.Builder
	failed := false
	for _, c := range h.checks() {
		if excluded[c.name] {
			fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.name)
			continue
		}
		if err := c.run(r.Context()); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case failed:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, b.String(), "readyz check failed\n")
	case verbose:
		fmt.Fprint(w, b.String(), "readyz check passed\n")
	default:
		fmt.Fprintln(w, "ok")
	}
}

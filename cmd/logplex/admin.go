package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// admin serves /metrics (Prometheus text), /debug/pprof and the control
// rods on the admin address; it is meant for loopback or an operator
// network only. Because a browser on the operator's machine can reach
// loopback too, every request passes guard: a Host that is not an IP
// literal, localhost or an --admin-allowed-hosts name is refused (DNS
// rebinding), a cross-origin request (an Origin other than the Host's, or
// Sec-Fetch-Site cross-site) is refused, and with --admin-token set, a
// write (any method but GET and HEAD) needs "Authorization: Bearer <token>".
type admin struct {
	ln  net.Listener
	srv *http.Server
	mux *http.ServeMux
}

// Expose # TYPE lines (each metric family lives in exactly one Set, so no
// family gets two, which Prometheus rejects for the whole page).
func init() { metrics.ExposeMetadata(true) }

// adminOptions are the admin listener's protections (see admin).
type adminOptions struct {
	token        string   // required for writes when set
	allowedHosts []string // host names accepted in Host beside IP literals and localhost
}

var (
	adminRefusedHost   = metrics.NewCounter(`logplex_admin_refused_total{reason="host"}`)
	adminRefusedOrigin = metrics.NewCounter(`logplex_admin_refused_total{reason="origin"}`)
	adminRefusedToken  = metrics.NewCounter(`logplex_admin_refused_total{reason="token"}`)
)

func newAdmin(addr string, o adminOptions, log *slog.Logger) (*admin, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", redactedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: o.guard(mux), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return &admin{ln: ln, srv: srv, mux: mux}, nil
}

func (a *admin) addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

func (a *admin) run(ctx context.Context) error {
	if a == nil {
		<-ctx.Done()
		return nil
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = a.srv.Shutdown(sctx)
	}()
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// guard refuses DNS-rebinding and cross-origin requests, and writes without
// the admin token when one is set.
func (o adminOptions) guard(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(o.token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.localHost(r.Host) {
			adminRefusedHost.Inc()
			http.Error(w, "admin: Host not allowed (use an IP address, localhost or --admin-allowed-hosts)", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); (origin != "" && origin != "http://"+r.Host) ||
			r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			adminRefusedOrigin.Inc()
			http.Error(w, "admin: cross-origin request refused", http.StatusForbidden)
			return
		}
		if o.token != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			h := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
				adminRefusedToken.Inc()
				w.Header().Set("WWW-Authenticate", `Bearer realm="logplex admin"`)
				http.Error(w, "admin: writes need Authorization: Bearer <LOGPLEX_ADMIN_TOKEN>", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// localHost reports whether a Host header names this machine directly: an
// IP literal (a rebinding attack needs a DNS name), localhost or
// *.localhost, or a name in allowedHosts.
func (o adminOptions) localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range o.allowedHosts {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// secretFlags are the flags whose values never leave the process: their
// values are hidden in /debug/pprof/cmdline, and giving them on the command
// line (where ps and /proc show them) is warned about at start.
var secretFlags = map[string]func(string) string{
	"auth-key":         func(string) string { return "***" },
	"admin-token":      func(string) string { return "***" },
	"config-redis-url": config.RedactURL,
	"shard-urls":       redactURLs,
}

func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = config.RedactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// redactArgs returns args with the values of secretFlags hidden, in both
// "--flag value" and "--flag=value" forms (one or two dashes).
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i := 0; i < len(out); i++ {
		name, val, eq := strings.Cut(strings.TrimLeft(out[i], "-"), "=")
		red, secret := secretFlags[name]
		switch {
		case !strings.HasPrefix(out[i], "-") || !secret:
		case eq:
			out[i] = out[i][:len(out[i])-len(val)] + red(val)
		case i+1 < len(out):
			out[i+1] = red(out[i+1])
			i++
		}
	}
	return out
}

// warnSecretFlags warns about each secret given on the command line rather
// than in the environment (a Redis URL only when it carries a password).
func warnSecretFlags(fs *flag.FlagSet, log *slog.Logger) {
	fs.Visit(func(f *flag.Flag) {
		red, secret := secretFlags[f.Name]
		if v := f.Value.String(); secret && v != "" && red(v) != v {
			log.Warn("secret given as a flag: ps and /proc show it to every local user; set it in the environment instead",
				"flag", "--"+f.Name, "env", envName(f.Name))
		}
	})
}

// redactedCmdline is pprof.Cmdline with secret flag values hidden.
func redactedCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(redactArgs(os.Args), "\x00"))
}

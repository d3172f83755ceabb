package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// admin serves /metrics (Prometheus text) and /debug/pprof on the admin
// address; it is meant for loopback or an operator network only.
type admin struct {
	ln  net.Listener
	srv *http.Server
	mux *http.ServeMux
}

// Expose # TYPE lines (each metric family lives in exactly one Set, so no
// family gets two; DEPENDENCIES.md, metrics gotcha 1).
func init() { metrics.ExposeMetadata(true) }

func newAdmin(addr string, log *slog.Logger) (*admin, error) {
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
		metrics.WritePrometheus(w, true)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
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

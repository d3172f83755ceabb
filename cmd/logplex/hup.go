package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/logplex/logplex/dataplane"
)

// reloader answers SIGHUP the same way in every role: it re-reads the log
// level from --log-level-file when one is set, and the syslog TLS
// listener's certificate and key when the role has that listener. It is
// installed before anything else starts, so a SIGHUP during boot is handled
// (once the role runs) instead of killing the process.
type reloader struct {
	log       *slog.Logger
	level     *slog.LevelVar
	levelFile string
	hup       chan os.Signal
	dp        atomic.Pointer[dataplane.DataPlane] // set once a data plane exists
}

func newReloader(log *slog.Logger, level *slog.LevelVar, levelFile string) *reloader {
	r := &reloader{log: log, level: level, levelFile: levelFile, hup: make(chan os.Signal, 1)}
	signal.Notify(r.hup, syscall.SIGHUP)
	return r
}

// run handles SIGHUP until ctx ends.
func (r *reloader) run(ctx context.Context) {
	defer signal.Stop(r.hup)
	for {
		select {
		case <-r.hup:
			r.reload()
		case <-ctx.Done():
			return
		}
	}
}

// reload does what one SIGHUP asks for and logs what it did.
func (r *reloader) reload() {
	did := false
	if r.levelFile != "" {
		did = true
		if err := readLevelFile(r.level, r.levelFile); err != nil {
			r.log.Error("SIGHUP: log level not changed", "err", err, "level", r.level.Level().String())
		} else {
			r.log.Info("SIGHUP: log level read from file", "file", r.levelFile, "level", r.level.Level().String())
		}
	}
	if dp := r.dp.Load(); dp != nil && dp.SyslogTLSAddr() != nil {
		did = true
		if err := dp.ReloadTLS(); err != nil {
			r.log.Error("SIGHUP: TLS certificate not reloaded; keeping the old one", "err", err)
		} else {
			r.log.Info("SIGHUP: TLS certificate reloaded")
		}
	}
	if !did {
		r.log.Info("SIGHUP: nothing to reload (no --log-level-file, no syslog TLS listener)")
	}
}

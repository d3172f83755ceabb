package main

import (
	"log/slog"
	"syscall"
	"time"

	"github.com/logplex/logplex/dataplane/ingest"
)

// tcpConnCap is --max-tcp-connections, or when it is 0 the cap the file
// descriptor limit allows (ingest.DefaultMaxTCPConnections), logged.
func tcpConnCap(flag int, log *slog.Logger) int {
	if flag > 0 {
		return flag
	}
	n := ingest.DefaultMaxTCPConnections()
	var rl syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	log.Info("syslog connection cap derived from the file descriptor limit", "max_tcp_connections", n, "nofile", rl.Cur)
	return n
}

// never maps a timeout flag's 0 ("never") to the Options' negative (0
// means the default there).
func never(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// zeroToNegative maps a limit flag's 0 (no bound, or none, as the flag
// says) to the Options' negative: there 0 means the default.
func zeroToNegative(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

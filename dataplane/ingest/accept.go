package ingest

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Accept errors are retried, never fatal: running out of file descriptors
// (EMFILE, ENFILE) or kernel memory leaves the pending connections in the
// listen backlog until descriptors are free again; only a closed listener
// ends the accept loop.
var (
	acceptErrorsSyslog = metrics.NewCounter(`logplex_accept_errors_total{listener="syslog"}`)
	acceptErrorsLogs   = metrics.NewCounter(`logplex_accept_errors_total{listener="logs"}`)
	acceptErrorsTLS    = metrics.NewCounter(`logplex_accept_errors_total{listener="syslog_tls"}`)
)

const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	acceptLogEvery   = 10 * time.Second // at most one log line per listener per this
)

// retryListener is a net.Listener whose Accept retries every error but
// net.ErrClosed, with exponential backoff (5 ms doubling to 1 s), counting
// each in errs and logging at most once every 10 s.
type retryListener struct {
	net.Listener
	errs    *metrics.Counter
	log     *slog.Logger
	name    string
	closed  chan struct{}
	once    sync.Once
	lastLog atomic.Int64
}

func newRetryListener(ln net.Listener, name string, errs *metrics.Counter, log *slog.Logger) *retryListener {
	return &retryListener{Listener: ln, errs: errs, log: log, name: name, closed: make(chan struct{})}
}

// Accept waits for the next connection; it returns an error only once the
// listener is closed.
func (l *retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		l.errs.Inc()
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		l.logThrottled(err, delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (l *retryListener) logThrottled(err error, delay time.Duration) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(acceptLogEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	msg := "accept failed; retrying (connections wait in the listen backlog)"
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		msg = "accept failed: out of file descriptors; retrying (raise the fd limit or lower the connection caps)"
	}
	l.log.Warn(msg, "listener", l.name, "err", err, "retry_in", delay)
}

// Close closes the listener and ends a pending backoff.
func (l *retryListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

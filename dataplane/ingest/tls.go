package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/frame"
)

// TLSOptions configure the syslog-over-TLS listener (RFC 5425; an extension:
// Logplex had none).
type TLSOptions struct {
	Addr     string // listen address, e.g. ":6514"; "" disables
	CertFile string // PEM certificate chain
	KeyFile  string // PEM private key
	// MaxConnections bounds open TLS connections; default 10000.
	MaxConnections int
	// IdleTimeout closes a connection that sends nothing for this long; default 10 min.
	IdleTimeout time.Duration
	// DrainIdle and DrainTimeout shape the shutdown as for TCPOptions
	// (defaults 250 ms and 5 s).
	DrainIdle, DrainTimeout time.Duration
}

var tlsConnsOpen atomic.Int64

var _ = metrics.NewGauge(`logplex_tls_connections`, func() float64 { return float64(tlsConnsOpen.Load()) })

// TLS serves octet-counted syslog over TLS, one goroutine per connection
// (gnet has no TLS). Each connection reads into a buffer of at most
// frame.MaxLineLen + 64 KiB, split with the same code as the TCP listener.
type TLS struct {
	opts   TLSOptions
	router *route.Router
	log    *slog.Logger
	cert   atomic.Pointer[tls.Certificate]
	ln     net.Listener
	wg     sync.WaitGroup

	draining  atomic.Bool
	discarded Discarded // what the shutdown discarded (read after Run)
}

// Discarded is what the shutdown discarded; complete once Run returned.
func (s *TLS) Discarded() *Discarded { return &s.discarded }

// NewTLS loads the certificate and binds the listener.
func NewTLS(opts TLSOptions, router *route.Router, log *slog.Logger) (*TLS, error) {
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 10000
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.DrainIdle <= 0 {
		opts.DrainIdle = 250 * time.Millisecond
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 5 * time.Second
	}
	s := &TLS{opts: opts, router: router, log: log}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
	ln, err := tls.Listen("tcp", opts.Addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("syslog TLS listener %s: %w", opts.Addr, err)
	}
	s.ln = newRetryListener(ln, "syslog_tls", acceptErrorsTLS, log)
	return s, nil
}

// Reload reads the certificate and key again (on SIGHUP); on failure the
// old certificate stays.
func (s *TLS) Reload() error {
	c, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("syslog TLS certificate: %w", err)
	}
	s.cert.Store(&c)
	return nil
}

// Addr is the bound address.
func (s *TLS) Addr() net.Addr { return s.ln.Addr() }

// Run accepts until ctx ends, then closes the listener and drains as TCP
// does: open connections are read until quiet for DrainIdle (their read
// deadline), those still sending are closed at DrainTimeout, and a partial
// frame left is counted as discarded (bytes only: what the kernel still
// held is encrypted, and not counted).
func (s *TLS) Run(ctx context.Context) error {
	var conns sync.Map
	go func() {
		<-ctx.Done()
		s.draining.Store(true)
		s.ln.Close()
		conns.Range(func(k, _ any) bool { _ = k.(net.Conn).SetReadDeadline(time.Now().Add(s.opts.DrainIdle)); return true })
	}()
	defer func() {
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(s.opts.DrainTimeout):
			conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
			<-done
		}
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("syslog TLS accept", "err", err)
			continue
		}
		if tlsConnsOpen.Add(1) > int64(s.opts.MaxConnections) {
			tlsConnsOpen.Add(-1)
			tcpConnsRejected.Inc()
			c.Close()
			continue
		}
		conns.Store(c, struct{}{})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer tlsConnsOpen.Add(-1)
			defer conns.Delete(c)
			defer c.Close()
			s.serve(c)
		}()
	}
}

// serve reads frames until the peer closes, errs or idles out.
func (s *TLS) serve(c net.Conn) {
	buf := make([]byte, 0, 16<<10)
	const maxBuf = frame.MaxLineLen + 64<<10
	for {
		if len(buf) == cap(buf) {
			buf = append(buf[:cap(buf)], 0)[:len(buf)] // grow (bounded below)
		}
		idle := s.opts.IdleTimeout
		if s.draining.Load() {
			idle = s.opts.DrainIdle
		}
		_ = c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf[len(buf):min(cap(buf), maxBuf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
			tcpBytesRead.Add(n)
			b := s.router.Batch()
			used := SplitInto(b, buf)
			b.Flush()
			buf = buf[:copy(buf, buf[used:])]
		}
		if err != nil {
			if s.draining.Load() && len(buf) > 0 {
				shutdownDiscardedBytes.Add(len(buf))
				s.discarded.Bytes.Add(int64(len(buf)))
			}
			return
		}
	}
}

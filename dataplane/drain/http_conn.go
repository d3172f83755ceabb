package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/config"
)

// The connection of an HTTP drain. The sender dials it itself (TCP, then
// TLS for https), before it takes a frame out of the buffer, so a connect
// failure leaves the messages buffered and costs a frame none of its tries
// (docs/logplex.md §5.4, Logplex's try_connect), and keeps it alive between
// requests (http_client.go makes the exchanges on it).
//
//	run loop ── connect() ──► cur ──exchange──► endpoint
//	                           └── idle for keep: closed by a timer (no goroutine while it waits)
//
// Every connection is wrapped in an httpConn, so the sender knows whether
// one is open and a parked drain is kicked when its connection closes, and
// can cut an in-flight request short when the final flush runs out of time.

// httpMaxResponseBody bounds the response body a drain reads: endpoints
// answer with small bodies.
const httpMaxResponseBody = 64 << 10

// httpMaxKeepAlive caps how long an idle connection is kept: below the idle
// timeout of common servers and load balancers (60–75 s), so a request
// rarely meets a connection the server has just closed.
const httpMaxKeepAlive = 55 * time.Second

var (
	errHTTPDrainStopped = errors.New("drain stopped")
	errHTTPNotConnected = errors.New("connection closed before the request")
)

// httpConns is the connection state shared by the sender goroutine, the
// idle-close timer and the flush deadline's cut.
type httpConns struct {
	dialer  net.Dialer // Options.newDialer: refuses private addresses unless allowed
	addr    string
	tls     *tls.Config // nil for http
	timeout time.Duration
	keep    time.Duration // an unused connection is closed after this long

	mu      sync.Mutex
	cur     *httpConn // the open connection, if any
	busy    bool      // an exchange is under way on cur
	lastUse time.Time // when the last exchange ended
	idle    *time.Timer
	stopped bool

	open atomic.Int32 // connections dialed and not closed
	// onClose, if set, is called when a connection closes (the sender's
	// wake-up: an idle drain parks once its connection closed).
	onClose func()
}

// httpConn counts itself out of its httpConns when closed.
type httpConn struct {
	net.Conn
	c      *httpConns
	closed atomic.Bool
}

func (t *httpConn) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.c.open.Add(-1)
	t.c.mu.Lock()
	if t.c.cur == t {
		t.c.cur = nil
	}
	t.c.mu.Unlock()
	err := t.Conn.Close()
	if t.c.onClose != nil {
		t.c.onClose()
	}
	return err
}

// connect opens the connection for the next request (TCP connect and TLS
// handshake together bounded by the connect timeout), or fails.
func (c *httpConns) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return fmt.Errorf("tls: %w", err)
		}
		nc = tc
	}
	t := &httpConn{Conn: nc, c: c}
	c.open.Add(1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		_ = t.Close()
		return errHTTPDrainStopped
	}
	old := c.cur
	c.cur = t
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// exchange sends one request on the open connection and reads its answer
// (http_client.go); the connection is closed after a failure or when the
// answer does not let it carry another request.
func (c *httpConns) exchange(head, body []byte, deadline time.Time, wantBody bool, a *httpAnswer) error {
	c.mu.Lock()
	t := c.cur
	if t == nil {
		c.mu.Unlock()
		a.got = false
		return errHTTPNotConnected
	}
	c.busy = true
	c.mu.Unlock()
	err := httpExchange(t, head, body, deadline, wantBody, a)
	if err != nil || !a.keep {
		_ = t.Close()
	}
	c.mu.Lock()
	c.busy, c.lastUse = false, time.Now()
	if c.cur != nil && !c.stopped {
		if c.idle == nil {
			c.idle = time.AfterFunc(c.keep, c.closeIdle)
		} else {
			c.idle.Reset(c.keep)
		}
	}
	c.mu.Unlock()
	return err
}

// closeIdle closes the connection once it has been unused for keep (the
// idle timer's function).
func (c *httpConns) closeIdle() {
	c.mu.Lock()
	t := c.cur
	if t == nil || c.busy {
		c.mu.Unlock()
		return // closed meanwhile, or in use: the exchange re-arms the timer
	}
	if left := c.keep - time.Since(c.lastUse); left > 0 {
		c.idle.Reset(left)
		c.mu.Unlock()
		return
	}
	c.cur = nil // no exchange starts on it any more
	c.mu.Unlock()
	_ = t.Close()
}

// connected reports whether a connection is open.
func (c *httpConns) connected() bool { return c.open.Load() > 0 }

// closeAll closes the open connection, cutting short any request on it.
// With stop, later connects fail.
func (c *httpConns) closeAll(stop bool) {
	c.mu.Lock()
	if stop {
		c.stopped = true
	}
	cur := c.cur
	if c.idle != nil {
		c.idle.Stop()
	}
	c.mu.Unlock()
	if cur != nil {
		_ = cur.Close()
	}
}

// httpKeepAlive is how long a drain keeps an unused connection: past the
// sender's own idle close (idle timeout and fuzz), within httpMaxKeepAlive.
func httpKeepAlive(o *Options) time.Duration {
	return min(o.HTTPIdleTimeout+o.HTTPIdleFuzz+time.Second, httpMaxKeepAlive)
}

// httpTLSConfig returns the client TLS config of an https drain: certificates
// verified against the system roots plus Options.TLSCAFile, unless the URL
// has the fragment "insecure" or Options.TLSInsecure is set.
func httpTLSConfig(o *Options, u *config.DrainURL) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         u.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: o.TLSInsecure || u.Fragment == "insecure", //nolint:gosec // operator's or drain owner's choice
		ClientSessionCache: tls.NewLRUClientSessionCache(1),
	}
	if o.TLSCAFile != "" && !cfg.InsecureSkipVerify {
		trust, err := loadTLSTrust(o.TLSCAFile, "") // the syslog drains' loader and cache
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = trust.roots
	}
	return cfg, nil
}

package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
)

// The connection of an HTTP drain. The sender dials it itself (TCP, then
// TLS for https), before it takes a frame out of the buffer, so a connect
// failure leaves the messages buffered and costs a frame none of its tries
// (docs/logplex.md §5.4, Logplex's try_connect). The fasthttp.HostClient then gets
// that connection from its Dial hook and keeps it alive between requests.
//
//	run loop ── connect() ──► preDialed ──Dial hook──► HostClient pool ──► endpoint
//
// Every connection is wrapped in an httpConn, so the sender knows whether
// one is open (fasthttp closes idle ones on its own) and can cut an
// in-flight request short when the final flush runs out of time.

// httpMaxResponseBody bounds the response body a drain reads (fasthttp
// buffers a response body without limit unless MaxResponseBodySize is set):
// endpoints answer with small bodies.
const httpMaxResponseBody = 64 << 10

// httpMaxKeepAlive caps how long an idle connection is kept: below the idle
// timeout of common servers and load balancers (60–75 s), so a request
// rarely meets a connection the server has just closed.
const httpMaxKeepAlive = 55 * time.Second

var errHTTPDrainStopped = errors.New("drain stopped")

// httpConns is the connection state shared by the sender goroutine and the
// fasthttp goroutines (dial hook, idle-connection cleaner).
type httpConns struct {
	dialer  net.Dialer // Options.newDialer: refuses private addresses unless allowed
	addr    string
	tls     *tls.Config // nil for http
	timeout time.Duration

	mu        sync.Mutex
	preDialed *httpConn // dialed by connect, not yet handed to fasthttp
	cur       *httpConn // the open connection, if any (MaxConns is 1)
	stopped   bool

	open     atomic.Int32 // connections dialed and not closed
	dialedAt atomic.Int64 // unix ns of a dial fasthttp made itself (a transparent retry); 0: none
	// onClose, if set, is called when a connection closes (the sender's
	// wake-up: an idle drain parks once fasthttp closed its connection).
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

// dial opens a connection (TCP connect and TLS handshake together bounded
// by the connect timeout), or fails.
func (c *httpConns) dial(ctx context.Context) (*httpConn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		nc = tc
	}
	t := &httpConn{Conn: nc, c: c}
	c.open.Add(1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		_ = t.Close()
		return nil, errHTTPDrainStopped
	}
	c.cur = t
	c.mu.Unlock()
	return t, nil
}

// connect dials a connection for the next request.
func (c *httpConns) connect(ctx context.Context) error {
	t, err := c.dial(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.preDialed = t
	c.mu.Unlock()
	return nil
}

// dialHook is fasthttp's Dial: it hands over the connection connect made,
// or (for fasthttp's own retry on a stale keep-alive connection) dials.
func (c *httpConns) dialHook(ctx context.Context) fasthttp.DialFunc {
	return func(string) (net.Conn, error) {
		c.mu.Lock()
		t := c.preDialed
		c.preDialed = nil
		c.mu.Unlock()
		if t != nil {
			return t, nil
		}
		t, err := c.dial(ctx)
		if err != nil {
			return nil, err
		}
		c.dialedAt.Store(time.Now().UnixNano())
		return t, nil
	}
}

// connected reports whether a connection is open.
func (c *httpConns) connected() bool { return c.open.Load() > 0 }

// closeAll closes the open connection, cutting short any request on it.
// With stop, later dials fail.
func (c *httpConns) closeAll(stop bool) {
	c.mu.Lock()
	if stop {
		c.stopped = true
	}
	pre, cur := c.preDialed, c.cur
	c.preDialed = nil
	c.mu.Unlock()
	if pre != nil {
		_ = pre.Close()
	}
	if cur != nil {
		_ = cur.Close()
	}
}

// httpStaleConnErr reports whether err is what a request on a keep-alive
// connection the server has closed meanwhile fails with.
func httpStaleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// newHTTPHostClient returns the drain's client: one keep-alive connection,
// obtained from the dial hook (TLS is done there, so IsTLS stays false),
// nothing fasthttp would add to the request, bounded response bodies. A
// request that fails on a reused connection the server closed meanwhile is
// sent once more on a fresh one when reusing() says the connection had
// served a request before.
func newHTTPHostClient(ctx context.Context, o *Options, c *httpConns, reusing func() bool) *fasthttp.HostClient {
	keep := min(o.HTTPIdleTimeout+o.HTTPIdleFuzz+time.Second, httpMaxKeepAlive)
	return &fasthttp.HostClient{
		Addr:                          c.addr,
		Dial:                          c.dialHook(ctx),
		MaxConns:                      1,
		MaxIdleConnDuration:           keep,
		MaxConnWaitTimeout:            o.HTTPRequestTimeout,
		ReadTimeout:                   o.HTTPRequestTimeout,
		WriteTimeout:                  o.HTTPRequestTimeout,
		MaxResponseBodySize:           httpMaxResponseBody,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts == 1 && reusing() && httpStaleConnErr(err)
		},
	}
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

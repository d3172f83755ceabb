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
//
// With Options.HTTP2, connect attaches the drain to an HTTP/2 connection it
// shares with the other drains to the same receiver (http2.go) instead, and
// exchange makes its request there; the drain counts as connected while
// attached, and its idle close, max TTL and stop detach it.

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
	// idle closes the connection unused for keep (closeIdle); armed once
	// and moved on by closeIdle itself, so that an exchange need not reset
	// it.
	idle      *time.Timer
	idleArmed bool
	stopped   bool

	open atomic.Int32 // connections dialed and not closed (a shared HTTP/2 one counts while attached)
	// onClose, if set, is called when a connection closes (the sender's
	// wake-up: an idle drain parks once its connection closed).
	onClose func()

	// HTTP/2 (http2.go): the receiver's key among h2s (useH2 false: HTTP/1.1
	// only), the shared connection the drain is attached to (under mu), the
	// drain's reusable request on it, and what the request is made of.
	head []byte // the HTTP/1.1 head of the request under way (the sender's)

	h2s    *h2Hosts
	h2k    h2Key
	useH2  bool
	h2c    *h2Conn
	h2st   *h2Stream
	tmpl   *httpRequestTemplate
	maxTTL time.Duration // a shared connection older than this takes no new request
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
	var nc net.Conn
	if c.useH2 {
		hc, h1, err := c.h2s.get(c.h2k, c.tls).attach(ctx, c)
		if err != nil {
			return err
		}
		if hc != nil {
			return c.attached(hc)
		}
		nc = h1 // nil, or a TLS connection that negotiated HTTP/1.1
	}
	if nc == nil {
		var err error
		if nc, err = c.dialer.DialContext(ctx, "tcp", c.addr); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
	}
	if _, ok := nc.(*tls.Conn); !ok && c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return fmt.Errorf("tls: %w", err)
		}
		nc = tc
	}
	return c.use(&httpConn{Conn: nc, c: c}, nil)
}

// attached makes hc, which has adopted the drain, its connection.
func (c *httpConns) attached(hc *h2Conn) error {
	if c.h2st == nil {
		c.h2st = &h2Stream{done: make(chan error, 1), static: c.tmpl.h2Block(c.tls != nil)}
	}
	return c.use(nil, hc)
}

// use makes t (HTTP/1.1) or hc (a shared HTTP/2 connection that adopted
// the drain) the drain's connection, counted in open, and closes or leaves
// the one it replaces; once the drain is stopped it lets the new one go
// instead.
func (c *httpConns) use(t *httpConn, hc *h2Conn) error {
	c.open.Add(1)
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		if t != nil {
			_ = t.Close()
		} else {
			c.detached(hc)
		}
		return errHTTPDrainStopped
	}
	old, oldH2 := c.cur, c.h2c
	c.cur, c.h2c = t, hc
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	switch oldH2 {
	case nil:
	case hc: // attached again to the one it was on
		c.open.Add(-1)
	default:
		c.detached(oldH2)
	}
	return nil
}

// detached lets hc go (no longer c.h2c): it counts out, the connection may
// close, the sender is woken.
func (c *httpConns) detached(hc *h2Conn) {
	hc.host.detach(hc, c)
	c.gone()
}

// gone counts a connection out and wakes the sender.
func (c *httpConns) gone() {
	c.open.Add(-1)
	if c.onClose != nil {
		c.onClose()
	}
}

// dropH2 clears the shared connection if it is hc, and reports whether it
// was.
func (c *httpConns) dropH2(hc *h2Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h2c != hc {
		return false
	}
	c.h2c = nil
	return true
}

// h2Gone is the shared connection's notice that it closed.
func (c *httpConns) h2Gone(hc *h2Conn) {
	if c.dropH2(hc) {
		c.gone()
	}
}

// exchange sends one request (count messages in body, frame id) on the
// open connection and reads its answer (http_client.go); the connection is
// closed after a failure or when the answer does not let it carry another
// request. The head is rendered for the connection: HTTP/1.1 text (head),
// or the HTTP/2 header block.
func (c *httpConns) exchange(count int, id, body []byte, deadline time.Time, wantBody bool, a *httpAnswer) error {
	c.mu.Lock()
	t, hc := c.cur, c.h2c
	if t == nil && hc == nil {
		c.mu.Unlock()
		a.got = false
		return errHTTPNotConnected
	}
	c.busy = true
	c.mu.Unlock()
	var err error
	if hc != nil {
		st := c.h2st
		st.body, st.wantBody, st.a = body, wantBody, a
		st.block = c.tmpl.appendH2Dynamic(append(st.block[:0], st.static...), count, id, len(body))
		a.got = false
		err = hc.roundTrip(st, deadline)
		st.body, st.a = nil, nil
		if errors.Is(err, errH2Refused) && c.dropH2(hc) { // it takes no more: the next connect finds another
			c.detached(hc)
		}
	} else {
		c.head = c.tmpl.appendHead(c.head[:0], len(body), count, id)
		err = httpExchange(t, c.head, body, deadline, wantBody, a)
		if err != nil || !a.keep {
			_ = t.Close()
		}
	}
	c.mu.Lock()
	c.busy, c.lastUse = false, time.Now()
	if (c.cur != nil || c.h2c != nil) && !c.stopped && !c.idleArmed {
		c.idleArmed = true
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
	c.idleArmed = false
	t, hc := c.cur, c.h2c
	if (t == nil && hc == nil) || c.busy {
		c.mu.Unlock()
		return // closed meanwhile, or in use: the exchange re-arms the timer
	}
	if left := c.keep - time.Since(c.lastUse); left > 0 {
		c.idleArmed = true
		c.idle.Reset(left)
		c.mu.Unlock()
		return
	}
	c.cur, c.h2c = nil, nil // no exchange starts on it any more
	c.mu.Unlock()
	if t != nil {
		_ = t.Close()
	}
	if hc != nil {
		c.detached(hc)
	}
}

// release gives back the buffers of the last request (a quiescing sender's;
// no request is under way).
func (c *httpConns) release() {
	c.head = nil
	if c.h2st != nil {
		c.h2st.block = nil
	}
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
	cur, hc, busy := c.cur, c.h2c, c.busy
	c.cur, c.h2c = nil, nil
	if c.idle != nil {
		c.idle.Stop()
		c.idleArmed = false
	}
	c.mu.Unlock()
	if cur != nil {
		_ = cur.Close()
	}
	if hc != nil {
		if busy { // cut the request in flight short
			hc.cancel(c.h2st, errHTTPDrainStopped)
		}
		c.detached(hc)
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

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// defaultTimeout bounds dials, connection writes and each non-blocking call.
const defaultTimeout = 2 * time.Second

// reconnectEvery is how often a client that could not be created (a cluster
// that was unreachable) is tried again.
const reconnectEvery = time.Second

// errClosed is returned after Close.
var errClosed = errors.New("redisstore: closed")

// target is one Redis deployment to connect to: a server or a cluster.
type target struct {
	opt     rueidis.ClientOption
	cluster bool
	name    string // host:port list for logs, no password
}

// parseTarget reads a Redis URL: redis://[:pass@]host[:port][/db][#frag]
// (the fragment is only a sort key). A cluster is asked for by cluster,
// by the scheme redis+cluster:// (rediss+cluster://), by extra seed
// addresses (seeds or ?addr=host:port in the URL).
func parseTarget(raw string, seeds []string, cluster bool, timeout time.Duration) (target, error) {
	u, _, _ := strings.Cut(raw, "#")
	for _, s := range []string{"redis", "rediss"} {
		if rest, ok := strings.CutPrefix(u, s+"+cluster://"); ok {
			u, cluster = s+"://"+rest, true
		}
	}
	u = strings.Replace(u, "/?", "?", 1) // Logplex writes "host:port/" for db 0
	u = strings.TrimSuffix(u, "/")
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		return target{}, fmt.Errorf("redisstore: bad Redis URL %q: %w", config.RedactURL(raw), err)
	}
	opt.InitAddress = append(opt.InitAddress, seeds...)
	cluster = cluster || len(opt.InitAddress) > 1
	if cluster && opt.SelectDB != 0 {
		return target{}, fmt.Errorf("redisstore: %q: a Redis Cluster has only db 0", config.RedactURL(raw))
	}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	opt.ForceSingleClient = !cluster
	opt.Dialer = net.Dialer{Timeout: timeout, KeepAlive: time.Second}
	opt.ConnWriteTimeout = timeout
	opt.DisableCache = true // no client-side caching: the change feed is our invalidation
	opt.RetryDelay = boundedRetry
	opt.ClientName = "logplex"
	return target{opt: opt, cluster: cluster, name: strings.Join(opt.InitAddress, ",")}, nil
}

// boundedRetry retries read-only commands twice on network errors; rueidis's
// default retries forever while the context allows.
func boundedRetry(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts >= 2 {
		return -1
	}
	return time.Duration(attempts+1) * 20 * time.Millisecond
}

// conn is a rueidis client created on first use: a single server's client
// is created at once and reconnects by itself; a cluster client needs the
// cluster reachable to be created, so creation is retried at most every
// reconnectEvery.
type conn struct {
	t      target
	client atomic.Pointer[rueidis.Client]

	mu      sync.Mutex
	closed  bool
	nextTry time.Time
	lastErr error
}

func newConn(t target) *conn {
	c := &conn{t: t}
	c.get() // connect eagerly; a failure is retried on use
	return c
}

// get returns the client, or an error wrapping store.ErrUnavailable.
func (c *conn) get() (rueidis.Client, error) {
	if p := c.client.Load(); p != nil {
		return *p, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.client.Load(); p != nil {
		return *p, nil
	}
	if c.closed {
		return nil, errClosed
	}
	if time.Now().Before(c.nextTry) {
		return nil, c.lastErr
	}
	cl, err := rueidis.NewClient(c.t.opt)
	if cl == nil { // with ForceSingleClient a failed dial still returns a client
		c.nextTry = time.Now().Add(reconnectEvery)
		c.lastErr = fmt.Errorf("redisstore: connect %s: %w: %w", c.t.name, store.ErrUnavailable, err)
		return nil, c.lastErr
	}
	c.client.Store(&cl)
	return cl, nil
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if p := c.client.Swap(nil); p != nil {
		(*p).Close()
	}
}

// failure turns an error from rueidis into the error a caller sees: the
// caller's own context ending is reported as such; WRONGTYPE (a key holding
// data of another kind) is a plain error; anything else, from a refused
// dial to a timeout or a LOADING reply, wraps store.ErrUnavailable.
func failure(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redisstore: %s: %w", op, ctx.Err())
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, errClosed) {
		return err
	}
	if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	redisErrors.Inc()
	return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
}

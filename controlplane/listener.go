package controlplane

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Connection metrics of the API listeners, per api ("legacy", "v3").
var (
	apiConnsRefused = map[string]*metrics.Counter{
		"legacy": metrics.NewCounter(`logplex_api_connections_refused_total{api="legacy"}`),
		"v3":     metrics.NewCounter(`logplex_api_connections_refused_total{api="v3"}`),
	}
	apiAcceptErrors = map[string]*metrics.Counter{
		"legacy": metrics.NewCounter(`logplex_api_accept_errors_total{api="legacy"}`),
		"v3":     metrics.NewCounter(`logplex_api_accept_errors_total{api="v3"}`),
	}
)

// cappedListener holds at most max open connections: a connection accepted
// beyond them is closed at once and counted, so one client cannot take the
// process's file descriptors through the API. Accept errors are counted and
// returned; net/http retries the temporary ones (EMFILE) with a backoff.
type cappedListener struct {
	net.Listener
	max           int64
	open          atomic.Int64
	refused, errs *metrics.Counter
}

func newCappedListener(ln net.Listener, api string, max int) net.Listener {
	return &cappedListener{Listener: ln, max: int64(max), refused: apiConnsRefused[api], errs: apiAcceptErrors[api]}
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.errs.Inc()
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Inc()
			c.Close()
			continue
		}
		return &cappedConn{Conn: c, l: l}, nil
	}
}

// cappedConn gives its slot back once, on the first Close.
type cappedConn struct {
	net.Conn
	l    *cappedListener
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

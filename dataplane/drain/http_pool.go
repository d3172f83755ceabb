package drain

import (
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"time"
)

// Shared keep-alive connections (Options.HTTPSharedIdle). Logplex gives each
// HTTP drain a connection of its own and keeps it open while the drain is
// idle, so a node with 20 000 drains to a few receivers holds 20 000 sockets
// (and the receivers as many), most of them unused for seconds at a time.
// Here a drain with sparse traffic, once it parks, puts its open connection
// in its receiver's pool instead of keeping it; its next request, or another
// drain's to the same receiver, takes one from there (the most recently
// used) before it dials. A busy drain keeps its connection between requests
// as before. A connection in a pool carries no drain's state: each request
// is complete in itself (its own Host, path, credentials and headers), so
// drains whose requests go to the same address with the same TLS settings
// can use one another's connections.
//
//	drain parks (sparse) ──lend──► hostPool[addr, TLS] ──take──► drain's next connect
//	                                  └── unused for keep, or more than max: closed

// hostPools finds the pool of a receiver; one per Options, shared by every
// drain started with them.
type hostPools struct {
	mu sync.Mutex
	m  map[string]*hostPool
}

// hostPool holds the idle connections to one receiver, oldest first.
type hostPool struct {
	key  string
	max  int           // idle connections kept; a connection lent beyond it is closed
	keep time.Duration // an idle connection is closed after this long
	ttl  time.Duration // a connection older than this is not handed out

	mu    sync.Mutex
	idle  []pooledConn
	timer *time.Timer // closes connections idle for keep; armed while idle is not empty
	armed bool
}

type pooledConn struct {
	nc    net.Conn
	born  time.Time // when it was dialed
	since time.Time // when it was lent
}

// pool returns the pool for addr and tc (nil for plain HTTP), creating it.
func (p *hostPools) pool(o *Options, addr string, tc *tls.Config, keep time.Duration) *hostPool {
	key := poolKey(addr, tc)
	p.mu.Lock()
	defer p.mu.Unlock()
	if hp := p.m[key]; hp != nil {
		return hp
	}
	if p.m == nil {
		p.m = map[string]*hostPool{}
	}
	hp := &hostPool{key: key, max: o.HTTPSharedIdle, keep: keep, ttl: o.HTTPMaxTTL}
	hp.timer = time.AfterFunc(time.Hour, hp.closeIdle)
	hp.timer.Stop()
	p.m[key] = hp
	return hp
}

// poolKey tells receivers apart: the address dialed and, for TLS, the name
// verified and whether it is verified at all (the CA file is the node's).
func poolKey(addr string, tc *tls.Config) string {
	if tc == nil {
		return "http " + addr
	}
	return "https " + addr + " " + tc.ServerName + " " + strconv.FormatBool(tc.InsecureSkipVerify)
}

// take returns the most recently lent connection young enough to use, or
// nil; connections past the max TTL are closed on the way.
func (hp *hostPool) take(now time.Time) (net.Conn, time.Time) {
	var old []pooledConn
	hp.mu.Lock()
	var got pooledConn
	for n := len(hp.idle); n > 0; n = len(hp.idle) {
		pc := hp.idle[n-1]
		hp.idle[n-1] = pooledConn{}
		hp.idle = hp.idle[:n-1]
		if now.Sub(pc.born) > hp.ttl {
			old = append(old, pc)
			continue
		}
		got = pc
		break
	}
	hp.mu.Unlock()
	for _, pc := range old {
		_ = pc.nc.Close()
	}
	if got.nc != nil {
		pooledTaken.Inc()
	}
	return got.nc, got.born
}

// lend puts an unused open connection in the pool, or closes it when the
// pool is full.
func (hp *hostPool) lend(nc net.Conn, born, now time.Time) {
	hp.mu.Lock()
	if len(hp.idle) >= hp.max {
		hp.mu.Unlock()
		_ = nc.Close()
		return
	}
	hp.idle = append(hp.idle, pooledConn{nc: nc, born: born, since: now})
	if !hp.armed {
		hp.armed = true
		hp.timer.Reset(hp.keep)
	}
	hp.mu.Unlock()
	pooledLent.Inc()
}

// closeIdle closes the connections unused for keep (the timer's function)
// and re-arms for the oldest left.
func (hp *hostPool) closeIdle() {
	now := time.Now()
	hp.mu.Lock()
	n := 0
	for n < len(hp.idle) && now.Sub(hp.idle[n].since) >= hp.keep {
		n++
	}
	old := make([]pooledConn, n)
	copy(old, hp.idle[:n])
	rest := copy(hp.idle, hp.idle[n:])
	clear(hp.idle[rest:])
	hp.idle = hp.idle[:rest]
	hp.armed = rest > 0
	if hp.armed {
		hp.timer.Reset(hp.keep - now.Sub(hp.idle[0].since))
	}
	hp.mu.Unlock()
	for _, pc := range old {
		_ = pc.nc.Close()
	}
}

// closeAll closes every pooled connection (Manager.Close: the drains have
// stopped). A connection lent later is kept as usual.
func (p *hostPools) closeAll() {
	p.mu.Lock()
	pools := make([]*hostPool, 0, len(p.m))
	for _, hp := range p.m {
		pools = append(pools, hp)
	}
	p.mu.Unlock()
	for _, hp := range pools {
		hp.mu.Lock()
		idle := hp.idle
		hp.idle, hp.armed = nil, false
		hp.timer.Stop()
		hp.mu.Unlock()
		for _, pc := range idle {
			_ = pc.nc.Close()
		}
	}
}

// idleConns reports how many connections the pool holds.
func (hp *hostPool) idleConns() int {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	return len(hp.idle)
}

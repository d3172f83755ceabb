package drain

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logplex/logplex/config"
)

// startSharing runs an HTTP drain to url with opts, which other drains of
// the test share (as a Manager's drains share its Options, and so the
// receivers' pools).
func startSharing(t *testing.T, opts *Options, url string) *Drain {
	t.Helper()
	u, err := config.ParseDrainURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d := &Drain{Config: &config.Drain{ID: httpNextID.Add(1), ChannelID: "ch1", Token: httpTestToken, URL: url}, URL: u}
	s, err := newHTTPSender(opts, d)
	if err != nil {
		t.Fatal(err)
	}
	runDrain(d, s)
	t.Cleanup(func() { d.stop(time.Second) })
	return d
}

// TestSharedConnsSparseDrains: drains with sparse traffic to one receiver,
// sending in turn, all use one connection: each lends it to the pool when
// it parks and the next takes it. Every request still carries its own
// drain's path. Without the pool, each drain opens its own.
func TestSharedConnsSparseDrains(t *testing.T) {
	for _, shared := range []int{4, 0} {
		t.Run("shared="+strconv.Itoa(shared), func(t *testing.T) {
			srv := newCapServer(t, nil)
			opts := testOptions(Options{HTTPSharedIdle: shared})
			const drains, rounds = 8, 3
			ds := make([]*Drain, drains)
			for i := range ds {
				ds[i] = startSharing(t, &opts, httpURL(srv, "http", "/d"+strconv.Itoa(i)))
			}
			sent := 0
			for r := range rounds {
				for i, d := range ds {
					push(d, testMsg(sent))
					sent++
					waitFor(t, wait, "the delivery", func() bool { return d.Status().Delivered == uint64(r+1) })
					if shared > 0 { // lent its connection: parked, not connected
						waitFor(t, wait, "the sender parked", func() bool { return parked(d) })
					}
					if st := d.Status(); st.Delivered != uint64(r+1) || st.Connected != (shared == 0) {
						t.Fatalf("drain %d round %d: status %+v, want %d delivered, connected %v", i, r, st, r+1, shared == 0)
					}
				}
			}
			reqs := srv.Reqs()
			for k, q := range reqs {
				if want := "POST /d" + strconv.Itoa(k%drains) + " HTTP/1.1"; q.Line != want {
					t.Fatalf("request %d: %q, want %q", k, q.Line, want)
				}
			}
			srv.mu.Lock()
			conns := srv.nconn
			srv.mu.Unlock()
			want := 1
			if shared == 0 {
				want = drains
			}
			if conns != want {
				t.Fatalf("%d connections for %d drains sending in turn, want %d", conns, drains, want)
			}
			if shared > 0 {
				if n := opts.pools.pool(&opts, srv.addr, nil, 0).idleConns(); n != 1 {
					t.Fatalf("%d connections in the pool, want 1", n)
				}
			}
		})
	}
}

// TestSharedConnStale: a pooled connection the receiver closed meanwhile
// is not a failed try: the drain that took it sends again on a fresh one
// (as a drain's own stale keep-alive connection).
func TestSharedConnStale(t *testing.T) {
	var reqs atomic.Int64
	closed := make(chan struct{}, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reqs.Add(1) }))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	opts := testOptions(Options{HTTPSharedIdle: 4})
	a := startSharing(t, &opts, srv.URL+"/a")
	b := startSharing(t, &opts, srv.URL+"/b")
	push(a, testMsg(1))
	waitFor(t, wait, "a's delivery", func() bool { return a.Status().Delivered == 1 && parked(a) })
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("the server did not close the idle connection")
	}
	taken := pooledTaken.Get()
	push(b, testMsg(2))
	waitFor(t, wait, "b's delivery", func() bool { return b.Status().Delivered == 1 })
	if pooledTaken.Get() != taken+1 {
		t.Fatal("b dialed: the test does not exercise a stale pooled connection")
	}
	if st := b.Status(); st.Retries != 0 || st.Dropped != 0 || reqs.Load() != 2 {
		t.Errorf("%d requests, b's status %+v; want 2 requests, no frame retry", reqs.Load(), st)
	}
}

// countClose is a connection that counts its closes.
type countClose struct {
	net.Conn
	closes *atomic.Int32
}

func (c countClose) Close() error { c.closes.Add(1); return c.Conn.Close() }

// TestHostPool, on synctest's clock: the pool hands out the most recently
// lent connection, closes one lent beyond its max, one past the max TTL
// when it would hand it out, and those unused for keep.
func TestHostPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closes atomic.Int32
		conn := func() net.Conn {
			a, b := net.Pipe()
			t.Cleanup(func() { _ = b.Close() })
			return countClose{a, &closes}
		}
		o := testOptions(Options{HTTPSharedIdle: 2, HTTPMaxTTL: time.Hour})
		hp := o.pools.pool(&o, "receiver:80", nil, time.Minute)
		if hp != o.pools.pool(&o, "receiver:80", nil, time.Minute) {
			t.Fatal("two pools for one receiver")
		}
		c1, c2, c3 := conn(), conn(), conn()
		now := time.Now()
		hp.lend(c1, now.Add(-2*time.Hour), now) // past the TTL
		hp.lend(c2, now, now)
		hp.lend(c3, now, now) // beyond max: closed
		if n := closes.Load(); n != 1 || hp.idleConns() != 2 {
			t.Fatalf("%d closed, %d idle; want 1 and 2", n, hp.idleConns())
		}
		if got, _ := hp.take(now); got != c2 {
			t.Fatal("take did not return the most recently lent connection")
		}
		if got, _ := hp.take(now); got != nil || closes.Load() != 2 {
			t.Fatalf("take returned %v with %d closed: the old connection must be closed, not handed out", got, closes.Load())
		}
		hp.lend(c2, now, now)
		time.Sleep(30 * time.Second)
		c4 := conn()
		hp.lend(c4, now, time.Now())
		time.Sleep(31 * time.Second) // c2 unused for keep, c4 not
		synctest.Wait()
		if n := closes.Load(); n != 3 || hp.idleConns() != 1 {
			t.Fatalf("%d closed, %d idle after c2's keep; want 3 and 1", n, hp.idleConns())
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := closes.Load(); n != 4 || hp.idleConns() != 0 {
			t.Fatalf("%d closed, %d idle after c4's keep; want 4 and 0", n, hp.idleConns())
		}
	})
}

// TestPoolKey: receivers that differ in address, scheme, TLS name or
// verification do not share connections.
func TestPoolKey(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range []string{
		poolKey("a:80", nil),
		poolKey("a:443", nil),
		poolKey("a:443", &tls.Config{ServerName: "a"}),
		poolKey("a:443", &tls.Config{ServerName: "b"}),
		poolKey("a:443", &tls.Config{ServerName: "a", InsecureSkipVerify: true}), //nolint:gosec // a key, not a connection
	} {
		if keys[k] {
			t.Fatalf("key %q twice", k)
		}
		keys[k] = true
	}
}

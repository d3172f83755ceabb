package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
	"github.com/logplex/logplex/store/storetest"
)

func openConfig(t testing.TB, opts ConfigOptions) *Config {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	c, err := OpenConfig(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openSpool(t testing.TB, opts SpoolOptions) *Spool {
	t.Helper()
	if opts.FlushAge == 0 {
		opts.FlushAge = time.Millisecond
	}
	s, err := NewSpool(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runConfig runs the shared ConfigStore suites.
func runConfig(t *testing.T, open func(t *testing.T) store.ConfigStore) {
	storetest.RunConfig(t, open)
	storetest.RunConfigMore(t, open)
}

// runSpool runs the shared Spool suites.
func runSpool(t *testing.T, open func(t *testing.T, history int) store.Spool) {
	storetest.RunSpool(t, open)
	storetest.RunSpoolMore(t, open)
}

func TestSingle(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("Config", func(t *testing.T) {
		runConfig(t, func(t *testing.T) store.ConfigStore {
			srv.MustDo(t, "FLUSHALL")
			return openConfig(t, ConfigOptions{URL: srv.URL()})
		})
	})
	t.Run("Spool", func(t *testing.T) {
		runSpool(t, func(t *testing.T, history int) store.Spool {
			srv.MustDo(t, "FLUSHALL")
			return openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, History: history})
		})
	})
	t.Run("SpoolWriters", func(t *testing.T) {
		runSpool(t, func(t *testing.T, history int) store.Spool {
			srv.MustDo(t, "FLUSHALL")
			return openSpool(t, SpoolOptions{URLs: []string{srv.URL()}, History: history, Writers: 3})
		})
	})
}

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	t.Run("Config", func(t *testing.T) {
		runConfig(t, func(t *testing.T) store.ConfigStore {
			cl.FlushAll(t)
			return openConfig(t, ConfigOptions{URL: cl.URL()})
		})
	})
	t.Run("ConfigClusterOption", func(t *testing.T) {
		runConfig(t, func(t *testing.T) store.ConfigStore {
			cl.FlushAll(t)
			return openConfig(t, ConfigOptions{URL: cl.Nodes[1].URL(), Cluster: true})
		})
	})
	t.Run("Spool", func(t *testing.T) {
		runSpool(t, func(t *testing.T, history int) store.Spool {
			cl.FlushAll(t)
			return openSpool(t, SpoolOptions{URLs: []string{cl.Nodes[0].URL(), cl.Nodes[2].URL()},
				Cluster: true, History: history})
		})
	})
	t.Run("LoadScansEveryMaster", func(t *testing.T) { testLoadScansEveryMaster(t, cl) })
	t.Run("FollowReadsCurrentValues", func(t *testing.T) { testClusterFollowReadsCurrentValues(t, cl) })
	t.Run("Convergence", func(t *testing.T) {
		if testing.Short() {
			t.Skip("measures 1000 writes")
		}
		cl.FlushAll(t)
		convergence(t, ConfigOptions{URL: cl.URL()})
	})
}

func TestTwoShards(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	runSpool(t, func(t *testing.T, history int) store.Spool {
		a.MustDo(t, "FLUSHALL")
		b.MustDo(t, "FLUSHALL")
		return openSpool(t, SpoolOptions{URLs: []string{a.URL() + "/#frag1", b.URL() + "/#frag2"}, History: history})
	})
}

func TestStatusBoardSuite(t *testing.T) {
	rs := redistest.Start(t)
	storetest.RunStatusBoard(t, func(t *testing.T) store.StatusBoard {
		rs.MustDo(t, "FLUSHALL")
		return openConfig(t, ConfigOptions{URL: rs.URL()})
	})
}

func TestStatusBoardSuiteCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	storetest.RunStatusBoard(t, func(t *testing.T) store.StatusBoard {
		rc.FlushAll(t)
		return openConfig(t, ConfigOptions{URL: rc.URL()})
	})
}

func TestFrameDeduperSuite(t *testing.T) {
	rs := redistest.Start(t)
	storetest.RunFrameDeduper(t, func(t *testing.T) store.FrameDeduper {
		return openConfig(t, ConfigOptions{URL: rs.URL()})
	})
}

// The id and the sender's count share a hash tag: the script runs on a cluster.
func TestFrameDeduperSuiteCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	storetest.RunFrameDeduper(t, func(t *testing.T) store.FrameDeduper {
		rc.FlushAll(t)
		return openConfig(t, ConfigOptions{URL: rc.URL()})
	})
}

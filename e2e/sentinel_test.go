package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// TestSentinelFailoverUnderLoad: the config Redis (history on the same
// master) is managed by a real redis-sentinel, and logplex finds it through
// LOGPLEX_CONFIG_REDIS_URL=redis://<sentinel>?master_set=<name>. The master
// is killed while 100 000 messages flow to an HTTP drain: Sentinel promotes
// the replica, routing never stops (the drain gets every message, no L10),
// config writes resume on the new master, and history written + dropped
// accounts for every message.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	sen := redistest.StartSentinel(t, "logplex", master, time.Second)
	Eventually(t, 30*time.Second, "the replica in sync and known to the sentinel", func() bool {
		info, _ := replica.Do("INFO", "replication")
		reps, _ := sen.Do("SENTINEL", "REPLICAS", "logplex")
		list, _ := reps.([]any)
		return strings.Contains(fmt.Sprint(info), "master_link_status:up") && len(list) == 1
	})
	sink := StartHTTPSink(t)
	key := "sentinel-key"
	p := Start(t, binPath, "all", t.TempDir(),
		[]string{"LOGPLEX_CONFIG_REDIS_URL=" + sen.URL(), "LOGPLEX_AUTH_KEY=" + key},
		"--allow-private-drains", "--http-drain-buffer-size", "200000", "--drain-status-interval", "100ms")
	hdr := map[string]string{"Authorization": "Basic " + key}
	_, tok := channelWithDrain(t, p, hdr, sink.URL)
	written0 := Metric(t, p.Adm, "logplex_history_written_total")
	dropped0 := Metric(t, p.Adm, "logplex_history_dropped_total")

	// 100 000 messages over about 5 s (1 000 every 50 ms), the master
	// killed after the first 10 000: the failover (1 s to declare it down,
	// then the election) happens while messages flow.
	const n = 100_000
	var killed time.Time
	sendTCP(t, p.Syslog, tok, 0, n, func(i int) {
		if i == 10_000 {
			master.Stop()
			killed = time.Now()
		}
		if i%1000 == 0 {
			time.Sleep(50 * time.Millisecond) // pacing the load, not waiting for anything
		}
	})
	Eventually(t, 60*time.Second, "sentinel promoted the replica", func() bool {
		a, err := sen.MasterAddr()
		return err == nil && a == replica.Addr()
	})
	var resumed time.Duration
	Eventually(t, 60*time.Second, "config writes resume on the new master", func() bool {
		r := Do(t, "POST", "http://"+p.API+"/channels", "", "", hdr, []byte(`{"tokens":["after"]}`))
		resumed = time.Since(killed)
		return r.Status == 201
	})
	Eventually(t, 30*time.Second, "the drain received all messages", func() bool {
		d, _, _ := sink.Counts()
		return d == n
	})
	if d, dups, l10 := sink.Counts(); dups != 0 || l10 != 0 {
		t.Fatalf("drain: %d distinct, %d duplicates, %d reported dropped", d, dups, l10)
	}
	var written, dropped float64
	Eventually(t, 30*time.Second, "history written + dropped = sent", func() bool {
		written = Metric(t, p.Adm, "logplex_history_written_total") - written0
		dropped = Metric(t, p.Adm, "logplex_history_dropped_total") - dropped0
		return written+dropped == n
	})
	t.Logf("sent %d: drain got all; history written %.0f + dropped %.0f; config writes back %v after the kill",
		n, written, dropped, resumed.Round(100*time.Millisecond))
}

package e2e

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// splitCluster is 1 control plane and 2 data planes sharing Redis.
type splitCluster struct {
	cp     *Proc
	dps    []*Proc
	key    string // LOGPLEX_AUTH_KEY
	header map[string]string
}

func startSplit(t *testing.T, env []string, extra ...string) *splitCluster {
	t.Helper()
	c := &splitCluster{key: "e2e-master-key"}
	c.header = map[string]string{"Authorization": "Basic " + c.key}
	env = append(env, "LOGPLEX_AUTH_KEY="+c.key)
	dir := t.TempDir()
	c.cp = Start(t, binPath, "controlplane", dir, env, extra...)
	for range 2 {
		c.dps = append(c.dps, Start(t, binPath, "dataplane", dir, env, extra...))
	}
	return c
}

func (c *splitCluster) createChannel(t *testing.T) (string, string) {
	t.Helper()
	r := Do(t, "POST", "http://"+c.cp.API+"/channels", "", "", c.header, []byte(`{"tokens":["app"]}`))
	if r.Status != 201 {
		t.Fatalf("POST /channels: %d %s", r.Status, r.Body)
	}
	var ch struct {
		ChannelID int               `json:"channel_id"`
		Tokens    map[string]string `json:"tokens"`
	}
	JSON(t, r, &ch)
	return fmt.Sprint(ch.ChannelID), ch.Tokens["app"]
}

func postLogs(t *testing.T, dp *Proc, tok string, msgs ...string) int {
	t.Helper()
	var body strings.Builder
	for _, m := range msgs {
		body.WriteString(Frame(m))
	}
	return Do(t, "POST", "http://"+dp.Logs+"/logs", "token", tok,
		map[string]string{"Content-Type": "application/logplex-1"}, []byte(body.String())).Status
}

func (c *splitCluster) history(t *testing.T, ch string, num int) []string {
	t.Helper()
	r := Do(t, "POST", "http://"+c.cp.API+"/v2/sessions", "", "", c.header,
		[]byte(fmt.Sprintf(`{"channel_id":"%s","num":"%d"}`, ch, num)))
	if r.Status != 201 {
		t.Fatalf("session: %d %s", r.Status, r.Body)
	}
	var s struct{ URL string }
	JSON(t, r, &s)
	u := "http://" + c.cp.API + s.URL[strings.Index(s.URL, "/sessions/"):]
	body := Do(t, "GET", u, "", "", nil, nil).Body
	if body == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
}

// runSplitScenario is issue 4's acceptance 1 on whatever Redis env points at.
func runSplitScenario(t *testing.T, c *splitCluster) string {
	ch, tok := c.createChannel(t)
	start := time.Now()
	for i, dp := range c.dps {
		Eventually(t, time.Second, fmt.Sprintf("channel routes on data plane %d", i), func() bool {
			return postLogs(t, dp, tok, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - probe", tok)) == 204
		})
	}
	t.Logf("channel routed on both data planes %v after creation", time.Since(start))
	for i, dp := range c.dps {
		var msgs []string
		for k := range 50 {
			msgs = append(msgs, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.%d - - dp%d msg%d", tok, i+1, i, k))
		}
		if st := postLogs(t, dp, tok, msgs...); st != 204 {
			t.Fatalf("POST /logs on data plane %d: %d", i, st)
		}
	}
	Eventually(t, 5*time.Second, "all 100 messages in history", func() bool {
		n := 0
		for _, l := range c.history(t, ch, 500) {
			if strings.Contains(l, " msg") {
				n++
			}
		}
		return n == 100
	})
	r := Do(t, "DELETE", "http://"+c.cp.API+"/v2/channels/"+ch, "", "", c.header, nil)
	if r.Status != 200 {
		t.Fatalf("DELETE channel: %d %s", r.Status, r.Body)
	}
	start = time.Now()
	for i, dp := range c.dps {
		Eventually(t, time.Second, fmt.Sprintf("channel stops routing on data plane %d", i), func() bool {
			return postLogs(t, dp, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" web.1 - - late") == 401
		})
	}
	t.Logf("deletion seen by both data planes %v after the API answered", time.Since(start))
	return ch
}

// TestSplitPlanesOnRedis: issue 4, acceptance 1.
func TestSplitPlanesOnRedis(t *testing.T) {
	rs := redistest.Start(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
	runSplitScenario(t, c)
}

// TestSplitPlanesOnRedisCluster: issue 4, acceptance 2 (Redis Cluster).
func TestSplitPlanesOnRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rc.URL()}, "--redis-cluster")
	runSplitScenario(t, c)
}

// shardOf is Logplex's md5 ring (docs/logplex.md §6.4), computed here independently.
func shardOf(channel string, sorted []string) int {
	sum := md5.Sum([]byte(channel))
	idx := new(big.Int).SetBytes(sum[:])
	ring := new(big.Int).Lsh(big.NewInt(1), 128)
	interval := new(big.Int).Add(new(big.Int).Div(ring, big.NewInt(int64(len(sorted)))), big.NewInt(1))
	return int(new(big.Int).Div(idx, interval).Int64())
}

// TestTwoHistoryShards: issue 4, acceptance 2 (plain shards): history lands
// on the shard the md5 ring names, and sessions read it from there.
func TestTwoHistoryShards(t *testing.T) {
	cfg := redistest.Start(t)
	s1, s2 := redistest.Start(t), redistest.Start(t)
	urls := []string{s1.URL() + "#frag1", s2.URL() + "#frag2"}
	servers := map[string]*redistest.Server{urls[0]: s1, urls[1]: s2}
	sorted := append([]string(nil), urls...)
	sort.Slice(sorted, func(i, j int) bool { return strings.Split(sorted[i], "#")[1] < strings.Split(sorted[j], "#")[1] })
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + cfg.URL(), "LOGPLEX_SHARD_URLS=" + strings.Join(urls, ",")})
	for range 3 { // three channels: with two shards both are very likely used
		ch := runSplitScenario(t, c)
		want := servers[sorted[shardOf(ch, sorted)]]
		other := s1
		if want == s1 {
			other = s2
		}
		if n, _ := want.Do("LLEN", "ch:"+ch+":spool"); n.(int64) < 102 {
			t.Fatalf("channel %s: %v entries on the ring's shard %s, want the 100 messages and the probes", ch, n, want.Addr())
		}
		if n, _ := other.Do("LLEN", "ch:"+ch+":spool"); n != int64(0) {
			t.Fatalf("channel %s: %v entries on the other shard", ch, n)
		}
	}
}

// TestDrainStatusAcrossDataPlanes: the drain status extension sums what
// every data plane delivered, through Redis.
func TestDrainStatusAcrossDataPlanes(t *testing.T) {
	rs := redistest.Start(t)
	sink := StartHTTPSink(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()}, "--allow-private-drains", "--drain-status-interval", "100ms")
	ch, tok := c.createChannel(t)
	r := Do(t, "POST", "http://"+c.cp.API+"/v2/channels/"+ch+"/drains", "", "", c.header, []byte(`{"url":"`+sink.URL+`"}`))
	if r.Status != 201 {
		t.Fatalf("add drain: %d %s", r.Status, r.Body)
	}
	var d struct{ ID int64 }
	JSON(t, r, &d)
	var st struct {
		Delivered uint64
		Nodes     []struct {
			Node      string
			Delivered uint64
		}
	}
	status := func() {
		r := Do(t, "GET", fmt.Sprintf("http://%s/v3/channels/%s/drains/%d/status", c.cp.V3, ch, d.ID), "", "", c.header, nil)
		if r.Status != 200 {
			t.Fatalf("status: %d %s", r.Status, r.Body)
		}
		JSON(t, r, &st)
	}
	// a node reports only drains it runs: wait until both run it
	Eventually(t, 10*time.Second, "both data planes run the drain", func() bool { status(); return len(st.Nodes) == 2 })
	for i, dp := range c.dps {
		for k := range 3 * (i + 1) {
			if postLogs(t, dp, tok, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - seq=%d", tok, 10*i+k)) != 204 {
				t.Fatal("POST /logs refused")
			}
		}
	}
	Eventually(t, 10*time.Second, "status sums both data planes", func() bool {
		status()
		got, _, _ := sink.Counts()
		return got == 9 && st.Delivered == 9 && len(st.Nodes) == 2 && st.Nodes[0].Delivered+st.Nodes[1].Delivered == 9 &&
			st.Nodes[0].Delivered != st.Nodes[1].Delivered // 3 from one node, 6 from the other
	})
	t.Logf("drain status: %d delivered over %d nodes", st.Delivered, len(st.Nodes))
}

// TestAllOnRedisBannerCredentialWorks: `logplex all` on Redis prints a
// bootstrap credential that works at once (the banner waits until the
// credential has come back through the change feed). Each start uses a
// fresh data dir, so each creates a new credential.
func TestAllOnRedisBannerCredentialWorks(t *testing.T) {
	rs := redistest.Start(t)
	for i := 0; i < 3; i++ {
		p := Start(t, binPath, "all", t.TempDir(), []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
		if p.User == "" {
			t.Fatalf("start %d: no credential in the banner:\n%s", i, p.Output())
		}
		r := Do(t, "POST", "http://"+p.API+"/channels", p.User, p.Pass, nil, []byte(`{"tokens":["app"]}`))
		if r.Status != 201 {
			t.Fatalf("start %d: POST /channels with the banner's credential right after the banner: %d %s", i, r.Status, r.Body)
		}
		p.Stop()
	}
}

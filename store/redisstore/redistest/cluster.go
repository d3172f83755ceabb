package redistest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters only (no replicas) on loopback.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n (at least 3) cluster-enabled servers, joins them
// with `redis-cli --cluster create` and waits for cluster_state:ok on every
// node. The nodes are stopped at t.Cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	cli := lookBin(t, "redis-cli")
	dir := t.TempDir()
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, startIn(t, dir, true, nil))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t)
	return c
}

// waitOK waits until every node reports cluster_state:ok and knows all slots.
func (c *Cluster) waitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			v, err := s.Do("CLUSTER", "INFO")
			info, _ := v.(string)
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_slots_ok:16384") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Nodes))) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ok within 20s: %q %v", info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Addrs are the nodes' "127.0.0.1:<port>" addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// URL is "redis://<first node>?addr=<second>&addr=<third>…": every node as
// a seed, the form rueidis (and redisstore) read as a cluster.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr()
	for i, s := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + s.Addr()
	}
	return u
}

// FlushAll empties every node.
func (c *Cluster) FlushAll(t testing.TB) {
	t.Helper()
	for _, s := range c.Nodes {
		s.MustDo(t, "FLUSHALL")
	}
}

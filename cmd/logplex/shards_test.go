package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// logplex shards: usage errors exit 2, an unreachable shard exits 1 with the
// counts so far printed.
func TestShardsExitStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, c := range []struct {
		args []string
		want int
		out  string
	}{
		{nil, 2, ""},
		{[]string{"shuffle"}, 2, ""},
		{[]string{"plan", "--from", dead}, 2, ""},
		{[]string{"migrate", "--from", dead, "--to", dead, "--log-history", "0"}, 2, ""},
		{[]string{"plan", "--from", dead, "--to", dead + "/#2," + dead + "/1#1", "--timeout", "200ms"}, 1, ""},
		{[]string{"migrate", "--from", dead, "--to", dead + "/1", "--timeout", "200ms"}, 1, "channels moved 0"},
		{[]string{"plan", "--from", "redis+cluster://" + ln.Addr().String(), "--to", dead}, 1, ""},
	} {
		var stdout, stderr bytes.Buffer
		if got := runShards(c.args, &stdout, &stderr); got != c.want || !strings.Contains(stdout.String(), c.out) {
			t.Errorf("shards %q: exit %d, want %d; stdout %q stderr %q", c.args, got, c.want, stdout.String(), stderr.String())
		}
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/logplex/logplex/store/redisstore/redistest"
)

// TestFollowsLogplexWrites: a second writer of the config Redis uses
// Logplex's own commands (INCR channel_index, HMSET of the channel, token
// and credential, as a Logplex node or an operator does; no change-stream
// entry). With the full reload an hour away, logplex routes the new token
// and accepts the new credential at once.
func TestFollowsLogplexWrites(t *testing.T) {
	rs := redistest.Start(t)
	p := Start(t, binPath, "all", t.TempDir(), []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()},
		"--resync-interval", "1h")
	Eventually(t, 10*time.Second, "keyspace notifications enabled", func() bool {
		return Metric(t, p.Adm, "logplex_config_notifications_active") == 1
	})
	id := fmt.Sprint(rs.MustDo(t, "INCR", "channel_index"))
	start := time.Now()
	rs.MustDo(t, "HMSET", "ch:"+id+":data", "name", "", "flags", "")
	rs.MustDo(t, "HMSET", "tok:t.other-writer:data", "ch", id, "name", "app")
	rs.MustDo(t, "HMSET", "cred:OTHER", "pass", "plain-secret", "name", "ops", "full_api", "1", "channel", "any")
	hdr := map[string]string{"Content-Type": "application/logplex-1"}
	frame := []byte(Frame("<134>1 2012-12-10T03:00:48.123456Z host t.other-writer web.1 - - written by another writer"))
	var tokenAt, credAt time.Duration
	Eventually(t, 10*time.Second, "the token and credential written by HMSET", func() bool {
		if tokenAt == 0 && Do(t, "POST", "http://"+p.Logs+"/logs", "token", "t.other-writer", hdr, frame).Status == 204 {
			tokenAt = time.Since(start)
		}
		if credAt == 0 && Do(t, "GET", "http://"+p.API+"/v2/channels/"+id, "OTHER", "plain-secret", nil, nil).Status == 200 {
			credAt = time.Since(start)
		}
		return tokenAt > 0 && credAt > 0
	})
	t.Logf("after the HMSETs: token routed in %v, credential accepted in %v (full reload: 1h)",
		tokenAt.Round(time.Millisecond), credAt.Round(time.Millisecond))
}

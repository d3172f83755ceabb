package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store"
)

// firstSeen: KEYS[1] the id's key, KEYS[2] the scope's count; ARGV[1] ttl
// seconds, ARGV[2] limit (0: none). Returns 0 seen, 1 new, -1 over the limit.
// Both keys share the scope's hash tag, so this runs on one cluster node.
var firstSeen = rueidis.NewLuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local lim = tonumber(ARGV[2])
if lim > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
  if n > lim then return -1 end
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1`)

// FirstSeen implements store.FrameDeduper with one script call: the id is
// logplex:frame:{<scope>}:<id> with the ttl, the scope's count of ids this
// window logplex:frames:{<scope>}, expiring ttl after its first id.
func (c *Config) FirstSeen(ctx context.Context, scope, id string, ttl time.Duration, limit int) (bool, error) {
	cl, _, err := c.client()
	if err != nil {
		return false, err
	}
	secs := strconv.FormatInt(max(int64((ttl+time.Second-1)/time.Second), 1), 10)
	tag := "{" + scope + "}"
	cctx, cancel := c.call(ctx)
	defer cancel()
	n, err := firstSeen.Exec(cctx, cl, []string{"logplex:frame:" + tag + ":" + id, "logplex:frames:" + tag},
		[]string{secs, strconv.Itoa(max(limit, 0))}).AsInt64()
	if err != nil {
		return false, failure(ctx, "frame id script", err)
	}
	switch n {
	case 0:
		return false, nil
	case -1:
		return false, store.ErrFrameIDLimit
	}
	return true, nil
}

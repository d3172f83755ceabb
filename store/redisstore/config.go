package redisstore

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// StreamKey is the change feed's stream.
const StreamKey = "logplex:config:changes"

// ConfigOptions configure OpenConfig. Zero values mean the defaults.
type ConfigOptions struct {
	// URL is the config Redis (LOGPLEX_CONFIG_REDIS_URL):
	// redis://[:pass@]host[:port][/db]. A cluster: redis+cluster://host:port,
	// several seeds (?addr=host:port&addr=… or Seeds), or Cluster.
	URL string
	// Seeds are more host:port addresses of the same Redis Cluster.
	Seeds []string
	// Cluster treats URL as a Redis Cluster seed. Default: only when the URL
	// or Seeds say so.
	Cluster bool
	// Timeout bounds dials, connection writes and each call (default 2 s).
	Timeout time.Duration
	// FollowBlock is how long one XREAD blocks (default 5 s).
	FollowBlock time.Duration
	// FeedMaxLen is the stream's approximate length cap (default 100000).
	FeedMaxLen int64
	// ScanCount is the SCAN COUNT hint and HGETALL batch of Load (default 1000).
	ScanCount int
	// FollowOtherWriters enables keyspace notifications on the server and
	// subscribes to them at the first Load, so that Follow delivers what
	// other writers (Logplex nodes, redis-cli) change (notify.go). For the
	// serving roles; a one-off command (cred, check) leaves the server's
	// settings alone.
	FollowOtherWriters bool
}

// setDefaults fills zero (and negative) fields with their defaults.
func (o *ConfigOptions) setDefaults() {
	o.Timeout = cmp.Or(max(o.Timeout, 0), defaultTimeout)
	o.FollowBlock = cmp.Or(max(o.FollowBlock, 0), 5*time.Second)
	o.FeedMaxLen = cmp.Or(max(o.FeedMaxLen, 0), 100000)
	o.ScanCount = cmp.Or(max(o.ScanCount, 0), 1000)
}

// Config is the Redis store.ConfigStore. It is safe for concurrent use.
type Config struct {
	opts  ConfigOptions
	conn  *conn
	log   *slog.Logger
	notes *notifier // keyspace notifications (notify.go)

	bg       context.Context // the store's life: background work ends with Close
	bgCancel context.CancelFunc
}

var _ store.ConfigStore = (*Config)(nil)

// OpenConfig connects to the config Redis. Only a bad URL fails: an
// unreachable Redis makes calls fail with store.ErrUnavailable until it
// answers, so a process can start before its Redis.
func OpenConfig(_ context.Context, opts ConfigOptions) (*Config, error) {
	opts.setDefaults()
	t, err := parseTarget(opts.URL, opts.Seeds, opts.Cluster, opts.Timeout)
	if err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	return &Config{opts: opts, conn: newConn(t), notes: newNotifier(t.opt.SelectDB), bg: bg, bgCancel: cancel,
		log: slog.Default().With("component", "redisstore", "redis", t.name)}, nil
}

// client returns the connected client and whether it talks to a cluster.
func (c *Config) client() (rueidis.Client, bool, error) {
	cl, err := c.conn.get()
	if err != nil {
		return nil, false, err
	}
	return cl, cl.Mode() == rueidis.ClientModeCluster, nil
}

// call bounds one round trip by the call timeout.
func (c *Config) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// Incr implements store.ConfigStore with INCR.
func (c *Config) Incr(ctx context.Context, key string) (int64, error) {
	cl, _, err := c.client()
	if err != nil {
		return 0, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	n, err := cl.Do(cctx, cl.B().Incr().Key(key).Build()).AsInt64()
	if err != nil {
		return 0, failure(ctx, "INCR "+key, err)
	}
	return n, nil
}

// PutSession implements store.ConfigStore with SETEX session:<id>; the TTL
// is rounded up to whole seconds.
func (c *Config) PutSession(ctx context.Context, id string, body []byte, ttl time.Duration) error {
	cl, _, err := c.client()
	if err != nil {
		return err
	}
	secs := max(int64((ttl+time.Second-1)/time.Second), 1)
	cctx, cancel := c.call(ctx)
	defer cancel()
	// a copy: rueidis may still be writing a timed-out command's arguments
	// after Do returns, and the caller may reuse body by then (sessions are
	// rare; the bus and the history writer keep their buffers instead)
	err = cl.Do(cctx, cl.B().Setex().Key(sessionKey(id)).Seconds(secs).Value(string(body)).Build()).Error()
	if err != nil {
		return failure(ctx, "SETEX session", err)
	}
	return nil
}

// Session implements store.ConfigStore with GET session:<id>.
func (c *Config) Session(ctx context.Context, id string) ([]byte, error) {
	cl, _, err := c.client()
	if err != nil {
		return nil, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	b, err := cl.Do(cctx, cl.B().Get().Key(sessionKey(id)).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, failure(ctx, "GET session", err)
	}
	return b, nil
}

func sessionKey(id string) string { return "session:" + id }

// Ping implements store.ConfigStore.
func (c *Config) Ping(ctx context.Context) error {
	cl, _, err := c.client()
	if err != nil {
		return err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	if err := cl.Do(cctx, cl.B().Ping().Build()).Error(); err != nil {
		return failure(ctx, "PING", err)
	}
	return nil
}

// Close implements store.ConfigStore; calls after Close fail.
func (c *Config) Close() error {
	c.bgCancel()
	c.conn.close()
	return nil
}

// Write implements store.ConfigStore: the changes and their feed entry in
// one MULTI/EXEC on a server; key by key, then the entry, on a cluster
// (package doc). Without changes it writes nothing and returns the feed's
// current version.
func (c *Config) Write(ctx context.Context, changes ...config.Change) (string, error) {
	cl, cluster, err := c.client()
	if err != nil {
		return "", err
	}
	if len(changes) == 0 {
		return c.lastID(ctx, cl)
	}
	if cluster {
		return c.writeEach(ctx, cl, changes)
	}
	cmds := make(rueidis.Commands, 0, 3*len(changes)+3)
	cmds = append(cmds, cl.B().Multi().Build())
	for _, ch := range changes {
		cmds = appendStore(cl, cmds, ch)
	}
	cmds = append(cmds, setEpoch(cl), c.xadd(cl, changes), cl.B().Exec().Build())
	cctx, cancel := c.call(ctx)
	defer cancel()
	res := cl.DoMulti(cctx, cmds...)
	replies, err := execReplies(res)
	if err != nil {
		return "", failure(ctx, "config write", err)
	}
	id, err := replies[len(replies)-1].ToString()
	if err != nil {
		return "", failure(ctx, "XADD", err)
	}
	return id, nil
}

// execReplies checks a MULTI … EXEC pipeline and returns EXEC's replies.
func execReplies(res []rueidis.RedisResult) ([]rueidis.RedisMessage, error) {
	for _, r := range res[:len(res)-1] {
		if err := r.Error(); err != nil {
			return nil, err
		}
	}
	replies, err := res[len(res)-1].ToArray()
	if err != nil {
		return nil, err
	}
	for _, r := range replies {
		if err := r.Error(); err != nil {
			return nil, err
		}
	}
	if len(replies) == 0 {
		return nil, errors.New("empty EXEC reply")
	}
	return replies, nil
}

// appendStore appends the commands that store one change: SETBIT for the
// control rod, DEL for a delete, DEL+HMSET for a whole hash, HMSET alone
// for a merge, and PEXPIRE after it when the change has a TTL.
func appendStore(cl rueidis.Client, cmds rueidis.Commands, ch config.Change) rueidis.Commands {
	switch {
	case ch.Key == config.ControlRodKey:
		return append(cmds, cl.B().Setbit().Key(ch.Key).Offset(0).Value(rodBit(ch.Fields)).Build())
	case len(ch.Fields) == 0 && ch.Merge:
		return cmds // merging nothing changes nothing
	case len(ch.Fields) == 0:
		return append(cmds, cl.B().Del().Key(ch.Key).Build())
	}
	hm := cl.B().Hmset().Key(ch.Key).FieldValue()
	for _, f := range sortedFields(ch.Fields) {
		hm = hm.FieldValue(f, ch.Fields[f])
	}
	if !ch.Merge {
		cmds = append(cmds, cl.B().Del().Key(ch.Key).Build())
	}
	cmds = append(cmds, hm.Build())
	if ch.TTL > 0 {
		cmds = append(cmds, cl.B().Pexpire().Key(ch.Key).Milliseconds(max(ch.TTL.Milliseconds(), 1)).Build())
	}
	return cmds
}

func rodBit(h config.Hash) int64 {
	if h["0"] == "1" {
		return 1
	}
	return 0
}

func sortedFields(h config.Hash) []string {
	fs := make([]string, 0, len(h))
	for f := range h {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return fs
}

// xadd builds the feed entry of changes (package doc).
func (c *Config) xadd(cl rueidis.Client, changes []config.Change) rueidis.Completed {
	fv := cl.B().Xadd().Key(StreamKey).Maxlen().Almost().Threshold(strconv.FormatInt(c.opts.FeedMaxLen, 10)).
		Id("*").FieldValue()
	for _, ch := range changes {
		fv = fv.FieldValue("k", ch.Key).FieldValue("h", encodeHash(ch))
	}
	return fv.Build()
}

// writeEach is Write on a cluster: each key in its own MULTI (one slot),
// then the feed entry once every key write is acknowledged, then the epoch
// (SETNX; a failure is only logged: the write is done, and the next
// watcher to load the config non-empty writes the epoch). Nothing goes
// between the keys and their feed entry, where a round trip would widen
// the window in which a follower hears of a key (keyspace notification)
// before its entry (notify.go).
func (c *Config) writeEach(ctx context.Context, cl rueidis.Client, changes []config.Change) (string, error) {
	for _, ch := range changes {
		cmds := appendStore(cl, rueidis.Commands{cl.B().Multi().Build()}, ch)
		cmds = append(cmds, cl.B().Exec().Build())
		cctx, cancel := c.call(ctx)
		_, err := execReplies(cl.DoMulti(cctx, cmds...))
		cancel()
		if err != nil {
			return "", failure(ctx, "config write "+ch.Key, err)
		}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	id, err := cl.Do(cctx, c.xadd(cl, changes)).ToString()
	if err != nil {
		return "", failure(ctx, "XADD", err)
	}
	if err := cl.Do(cctx, setEpoch(cl)).Error(); err != nil {
		c.log.Warn("config epoch not written; the next full load writes it", "err", failure(ctx, "SETNX epoch", err))
	}
	return id, nil
}

// lastID returns the id of the feed's newest entry, "0-0" when it is empty.
func (c *Config) lastID(ctx context.Context, cl rueidis.Client) (string, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	es, err := cl.Do(cctx, cl.B().Xrevrange().Key(StreamKey).End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil {
		return "", failure(ctx, "XREVRANGE", err)
	}
	if len(es) == 0 {
		return "0-0", nil
	}
	return es[0].ID, nil
}

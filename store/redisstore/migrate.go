package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ShardMove counts the channels whose history moves from one shard to
// another.
type ShardMove struct {
	From, To string // shard names (host:port/db)
	Channels int
}

// ShardPlan is what PlanShards found.
type ShardPlan struct {
	Moves     []ShardMove // in (From, To) order of the shard lists
	Unchanged int         // channels whose shard stays the same
	Stray     int         // keys found on an old shard the old ring does not give them (left alone)

	moves []channelMove
}

type channelMove struct {
	channel  string
	from, to int // indexes into the plan's shard sets
}

// MigrateOptions configure MigrateShards.
type MigrateOptions struct {
	// From and To are the old and the new shard lists, as
	// LOGPLEX_SHARD_URLS (any order: sorted as the ring sorts them).
	From, To []string
	// History is the length the merged lists are trimmed to (default 1500,
	// as the router's).
	History int
	// Expiry, when set, is the TTL given to merged lists; zero keeps the
	// larger of the destination's and the source's TTL.
	Expiry time.Duration
	// DeleteSource deletes a source list once merged, if it is unchanged
	// since it was read.
	DeleteSource bool
	// Timeout bounds dials and each command (default 2 s).
	Timeout time.Duration
}

// MigrateCounts are MigrateShards's counts.
type MigrateCounts struct {
	Channels int // channels whose shard changes (source list found)
	Merged   int // channels whose destination list was written
	Copied   int // source entries stored on the destination
	Present  int // source entries the destination already held
	Trimmed  int // source entries left out by the trim
	Deleted  int // source lists deleted (DeleteSource)
	Kept     int // source lists not deleted because they changed meanwhile
}

// shardSet is the connections to one shard list, in ring order.
type shardSet struct {
	names []string
	conns []*conn
	ring  ring
}

func openShardSet(urls []string, timeout time.Duration) (*shardSet, error) {
	if len(urls) == 0 {
		return nil, errors.New("redisstore: no shard URLs")
	}
	s := &shardSet{ring: newRing(len(urls))}
	for _, u := range SortShardURLs(urls) {
		t, err := parseTarget(u, nil, false, timeout)
		if err != nil {
			s.close()
			return nil, err
		}
		if t.cluster {
			s.close()
			return nil, fmt.Errorf("redisstore: %s is a Redis Cluster: a cluster moves its keys itself (redis-cli --cluster reshard)", t.name)
		}
		s.names = append(s.names, t.name+"/"+strconv.Itoa(t.opt.SelectDB))
		s.conns = append(s.conns, newConn(t))
	}
	return s, nil
}

func (s *shardSet) close() {
	for _, c := range s.conns {
		c.close()
	}
}

// scanChannels lists the channels with a history list on shard i.
func (s *shardSet) scanChannels(ctx context.Context, i int, timeout time.Duration) ([]string, error) {
	cl, err := s.conns[i].get()
	if err != nil {
		return nil, err
	}
	var out []string
	cursor := uint64(0)
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		e, err := cl.Do(cctx, cl.B().Scan().Cursor(cursor).Match("ch:*:spool").Count(1000).Build()).AsScanEntry()
		cancel()
		if err != nil {
			return nil, failure(ctx, "SCAN on "+s.names[i], err)
		}
		for _, k := range e.Elements {
			id, ok := strings.CutPrefix(k, "ch:")
			if id, ok2 := strings.CutSuffix(id, ":spool"); ok && ok2 && id != "" {
				out = append(out, id)
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return out, nil
		}
	}
}

// PlanShards scans the old shards for history lists and tells, for each
// pair of old and new shard, how many channels move. Only keys on the shard
// the old ring gives them count; others are Stray.
func PlanShards(ctx context.Context, from, to []string, timeout time.Duration) (*ShardPlan, error) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	fs, err := openShardSet(from, timeout)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	defer fs.close()
	ts, err := openShardSet(to, timeout)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	defer ts.close()
	return plan(ctx, fs, ts, timeout)
}

func plan(ctx context.Context, fs, ts *shardSet, timeout time.Duration) (*ShardPlan, error) {
	p := &ShardPlan{}
	counts := map[[2]int]int{}
	for i := range fs.names {
		chans, err := fs.scanChannels(ctx, i, timeout)
		if err != nil {
			return nil, err
		}
		for _, ch := range chans {
			if fs.ring.shard(ch) != i {
				p.Stray++
				continue
			}
			j := ts.ring.shard(ch)
			if ts.names[j] == fs.names[i] {
				p.Unchanged++
				continue
			}
			counts[[2]int{i, j}]++
			p.moves = append(p.moves, channelMove{channel: ch, from: i, to: j})
		}
	}
	for i := range fs.names {
		for j := range ts.names {
			if n := counts[[2]int{i, j}]; n > 0 {
				p.Moves = append(p.Moves, ShardMove{From: fs.names[i], To: ts.names[j], Channels: n})
			}
		}
	}
	return p, nil
}

// MigrateShards merges the history of every channel whose shard changes
// from opts.From to opts.To into its new shard (see the package doc,
// "Changing history shards"). It stops at the first error, returning the counts so far.
func MigrateShards(ctx context.Context, opts MigrateOptions) (MigrateCounts, error) {
	var c MigrateCounts
	if opts.History <= 0 {
		opts.History = 1500
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	fs, err := openShardSet(opts.From, opts.Timeout)
	if err != nil {
		return c, fmt.Errorf("--from: %w", err)
	}
	defer fs.close()
	ts, err := openShardSet(opts.To, opts.Timeout)
	if err != nil {
		return c, fmt.Errorf("--to: %w", err)
	}
	defer ts.close()
	p, err := plan(ctx, fs, ts, opts.Timeout)
	if err != nil {
		return c, err
	}
	for _, m := range p.moves {
		src, err := fs.conns[m.from].get()
		if err != nil {
			return c, err
		}
		dst, err := ts.conns[m.to].get()
		if err != nil {
			return c, err
		}
		if err := migrateChannel(ctx, src, dst, m.channel, opts, &c); err != nil {
			return c, fmt.Errorf("channel %s (%s to %s): %w", m.channel, fs.names[m.from], ts.names[m.to], err)
		}
	}
	return c, nil
}

func migrateChannel(ctx context.Context, src, dst rueidis.Client, channel string, opts MigrateOptions, c *MigrateCounts) error {
	key := spoolKey(channel)
	do := func(cl rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		return cl.Do(cctx, cmd)
	}
	srcList, err := do(src, src.B().Lrange().Key(key).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		return failure(ctx, "LRANGE (source)", err)
	}
	if len(srcList) == 0 {
		return nil // expired since the scan
	}
	c.Channels++
	srcTTL, err := do(src, src.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		return failure(ctx, "PTTL (source)", err)
	}
	dstList, err := do(dst, dst.B().Lrange().Key(key).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		return failure(ctx, "LRANGE (destination)", err)
	}
	merged, fromSrc, present := mergeHistory(dstList, srcList, opts.History)
	c.Present += present
	added := len(srcList) - present
	if added > 0 && !slices.Contains(fromSrc, true) { // all older than a full list
		c.Trimmed += added
	} else if added > 0 {
		ttl, fixed := srcTTL, "0"
		if opts.Expiry > 0 {
			ttl, fixed = opts.Expiry.Milliseconds(), "1"
		}
		args := make([]string, 0, 4+len(dstList)+len(merged))
		args = append(args, strconv.Itoa(opts.History), strconv.FormatInt(ttl, 10), fixed, strconv.Itoa(len(dstList)))
		args = append(args, dstList...)
		args = append(args, merged...)
		if testHookBeforeMerge != nil {
			testHookBeforeMerge(channel)
		}
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		pushed, err := mergeScript.Exec(cctx, dst, []string{key}, args).AsInt64()
		cancel()
		if err != nil {
			return failure(ctx, "merge script", err)
		}
		kept := 0
		for i := 0; i < len(merged) && i < opts.History-int(pushed); i++ {
			if fromSrc[i] {
				kept++
			}
		}
		c.Merged++
		c.Copied += kept
		c.Trimmed += added - kept
	}
	if opts.DeleteSource {
		cctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		n, err := deleteScript.Exec(cctx, src, []string{key}, []string{strconv.Itoa(len(srcList)), srcList[0]}).AsInt64()
		cancel()
		if err != nil {
			return failure(ctx, "delete source", err)
		}
		if n == 1 {
			c.Deleted++
		} else {
			c.Kept++
		}
	}
	return nil
}

// testHookBeforeMerge, set by tests, runs between the destination's
// snapshot and the merge script.
var testHookBeforeMerge func(channel string)

// mergeScript applies a merge computed from a snapshot of the destination.
// KEYS[1] the list; ARGV: history, ttl ms, fixed (1: set ttl; 0: keep the
// larger of the list's and ttl), n = snapshot length, the n snapshot
// entries, then the merged entries. The current list is X followed by a
// prefix of the snapshot (X pushed since); it becomes X followed by the
// merge, trimmed to history. Returns len(X).
var mergeScript = rueidis.NewLuaScript(`
local key = KEYS[1]
local hist = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local fixed = ARGV[3] == '1'
local nd = tonumber(ARGV[4])
local cur = redis.call('LRANGE', key, 0, -1)
local pushed = #cur
for s = 0, #cur - 1 do
  local len = #cur - s
  if len <= nd then
    local ok = true
    for i = 1, len do
      if cur[s + i] ~= ARGV[4 + i] then ok = false; break end
    end
    if ok then pushed = s; break end
  end
end
local old = redis.call('PTTL', key)
local out = {}
for i = 1, pushed do
  if #out >= hist then break end
  out[#out + 1] = cur[i]
end
for i = 5 + nd, #ARGV do
  if #out >= hist then break end
  out[#out + 1] = ARGV[i]
end
redis.call('DEL', key)
for i = 1, #out, 1000 do
  redis.call('RPUSH', key, unpack(out, i, math.min(i + 999, #out)))
end
if #out > 0 then
  if fixed then
    redis.call('PEXPIRE', key, ttl)
  else
    local t = ttl
    if old > t then t = old end
    if t > 0 then redis.call('PEXPIRE', key, t) end
  end
end
return pushed
`)

// deleteScript deletes KEYS[1] if its length is ARGV[1] and its head
// ARGV[2]: unchanged since it was read.
var deleteScript = rueidis.NewLuaScript(`
if redis.call('LLEN', KEYS[1]) == tonumber(ARGV[1]) and redis.call('LINDEX', KEYS[1], 0) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// mergeHistory merges src into dst (both newest first; see the package
// doc) and trims the result to hist entries. fromSrc[i]
// tells whether out[i] came from src; present counts src entries dst
// already held.
func mergeHistory(dst, src []string, hist int) (out []string, fromSrc []bool, present int) {
	have := make(map[string]int, len(dst))
	for _, e := range dst {
		have[e]++
	}
	add := make([]string, 0, len(src))
	for _, e := range src {
		if have[e] > 0 {
			have[e]--
			present++
			continue
		}
		add = append(add, e)
	}
	dts, ats := timestamps(dst), timestamps(add)
	n := min(len(dst)+len(add), hist)
	out, fromSrc = make([]string, 0, n), make([]bool, 0, n)
	i, k := 0, 0
	for len(out) < n {
		takeSrc := i == len(dst) ||
			(k < len(add) && !ats[k].IsZero() && !dts[i].IsZero() && ats[k].After(dts[i]))
		if takeSrc {
			out, fromSrc = append(out, add[k]), append(fromSrc, true)
			k++
		} else {
			out, fromSrc = append(out, dst[i]), append(fromSrc, false)
			i++
		}
	}
	return out, fromSrc, present
}

// timestamps parses each entry's RFC 5424 timestamp; an entry without one
// takes the nearest older entry's (the list is newest first); zero when
// there is none.
func timestamps(list []string) []time.Time {
	ts := make([]time.Time, len(list))
	var last time.Time
	for i := len(list) - 1; i >= 0; i-- {
		if t, ok := entryTime(list[i]); ok {
			last = t
		}
		ts[i] = last
	}
	return ts
}

// entryTime reads the timestamp of "<pri>1 TIMESTAMP host app proc …".
func entryTime(e string) (time.Time, bool) {
	_, rest, ok := strings.Cut(e, " ")
	if !ok {
		return time.Time{}, false
	}
	field, _, _ := strings.Cut(rest, " ")
	t, err := time.Parse(time.RFC3339Nano, field)
	return t, err == nil
}

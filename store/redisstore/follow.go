package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// feedCount is the most entries one XREAD returns.
const feedCount = 1000

// mergedHash is the h of a merged key in a feed entry (encodeHash).
const mergedHash = "merged"

// Follow implements store.ConfigStore: XREAD BLOCK from the version on,
// fn once per feed entry, and once per set of keys that keyspace
// notifications named (notify.go). It checks for a gap first, and again
// whenever it reads a full batch (it is behind and trimming could overtake
// it).
func (c *Config) Follow(ctx context.Context, from string, fn func([]config.Change, string)) error {
	if from == "" {
		from = "0-0"
	}
	check := true
	f := &following{c: c, from: from, fn: fn, sent: map[string]config.Hash{}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cl, cluster, err := c.client()
		if err != nil {
			return err
		}
		if check {
			if err := c.checkGap(ctx, cl, f.from); err != nil {
				return err
			}
		}
		entries, err := c.readFeedWoken(ctx, cl, f.from)
		if err == nil {
			err = f.apply(ctx, cl, cluster, entries)
		}
		if check = len(entries) == feedCount; err == nil && !check { // caught up: the noted keys
			err = f.noted(ctx, cl, cluster)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// following is one Follow: its position, and the value last handed to fn
// of each key, so that a keyspace notification of logplex's own write (the
// stream delivered it already) costs a read but no second delivery.
type following struct {
	c    *Config
	from string
	fn   func([]config.Change, string)
	sent map[string]config.Hash // bounded by maxSent
}

// maxSent bounds following.sent; beyond it the record starts afresh (a
// noted key then may be delivered twice, which is harmless).
const maxSent = 100_000

// apply hands fn the changes of each entry and moves from past them.
func (f *following) apply(ctx context.Context, cl rueidis.Client, cluster bool, entries []rueidis.XRangeSlice) error {
	if len(entries) == 0 {
		return nil
	}
	batch, err := f.c.decodeEntries(ctx, cl, cluster, entries)
	if err != nil {
		return err
	}
	for i, e := range entries {
		f.record(batch[i])
		f.fn(batch[i], e.ID)
	}
	f.from = entries[len(entries)-1].ID
	return nil
}

func (f *following) record(changes []config.Change) {
	if len(f.sent)+len(changes) > maxSent {
		clear(f.sent)
	}
	for _, ch := range changes {
		f.sent[ch.Key] = ch.Fields
	}
}

// FeedTime implements store.TimedFeed: a feed version is a stream id whose
// first part is the Redis server's time of the XADD, in milliseconds.
func (c *Config) FeedTime(version string) (time.Time, bool) {
	ms, _, _ := strings.Cut(version, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// readFeedWoken is one XREAD BLOCK of FollowBlock, ended early (without
// entries) when a keyspace notification arrives.
func (c *Config) readFeedWoken(ctx context.Context, cl rueidis.Client, from string) ([]rueidis.XRangeSlice, error) {
	if !c.notes.active.Load() {
		return c.readFeedBlock(ctx, cl, from, c.opts.FollowBlock)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := cancelOnWake(c.notes.wake, cancel)
	entries, err := c.readFeedBlock(rctx, cl, from, c.opts.FollowBlock)
	stop()
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		return nil, nil // woken
	}
	return entries, err
}

// cancelOnWake calls cancel when a wake-up arrives, until stop. stop
// returns once the watching goroutine has ended, so a wake-up it takes
// was sent before stop returned: its key is noted by then, and the noted
// keys that Follow reads after the XREAD include it. A goroutine that
// outlived stop could take the wake-up of a key noted after that read,
// and the key would wait for the next feed entry or the XREAD's timeout.
func cancelOnWake(wake <-chan struct{}, cancel func()) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-wake:
			cancel()
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// readFeedBlock is one XREAD, blocking up to block (0: not at all),
// shortened to end before ctx's deadline; no entries is not an error.
func (c *Config) readFeedBlock(ctx context.Context, cl rueidis.Client, from string, block time.Duration) ([]rueidis.XRangeSlice, error) {
	if block <= 0 {
		cctx, cancel := c.call(ctx)
		defer cancel()
		xs, err := cl.Do(cctx, cl.B().Xread().Count(feedCount).Streams().Key(StreamKey).Id(from).Build()).AsXReadSlices()
		if rueidis.IsRedisNil(err) {
			return nil, nil
		}
		if err != nil {
			return nil, failure(ctx, "XREAD", err)
		}
		return xs[StreamKey], nil
	}
	if dl, ok := ctx.Deadline(); ok {
		block = min(block, time.Until(dl))
	}
	block = max(block, time.Millisecond) // BLOCK 0 would wait forever
	cctx, cancel := context.WithTimeout(ctx, block+c.opts.Timeout)
	defer cancel()
	// UnblockOnCancel: a cancelled ctx ends the wait at once (CLIENT UNBLOCK)
	// even when ctx has a deadline, and the connection is kept.
	cmd := cl.B().Xread().Count(feedCount).Block(block.Milliseconds()).Streams().Key(StreamKey).Id(from).
		Build().UnblockOnCancel()
	xs, err := cl.Do(cctx, cmd).AsXReadSlices()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, failure(ctx, "XREAD", err)
	}
	return xs[StreamKey], nil
}

// checkGap returns store.ErrGap when entries after from may be gone: from
// itself is no longer in the stream (trimmed, or the stream was deleted),
// or, for "0-0", the stream ever lost an entry (entries-added > length;
// Redis ≥ 7 reports it).
func (c *Config) checkGap(ctx context.Context, cl rueidis.Client, from string) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	if from == "0-0" {
		info, err := cl.Do(cctx, cl.B().XinfoStream().Key(StreamKey).Build()).AsMap()
		if re, ok := rueidis.IsRedisErr(err); ok && strings.Contains(re.Error(), "no such key") {
			return nil
		}
		if err != nil {
			return failure(ctx, "XINFO STREAM", err)
		}
		a, l := info["entries-added"], info["length"]
		added, err1 := a.AsInt64()
		length, err2 := l.AsInt64()
		if err1 == nil && err2 == nil && added > length {
			return fmt.Errorf("redisstore: %d of %d entries were trimmed: %w", added-length, added, store.ErrGap)
		}
		return nil
	}
	es, err := cl.Do(cctx, cl.B().Xrange().Key(StreamKey).Start(from).End(from).Count(1).Build()).AsXRange()
	if err != nil {
		return failure(ctx, "XRANGE", err)
	}
	if len(es) == 0 {
		return fmt.Errorf("redisstore: version %s is no longer in %s: %w", from, StreamKey, store.ErrGap)
	}
	return nil
}

// decodeEntries turns feed entries into changes. Keys whose value the entry
// cannot be trusted for (every key on a cluster, see the package doc; an
// undecodable hash anywhere) are read from Redis, one pipeline per batch.
func (c *Config) decodeEntries(ctx context.Context, cl rueidis.Client, cluster bool, entries []rueidis.XRangeSlice) ([][]config.Change, error) {
	batch := make([][]config.Change, len(entries))
	var stale []string
	seen := map[string]bool{}
	for i, e := range entries {
		changes, bad := decodeEntry(e)
		batch[i] = changes
		for _, ch := range changes {
			if (cluster || bad[ch.Key]) && !seen[ch.Key] {
				seen[ch.Key] = true
				stale = append(stale, ch.Key)
			}
		}
	}
	if len(stale) == 0 {
		return batch, nil
	}
	now, err := c.readKeys(ctx, cl, stale)
	if err != nil {
		return nil, err
	}
	for _, changes := range batch {
		for j, ch := range changes {
			if seen[ch.Key] {
				changes[j].Fields = now[ch.Key]
			}
		}
	}
	return batch, nil
}

// decodeEntry reads the k/h pairs of one entry (package doc); bad names the
// keys whose h is missing or did not decode.
func decodeEntry(e rueidis.XRangeSlice) (changes []config.Change, bad map[string]bool) {
	bad = map[string]bool{}
	for _, fv := range e.FieldValues {
		switch {
		case fv.Field == "k":
			changes = append(changes, config.Change{Key: fv.Value})
			bad[fv.Value] = true
		case fv.Field == "h" && len(changes) > 0:
			last := &changes[len(changes)-1]
			h, err := decodeHash(fv.Value)
			if err == nil {
				last.Fields = h
				delete(bad, last.Key)
			}
		}
	}
	return changes, bad
}

// encodeHash is a change's h value: "-" for a delete, else a JSON object;
// the control rod is always {"0":"0"|"1"}. A merge's is mergedHash, which
// does not decode: followers read the merged hash from Redis, as they do for
// every key on a cluster (decodeEntries).
func encodeHash(ch config.Change) string {
	if ch.Key == config.ControlRodKey {
		return `{"0":"` + strconv.FormatInt(rodBit(ch.Fields), 10) + `"}`
	}
	if ch.Merge {
		return mergedHash
	}
	if len(ch.Fields) == 0 {
		return "-"
	}
	b, _ := json.Marshal(map[string]string(ch.Fields)) // cannot fail; keys come out sorted
	return string(b)
}

func decodeHash(s string) (config.Hash, error) {
	if s == "-" {
		return nil, nil
	}
	var h config.Hash
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, err
	}
	return h, nil
}

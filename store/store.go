// Package store holds persistence and the cluster bus behind small
// interfaces, called per batch, never per message:
//
//	ConfigStore  config hashes (Logplex's keys), counters, sessions, and the
//	             change feed every data plane follows
//	Spool        per-channel history ("ch:<ch>:spool"), written in batches
//	Bus          live tail traffic: data planes publish tailed channels'
//	             batches, control planes subscribe per session (bus.go)
//
// Two implementations: store/redisstore (Redis, sharded Redis, Redis
// Cluster) and store/embedded (in-process, config persisted to a file).
// storetest holds the one test suite both must pass.
//
// store imports config, VictoriaMetrics/metrics and the standard library only.
package store

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
)

// Errors a caller branches on.
var (
	// ErrNotFound: no such key (e.g. an expired session).
	ErrNotFound = errors.New("store: not found")
	// ErrGap: the change feed no longer holds the position asked for; reload fully.
	ErrGap = errors.New("store: change feed gap, full reload needed")
	// ErrUnavailable: the backing store cannot be reached right now.
	ErrUnavailable = errors.New("store: unavailable")
)

// ConfigStore is the source of truth for config. Writes are atomic per call
// and appear on the change feed in order.
type ConfigStore interface {
	// Incr increments a counter key (config.ChannelIndexKey, config.DrainIndexKey).
	Incr(ctx context.Context, key string) (int64, error)
	// Write stores each change (whole hash, or delete when Fields is nil) and
	// appends them to the change feed, atomically. It returns the feed
	// version that includes the write.
	Write(ctx context.Context, changes ...config.Change) (version string, err error)
	// Load reads every config entity and returns a snapshot at a feed version
	// from which Follow continues without missing a change.
	Load(ctx context.Context) (*config.Snapshot, error)
	// Follow calls fn, in order, with each batch of changes after version
	// from, until ctx ends (returns ctx.Err()) or the feed has a gap (ErrGap)
	// or the store fails (any other error). fn runs on Follow's goroutine.
	// A batch of changes written by another writer (not on the feed: a
	// Logplex node, redis-cli) carries the version of the batch before it.
	Follow(ctx context.Context, from string, fn func(changes []config.Change, version string)) error
	// PutSession stores a session body under session:<id> with a TTL.
	PutSession(ctx context.Context, id string, body []byte, ttl time.Duration) error
	// Session returns a session body, or ErrNotFound.
	Session(ctx context.Context, id string) ([]byte, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// TimedFeed is a ConfigStore whose feed versions tell when the change was
// written (a Redis stream id: "<unix ms>-<seq>", the Redis server's clock).
// The watcher then measures how long each feed batch took to reach its
// snapshot (logplex_config_change_delay_seconds).
type TimedFeed interface {
	// FeedTime is when the feed entry of version was written, if known.
	FeedTime(version string) (time.Time, bool)
}

// HistoryMsg is one message of a HistoryBatch: Buf[Off:End] for Channel.
type HistoryMsg struct {
	Channel  string
	Off, End uint32
}

// HistoryBatch carries cooked messages of possibly many channels, in arrival
// order. A batch has one owner at a time; Spool.Write takes ownership.
type HistoryBatch struct {
	Buf  []byte
	Msgs []HistoryMsg
}

// Add appends a message copy for channel.
func (b *HistoryBatch) Add(channel string, msg []byte) {
	off := len(b.Buf)
	b.Buf = append(b.Buf, msg...)
	b.Msgs = append(b.Msgs, HistoryMsg{Channel: channel, Off: uint32(off), End: uint32(len(b.Buf))})
}

// Absorb appends o's messages to b and reports true if they fit in b's
// spare capacity; otherwise it leaves b as it is. o is unchanged either way.
func (b *HistoryBatch) Absorb(o *HistoryBatch) bool {
	if len(o.Buf) > cap(b.Buf)-len(b.Buf) || len(o.Msgs) > cap(b.Msgs)-len(b.Msgs) {
		return false
	}
	off := uint32(len(b.Buf))
	b.Buf = append(b.Buf, o.Buf...)
	for _, m := range o.Msgs {
		m.Off += off
		m.End += off
		b.Msgs = append(b.Msgs, m)
	}
	return true
}

// Msg returns the bytes of message i; valid while the caller owns the batch.
func (b *HistoryBatch) Msg(i int) []byte { return b.Buf[b.Msgs[i].Off:b.Msgs[i].End] }

// Reset empties the batch, keeping its memory.
func (b *HistoryBatch) Reset() {
	b.Buf = b.Buf[:0]
	clear(b.Msgs) // drop channel string references
	b.Msgs = b.Msgs[:0]
}

// Spool is per-channel message history.
type Spool interface {
	// Write takes ownership of b, stores its messages (or drops and counts
	// them when the store is behind or down) and recycles b. Never blocks.
	Write(b *HistoryBatch)
	// Range returns up to num of the channel's newest messages, newest first.
	// The slices are the caller's.
	Range(ctx context.Context, channel string, num int) ([][]byte, error)
	Close() error
}

// CompareVersions orders change-feed versions of the form "<ms>-<seq>"
// (Redis stream ids; the embedded store uses "<n>-0"). "" sorts first.
func CompareVersions(a, b string) int {
	am, as := splitVersion(a)
	bm, bs := splitVersion(b)
	switch {
	case am != bm:
		return cmp.Compare(am, bm)
	default:
		return cmp.Compare(as, bs)
	}
}

func splitVersion(v string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(v, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(seq, 10, 64)
	return a, b
}

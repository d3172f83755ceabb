package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/logplex/logplex/store"
)

// SpoolOptions configure NewSpool. Zero values mean the defaults.
type SpoolOptions struct {
	// URLs are the history shards (LOGPLEX_SHARD_URLS; see config.SplitList), in
	// any order: they are sorted as Logplex sorts them (SortShardURLs).
	// With Cluster, or one cluster URL (see ConfigOptions.URL), they are
	// seeds of one Redis Cluster.
	URLs []string
	// Cluster treats URLs as seeds of one Redis Cluster.
	Cluster bool
	// History is how many messages a channel keeps (default 1500).
	History int
	// Expiry is how long a channel's history lives after its last write
	// (default 604800 s, a week).
	Expiry time.Duration
	// QueueLen is the most batches queued per writer; more are dropped and
	// counted (default 2000).
	QueueLen int
	// QueueBytes is the most message bytes queued per writer (default 64 MiB).
	QueueBytes int
	// Writers is the number of writers per shard, each with its own queue
	// and a fixed share of the channels, so a channel's order holds
	// (default 1).
	Writers int
	// FlushBytes and FlushMsgs start a flush as soon as that much is queued
	// (defaults 256 KiB, 5000).
	FlushBytes, FlushMsgs int
	// FlushAge is the longest a message waits for more to batch with, plus
	// a random jitter of up to as much again (default 50 ms: at moderate
	// rates each flush costs three commands per channel, whatever it holds).
	FlushAge time.Duration
	// Timeout bounds dials, connection writes and each pipeline (default 2 s).
	Timeout time.Duration
	// CloseTimeout bounds the final flush in Close (default 5 s).
	CloseTimeout time.Duration
}

// setDefaults fills zero (and negative) fields with their defaults.
func (o *SpoolOptions) setDefaults() {
	o.History = cmp.Or(max(o.History, 0), 1500)
	o.QueueLen = cmp.Or(max(o.QueueLen, 0), 2000)
	o.QueueBytes = cmp.Or(max(o.QueueBytes, 0), 64<<20)
	o.Writers = cmp.Or(max(o.Writers, 0), 1)
	o.FlushBytes = cmp.Or(max(o.FlushBytes, 0), 256<<10)
	o.FlushMsgs = cmp.Or(max(o.FlushMsgs, 0), 5000)
	o.Expiry = cmp.Or(max(o.Expiry, 0), 604800*time.Second)
	o.FlushAge = cmp.Or(max(o.FlushAge, 0), 50*time.Millisecond)
	o.Timeout = cmp.Or(max(o.Timeout, 0), defaultTimeout)
	o.CloseTimeout = cmp.Or(max(o.CloseTimeout, 0), 5*time.Second)
}

// Spool is the Redis store.Spool: per shard, Writers bounded queues, each
// drained by one goroutine that pipelines one LPUSH+LTRIM+EXPIRE per
// channel per flush. It is safe for concurrent use.
type Spool struct {
	opts    SpoolOptions
	ring    ring
	shards  []shardInfo
	writers []*writer // shard i owns writers[i*Writers : (i+1)*Writers]

	written, dropped, errs atomic.Int64
	closed                 atomic.Bool
	closeBy                atomic.Int64 // unix nanos: the final flush's deadline
	log                    *slog.Logger
}

type shardInfo struct {
	conn *conn
	name string
}

var _ store.Spool = (*Spool)(nil)

// NewSpool connects to the shards and starts the writers. Only bad options
// fail; unreachable shards drop (and count) their messages until they
// answer.
func NewSpool(opts SpoolOptions) (*Spool, error) {
	opts.setDefaults()
	targets, err := spoolTargets(opts)
	if err != nil {
		return nil, err
	}
	s := &Spool{opts: opts, ring: newRing(len(targets)), log: slog.Default().With("component", "redisstore-spool")}
	for _, t := range targets {
		sh := shardInfo{conn: newConn(t), name: t.name}
		s.shards = append(s.shards, sh)
		for range opts.Writers {
			s.writers = append(s.writers, newWriter(s, sh))
		}
	}
	for _, w := range s.writers {
		go w.run()
	}
	return s, nil
}

// spoolTargets parses the shard URLs: one cluster, or plain servers in
// Logplex's order.
func spoolTargets(opts SpoolOptions) ([]target, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("redisstore: no history shard URLs")
	}
	var ts []target
	for _, u := range SortShardURLs(opts.URLs) {
		t, err := parseTarget(u, nil, opts.Cluster, opts.Timeout)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	if len(ts) == 1 {
		return ts, nil
	}
	if !opts.Cluster {
		for _, t := range ts {
			if t.cluster {
				return nil, fmt.Errorf("redisstore: cluster URL %s mixed with other shard URLs", t.name)
			}
		}
		return ts, nil
	}
	one := ts[0] // a cluster: every URL is a seed
	for _, t := range ts[1:] {
		one.opt.InitAddress = append(one.opt.InitAddress, t.opt.InitAddress...)
	}
	one.name = strings.Join(one.opt.InitAddress, ",")
	return []target{one}, nil
}

// writerOf returns the index of the writer that owns channel.
func (s *Spool) writerOf(channel string) int {
	if len(s.writers) == 1 {
		return 0
	}
	i := s.ring.shard(channel) * s.opts.Writers
	if s.opts.Writers > 1 {
		i += int(maphash.String(writerSeed, channel) % uint64(s.opts.Writers))
	}
	return i
}

// writerSeed spreads channels over a shard's writers; a channel keeps its
// writer (and so its order) for the life of the process.
var writerSeed = maphash.MakeSeed()

// Write implements store.Spool: it never blocks. It takes ownership of b;
// b is recycled once its messages are copied, into the batch queued before
// it (writer.push) or into its writer's arena when a flush starts
// (writer.group).
func (s *Spool) Write(b *store.HistoryBatch) {
	switch {
	case len(b.Msgs) == 0:
		store.PutHistoryBatch(b)
	case len(s.writers) == 1:
		s.push(s.writers[0], b)
	default:
		s.split(b)
	}
}

// split copies b's messages into one batch per writer and queues those.
func (s *Spool) split(b *store.HistoryBatch) {
	var arr [16]*store.HistoryBatch
	parts := arr[:0]
	if len(s.writers) > len(arr) {
		parts = make([]*store.HistoryBatch, 0, len(s.writers))
	}
	parts = parts[:len(s.writers)]
	last, lastCh := 0, ""
	for i, m := range b.Msgs {
		if i == 0 || m.Channel != lastCh {
			last, lastCh = s.writerOf(m.Channel), m.Channel
		}
		if parts[last] == nil {
			parts[last] = store.GetHistoryBatch()
		}
		parts[last].Add(m.Channel, b.Msg(i))
	}
	store.PutHistoryBatch(b)
	for i, p := range parts {
		if p != nil {
			s.push(s.writers[i], p)
		}
	}
}

func (s *Spool) push(w *writer, b *store.HistoryBatch) {
	if s.closed.Load() || !w.push(b) {
		s.countDropped(int64(len(b.Msgs)))
		store.PutHistoryBatch(b)
	}
}

func (s *Spool) countWritten(n int64) {
	s.written.Add(n)
	historyWritten.Add(int(n))
}

func (s *Spool) countDropped(n int64) {
	s.dropped.Add(n)
	historyDropped.Add(int(n))
}

// Written returns the messages Redis acknowledged.
func (s *Spool) Written() int64 { return s.written.Load() }

// Dropped returns the messages not stored: queue full, Redis down or
// failing, or written after Close.
func (s *Spool) Dropped() int64 { return s.dropped.Load() }

// Errors returns the failed pipelines (each counts once however many
// channels it carried).
func (s *Spool) Errors() int64 { return s.errs.Load() }

// Queued returns the batches waiting in the writers' queues.
func (s *Spool) Queued() int {
	n := 0
	for _, w := range s.writers {
		n += w.queued()
	}
	return n
}

// Range implements store.Spool with LRANGE ch:<id>:spool 0 num-1 on the
// channel's shard.
func (s *Spool) Range(ctx context.Context, channel string, num int) ([][]byte, error) {
	if num <= 0 {
		return nil, nil
	}
	cl, err := s.writers[s.writerOf(channel)].conn.get()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	vals, err := cl.Do(cctx, cl.B().Lrange().Key(spoolKey(channel)).Start(0).Stop(int64(num-1)).Build()).AsStrSlice()
	if err != nil {
		return nil, failure(ctx, "LRANGE "+spoolKey(channel), err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

func spoolKey(channel string) string { return "ch:" + channel + ":spool" }

// Close implements store.Spool: it flushes what is queued (within
// CloseTimeout), stops the writers and disconnects. Writes after Close are
// dropped and counted.
func (s *Spool) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.closeBy.Store(time.Now().Add(s.opts.CloseTimeout).UnixNano())
	for _, w := range s.writers {
		close(w.stop)
	}
	for _, w := range s.writers {
		<-w.done
	}
	for _, sh := range s.shards {
		sh.conn.close()
	}
	return nil
}

package controlplane

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/internal/membudget"
	"github.com/logplex/logplex/store"
)

// Tails is the control plane's TailSource (docs/logplex.md §7) over a store.Bus and
// the config store. Subscribing one session:
//
//  1. subscribe a fresh TailQueue (the session's buffer: 1024 messages,
//     drop-oldest, its loss reported as L11; all of them within
//     BuffersMaxBytes together) to the channel on the bus,
//     active when Subscribe returns;
//  2. register tail:<channel>:<session> in the config store with a TTL
//     (config.TailKey), and wait (at most RegisterWait) until this node's
//     snapshot includes it: data planes publish a channel only while it
//     is registered, and follow the same change feed;
//  3. keep the registration alive: refresh its TTL every RefreshEvery
//     (store.TTLRefresher, no feed entry), write it again if it vanished;
//     delete it when the session ends.
//
// The session reads history only after Subscribe returns, so a message
// is either in the history or in the tail (or both). One exception: a
// remote data plane that has not yet applied the registration (it follows
// the feed with a blocking read, normally within milliseconds) delivers
// messages of that moment to history only; if the session's history read
// came first, those are not shown. Logplex has the same window (docs/logplex.md §7).
//
// Kill ends every tail of this node (control rod kill_tail_sessions).
type Tails struct {
	opts TailsOptions

	bud *membudget.Budget // of every session's queue (nil: none)

	mu       sync.Mutex
	live     map[*tail]struct{}
	perChan  map[string]int // live tails per channel, with reservations
	reserved int            // Subscribe calls past the limit check, not yet live
}

// TailsOptions configure NewTails. Zero values mean the defaults.
type TailsOptions struct {
	Bus     store.Bus         // required
	Store   store.ConfigStore // required: registrations
	Watcher *store.Watcher    // required: this node's view of the registrations
	// Node names this process in registrations (default hostname:pid).
	Node string
	// TTL of a registration (default 30 s); RefreshEvery renews it
	// (default TTL/3).
	TTL, RefreshEvery time.Duration
	// RegisterWait bounds the wait for this node's snapshot to include a
	// new registration (default 1 s).
	RegisterWait time.Duration
	// Buffer is each session's buffer in messages (default 1024, Logplex's).
	Buffer int
	// MaxSessions bounds this node's live tails (default 10000) and
	// MaxPerChannel one channel's (default 100); beyond them Subscribe
	// returns session.ErrTooManyTails.
	MaxSessions, MaxPerChannel int
	// BuffersMaxBytes bounds the sessions' buffers of this node together
	// (store.NewTailBudget: while they hold more, the sessions holding more
	// than their share drop their oldest messages, reported as L11), so
	// clients that never read cannot take the node's memory. 0: each
	// buffer is bounded in messages only.
	BuffersMaxBytes int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

var _ session.TailSource = (*Tails)(nil)

var (
	liveTails    atomic.Int64
	tailsKilled  = metrics.NewCounter(`logplex_tail_sessions_killed_total`)
	tailsRefused = metrics.NewCounter(`logplex_tail_sessions_refused_total`)
	_            = metrics.NewGauge(`logplex_tail_sessions`, func() float64 { return float64(liveTails.Load()) })
)

// NewTails returns a TailSource; it starts no goroutine until a session
// subscribes.
func NewTails(o TailsOptions) *Tails {
	if o.Node == "" {
		host, _ := os.Hostname()
		o.Node = host + ":" + strconv.Itoa(os.Getpid())
	}
	o.TTL = cmp.Or(o.TTL, 30*time.Second)
	o.RefreshEvery = cmp.Or(o.RefreshEvery, o.TTL/3)
	o.RegisterWait = cmp.Or(o.RegisterWait, time.Second)
	o.Buffer = cmp.Or(o.Buffer, store.DefaultTailQueue)
	o.MaxSessions = cmp.Or(o.MaxSessions, 10000)
	o.MaxPerChannel = cmp.Or(o.MaxPerChannel, 100)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Tails{opts: o, bud: store.NewTailBudget(o.BuffersMaxBytes), live: map[*tail]struct{}{}, perChan: map[string]int{}}
}

// Subscribe implements session.TailSource (steps 1 and 2 above); ctx
// bounds the registration.
func (t *Tails) Subscribe(ctx context.Context, channelID string) (session.Tail, error) {
	if !t.admit(channelID) {
		tailsRefused.Inc()
		return nil, session.ErrTooManyTails
	}
	q := store.NewBoundedTailQueue(t.opts.Buffer, t.bud)
	unsub, err := t.opts.Bus.Subscribe(ctx, channelID, q)
	if err != nil {
		t.release(channelID, false)
		return nil, fmt.Errorf("tail bus: %w", err)
	}
	tl := &tail{owner: t, q: q, unsub: unsub, key: config.TailKey(channelID, newSessionID()),
		stop: make(chan struct{}), channel: channelID}
	v, err := t.register(ctx, tl.key)
	if err != nil {
		unsub()
		t.release(channelID, false)
		return nil, fmt.Errorf("register tail: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, t.opts.RegisterWait)
	if err := t.opts.Watcher.WaitVersion(wctx, v); err != nil {
		t.opts.Logger.Debug("tail registration not yet in this node's snapshot", "key", tl.key, "err", err)
	}
	cancel()
	t.mu.Lock()
	t.live[tl] = struct{}{}
	t.reserved--
	t.mu.Unlock()
	liveTails.Add(1)
	go tl.keepAlive()
	return tl, nil
}

// admit reserves a place for a tail of channelID within the limits.
func (t *Tails) admit(channelID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.live)+t.reserved >= t.opts.MaxSessions || t.perChan[channelID] >= t.opts.MaxPerChannel {
		return false
	}
	t.reserved++
	t.perChan[channelID]++
	return true
}

// release gives back a place: a reservation that failed (live false) or a
// live tail that ended.
func (t *Tails) release(channelID string, live bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !live {
		t.reserved--
	}
	if t.perChan[channelID]--; t.perChan[channelID] <= 0 {
		delete(t.perChan, channelID)
	}
}

func (t *Tails) register(ctx context.Context, key string) (string, error) {
	return t.opts.Store.Write(ctx, config.Change{Key: key, Fields: config.TailHash(t.opts.Node), TTL: t.opts.TTL})
}

// Kill ends every tail session of this node (kill_tail_sessions) and
// returns how many: each session's stream ends and it unregisters.
func (t *Tails) Kill() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tl := range t.live {
		tl.q.End()
	}
	tailsKilled.Add(len(t.live))
	return len(t.live)
}

// Len is the number of live tail sessions on this node.
func (t *Tails) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

// tail is one session's subscription and registration.
type tail struct {
	owner   *Tails
	channel string
	q       *store.TailQueue
	unsub   func()
	key     string
	buf     [][]byte
	stop    chan struct{}
	once    sync.Once

	mu     sync.Mutex // serialises refresh and the final delete
	closed bool
}

// Next implements session.Tail: everything buffered, and the loss since
// the last call (reported as L11).
func (tl *tail) Next(ctx context.Context) (session.TailBatch, error) {
	msgs, lost, since, err := tl.q.Next(ctx, tl.buf[:0])
	tl.buf = msgs
	return session.TailBatch{Msgs: msgs, Dropped: lost, DroppedSince: since}, err
}

// Close implements session.Tail: unsubscribe and unregister (a failed
// delete is left to the TTL).
func (tl *tail) Close() error {
	tl.once.Do(func() {
		close(tl.stop)
		tl.unsub()
		tl.q.End()
		t := tl.owner
		t.mu.Lock()
		delete(t.live, tl)
		t.mu.Unlock()
		t.release(tl.channel, true)
		liveTails.Add(-1)
		tl.mu.Lock() // a refresh in flight cannot write the key again after this delete
		defer tl.mu.Unlock()
		tl.closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := t.opts.Store.Write(ctx, config.Change{Key: tl.key}); err != nil {
			t.opts.Logger.Warn("tail registration not deleted; it expires by itself", "key", tl.key, "err", err)
		}
	})
	return nil
}

// keepAlive refreshes the registration until the tail closes. After a
// failed refresh (the config Redis is down) it tries again every second:
// a registration lost with the Redis must be back soon after it is, as data
// planes publish nothing of the channel until then.
func (tl *tail) keepAlive() {
	t := tl.owner
	retry := min(time.Second, t.opts.RefreshEvery)
	timer := time.NewTimer(t.opts.RefreshEvery)
	defer timer.Stop()
	failing := false // log the first failure and the recovery, not every retry
	for {
		select {
		case <-tl.stop:
			return
		case <-timer.C:
			if err := tl.refresh(); err != nil {
				if !failing {
					t.opts.Logger.Warn("tail registration not refreshed; retrying every second", "key", tl.key, "err", err)
				}
				failing = true
				timer.Reset(retry)
				continue
			}
			if failing {
				t.opts.Logger.Info("tail registration refreshed again", "key", tl.key)
			}
			failing = false
			timer.Reset(t.opts.RefreshEvery)
		}
	}
}

func (tl *tail) refresh() error {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.closed {
		return nil
	}
	t := tl.owner
	ctx, cancel := context.WithTimeout(context.Background(), t.opts.RefreshEvery)
	defer cancel()
	if r, ok := t.opts.Store.(store.TTLRefresher); ok {
		alive, err := r.Refresh(ctx, tl.key, t.opts.TTL)
		if err != nil || alive {
			return err
		}
	}
	_, err := t.register(ctx, tl.key) // gone (or no refresher): write it again
	return err
}

// newSessionID is a random v4 UUID naming one tail registration.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

package redisstore

// Keyspace notifications: writes by other writers.
//
// logplex's own writes reach followers through the change stream. Logplex
// nodes and operators (redis-cli) write the same keys with plain HMSET, DEL
// and SETBIT, which leave no stream entry. So that followers see those
// within about a second instead of at the next full reload, the store
// subscribes to Redis keyspace notifications of the config keys:
//
//	notify-keyspace-events  gets K (keyspace channel), g (DEL, EXPIRE, …),
//	                        h (HSET/HMSET/HDEL), $ (SETBIT, SET), x (expired)
//	                        and e (evicted) added to what the server has, by
//	                        CONFIG SET, once per server
//	PSUBSCRIBE              __keyspace@<db>__:ch:*:data, …:tok:*, …:drain:*,
//	                        …:cred:*, …:control_rod, …:logplex:control_rods,
//	                        …:tail:*, …:logplex:config:epoch; on a cluster,
//	                        on every node
//
// The subscriber only collects the names of the keys touched (a bounded
// set); Follow re-reads them. Before it does, it reads the stream to its
// end: on one server a logplex write and its stream entry are one
// MULTI/EXEC, so every logplex write older than the notification is then
// applied, and the value read is at least as new as any of them. On a
// cluster Follow re-reads every key an entry names anyway.
//
// An "expire" event (a TTL set, e.g. a tail registration refreshed) changes
// no value and is not noted; "expired" and "evicted" are. Any event on the
// epoch key (the guard's, config_epoch.go) makes Follow return
// store.ErrGap: the key is written once per config, so an event means the
// config was emptied or replaced (FLUSHALL, which reports no key, then a
// restore or a new config), and the full load that follows lets the
// guard judge it.
//
// When notifications cannot be enabled (CONFIG refused, e.g. on a managed
// Redis; enable them there by the provider's means) the store says so once
// and the periodic full reload remains the only way other writers' changes
// arrive. When the subscription breaks or too many keys pile up, Follow
// returns store.ErrGap: the follower reloads fully, so nothing is missed.
//
// The resync check (FollowMissed, store.ResyncChecker) vouches that Follow
// missed nothing since the newest Load only when the subscription was
// confirmed before that Load's scan began, is the same one now, lost
// nothing, and every node still has the classes above enabled (one CONFIG
// GET per node: an operator's CONFIG SET would silence the events). The
// watcher then skips the periodic full reload; otherwise it reloads.

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/rueidis"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// maxNotedKeys bounds the keys waiting to be re-read; beyond it the
// follower reloads fully instead.
const maxNotedKeys = 10_000

// clusterEntryGrace is how long, on a cluster, a follower waits for stream
// entries before re-reading noted keys (noted).
const clusterEntryGrace = 50 * time.Millisecond

// notifier collects the config keys that keyspace notifications name.
type notifier struct {
	mu      sync.Mutex
	keys    map[string]struct{}
	lost    bool // events may be missing (overflow, broken subscription)
	wake    chan struct{}
	active  atomic.Bool // subscribed (on every node of a cluster)
	prefix  string      // "__keyspace@<db>__:"
	started sync.Once

	// the resync check's memory, under mu: the subscription's generation
	// (one more at every confirmed subscription), and the generation at
	// the newest reset (0: not subscribed then); the nodes subscribed to,
	// and a func that ends the subscription so that it is renewed
	gen, resetGen uint64
	nodes         []string
	renew         func()
}

func newNotifier(db int) *notifier {
	return &notifier{keys: map[string]struct{}{}, wake: make(chan struct{}, 1),
		prefix: "__keyspace@" + strconv.Itoa(db) + "__:"}
}

// patterns are the keyspace channels of the config keys and of the epoch.
func (n *notifier) patterns() []string {
	return []string{n.prefix + "ch:*:data", n.prefix + "tok:*", n.prefix + "drain:*",
		n.prefix + "cred:*", n.prefix + config.ControlRodKey, n.prefix + config.ControlRodsKey,
		n.prefix + "tail:*", n.prefix + EpochKey}
}

// note records the key of one keyspace message (channel) of an event.
func (n *notifier) note(channel, event string) {
	key, ok := strings.CutPrefix(channel, n.prefix)
	switch {
	case !ok || event == "expire": // a TTL set or refreshed: the value is the same
		return
	case key == EpochKey:
		n.markLost()
		return
	case key != config.ControlRodKey && !config.IsConfigKey(key):
		return
	}
	n.mu.Lock()
	if len(n.keys) >= maxNotedKeys {
		n.lost = true
	} else {
		n.keys[key] = struct{}{}
	}
	n.mu.Unlock()
	notifiedKeys.Inc()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// markLost says events may have been missed.
func (n *notifier) markLost() {
	n.mu.Lock()
	n.lost = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// reset forgets what was noted: a full load is about to read everything.
// It remembers which subscription was active then (resyncMissed).
func (n *notifier) reset() {
	n.mu.Lock()
	n.lost = false
	clear(n.keys)
	n.resetGen = 0
	if n.active.Load() {
		n.resetGen = n.gen
	}
	n.mu.Unlock()
}

// subscribed records a confirmed subscription on nodes and how to renew it.
func (n *notifier) subscribed(nodes []string, renew func()) {
	n.mu.Lock()
	n.gen++
	n.nodes, n.renew = nodes, renew
	n.active.Store(true)
	n.mu.Unlock()
}

// resyncMissed returns why events since the newest reset may be missing,
// or "": the subscription confirmed before the reset is still up and lost
// nothing.
func (n *notifier) resyncMissed() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.resetGen == 0:
		return "keyspace notifications were not subscribed at the last full load"
	case !n.active.Load() || n.gen != n.resetGen:
		return "the keyspace subscription broke or was renewed since the last full load"
	case n.lost:
		return "keyspace events may have been lost"
	}
	return ""
}

// subscribedNodes returns the nodes subscribed to, sorted, and the renew func.
func (n *notifier) subscribedNodes() ([]string, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes, n.renew
}

// take returns the keys noted since the last take, or lost when events may
// be missing (the caller reloads fully).
func (n *notifier) take() (keys []string, lost bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lost {
		n.lost = false
		clear(n.keys)
		return nil, true
	}
	for k := range n.keys {
		keys = append(keys, k)
	}
	clear(n.keys)
	return keys, false
}

// putBack notes keys again that take returned and that could not be read
// (too many: events are lost), and wakes the follower.
func (n *notifier) putBack(keys []string) {
	n.mu.Lock()
	if len(n.keys)+len(keys) > maxNotedKeys {
		n.lost = true
	} else {
		for _, k := range keys {
			n.keys[k] = struct{}{}
		}
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// startNotifier enables and subscribes once, in the background, for the
// life of the store; Load calls it, so events are collected from before the
// first snapshot on.
func (c *Config) startNotifier() {
	c.notes.started.Do(func() {
		ready := make(chan struct{})
		go c.subscribe(ready)
		select { // the first subscription, so that Follow starts with it
		case <-ready:
		case <-time.After(c.opts.Timeout):
		}
	})
}

// subscribe keeps the keyspace subscription up until the store closes.
func (c *Config) subscribe(ready chan struct{}) {
	once := sync.OnceFunc(func() { close(ready) })
	defer once()
	warned := false
	for c.bg.Err() == nil {
		// A client of its own: pub/sub on the store's client shares its
		// RESP3 connection with XREAD BLOCK and CLIENT UNBLOCK, which
		// rueidis v1.0.79 does not untangle ("protocol bug").
		sub, err := rueidis.NewClient(c.conn.t.opt)
		if err == nil {
			var nodes map[string]rueidis.Client
			if nodes, err = c.enableNotifications(sub, c.conn.t.cluster); err == nil {
				err = c.receive(nodes, once)
			}
			sub.Close()
		}
		if c.notes.active.Swap(false) { // events from now until resubscribed are missed
			c.notes.markLost()
		}
		notificationsActive.Store(0)
		once()
		if c.bg.Err() != nil {
			return
		}
		if errors.Is(err, errResubscribed) {
			continue
		}
		if !warned {
			c.log.Warn("not following keyspace notifications: changes written to Redis by other writers "+
				"(Logplex nodes, redis-cli) arrive at the next full reload (--resync-interval) instead of at once", "err", err)
			warned = true
		}
		select {
		case <-c.bg.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// enableNotifications makes every node emit the events needed and returns
// the nodes to subscribe to.
func (c *Config) enableNotifications(cl rueidis.Client, cluster bool) (map[string]rueidis.Client, error) {
	nodes := map[string]rueidis.Client{"": cl}
	if cluster {
		nodes = cl.Nodes()
	}
	for _, node := range nodes {
		ctx, cancel := c.call(c.bg)
		cur, err := node.Do(ctx, node.B().ConfigGet().Parameter("notify-keyspace-events").Build()).AsStrMap()
		if err == nil {
			if was, want := cur["notify-keyspace-events"], notifyFlags(cur["notify-keyspace-events"]); want != was {
				err = node.Do(ctx, node.B().ConfigSet().ParameterValue().ParameterValue("notify-keyspace-events", want).Build()).Error()
				if err == nil {
					c.log.Info("enabled keyspace notifications of config keys", "notify_keyspace_events_was", was, "now", want)
				}
			}
		}
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// notifyFlags is cur with the classes logplex needs added. "A" stands for
// every class but a few; it covers g, h, $, x and e already.
func notifyFlags(cur string) string {
	out := cur
	need := "Kgh$xe"
	if strings.Contains(cur, "A") {
		need = "K"
	}
	for _, f := range need {
		if !strings.ContainsRune(out, f) {
			out += string(f)
		}
	}
	return out
}

// receive subscribes on every node and returns when one subscription
// ends; subscribed runs once every node confirmed its patterns. A
// confirmation after that is a resubscription after a reconnect: events may
// have been missed meanwhile.
func (c *Config) receive(nodes map[string]rueidis.Client, subscribed func()) error {
	ctx, cancel := context.WithCancel(c.bg)
	defer cancel()
	patterns := c.notes.patterns()
	var resubscribed atomic.Bool
	renew := func() { resubscribed.Store(true); cancel() }
	addrs := slices.Sorted(maps.Keys(nodes))
	var confirmed atomic.Int64 // psubscribe confirmations, all nodes
	want := int64(len(patterns) * len(nodes))
	hook := func(s rueidis.PubSubSubscription) {
		if s.Kind != "psubscribe" {
			return
		}
		switch n := confirmed.Add(1); {
		case n == want:
			c.notes.subscribed(addrs, renew)
			notificationsActive.Store(1)
			subscribed()
		case n > want: // a reconnect: the server may have forgotten the settings too
			renew()
		}
	}
	errs := make(chan error, len(nodes))
	for _, node := range nodes {
		go func() {
			cmd := node.B().Psubscribe().Pattern(patterns...).Build()
			errs <- node.Receive(rueidis.WithOnSubscriptionHook(ctx, hook), cmd,
				func(m rueidis.PubSubMessage) { c.notes.note(m.Channel, m.Message) })
		}()
	}
	err := <-errs
	if resubscribed.Load() {
		return errResubscribed
	}
	return err
}

// errResubscribed ends a subscription that the client renewed by itself
// after a reconnect, so that subscribe enables notifications again first.
var errResubscribed = errors.New("redisstore: keyspace subscription renewed after a reconnect")

// noted re-reads the keys noted since the last call, after reading the
// stream to its end, and hands fn those whose value differs from what it
// last got (notifications of logplex's own writes repeat stream entries);
// it returns store.ErrGap when events may have been missed.
func (f *following) noted(ctx context.Context, cl rueidis.Client, cluster bool) (err error) {
	keys, lost := f.c.notes.take()
	if lost {
		return store.ErrGap
	}
	if len(keys) == 0 {
		return nil
	}
	defer func() {
		// Not read: the resync tick's deadline (whose check trusts the
		// subscription and skips the full load) or a failure ended it.
		if err != nil {
			f.c.notes.putBack(keys)
		}
	}()
	// On a cluster a logplex write's stream entry follows its key writes
	// (package doc): give it clusterEntryGrace to land, so that a
	// notification of logplex's own write finds the value delivered by its
	// entry instead of delivering it early, out of the stream's order.
	block := time.Duration(0)
	if cluster {
		block = clusterEntryGrace
	}
	for {
		entries, err := f.c.readFeedBlock(ctx, cl, f.from, block)
		block = 0
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			break
		}
		if err := f.apply(ctx, cl, cluster, entries); err != nil {
			return err
		}
	}
	now, err := f.c.readKeys(ctx, cl, keys)
	if err != nil {
		return err
	}
	var changes []config.Change
	for _, k := range keys {
		if prev, ok := f.sent[k]; ok && maps.Equal(prev, now[k]) {
			continue
		}
		changes = append(changes, config.Change{Key: k, Fields: now[k]})
	}
	if len(changes) > 0 {
		otherWrites.Add(len(changes))
		f.record(changes)
		f.fn(changes, f.from)
	}
	return nil
}

var (
	notifiedKeys        = metrics.NewCounter(`logplex_config_notified_keys_total`)
	otherWrites         = metrics.NewCounter(`logplex_config_other_writer_changes_total`)
	notificationsActive atomic.Int64
	_                   = metrics.NewGauge(`logplex_config_notifications_active`, func() float64 {
		return float64(notificationsActive.Load())
	})
)

// Package redisstore implements the store interfaces on Redis with rueidis:
// Config (store.ConfigStore) on the config Redis, Spool (store.Spool) on
// the history shards, Bus (store.Bus, live tails) on the config Redis's
// pub/sub. Each works against one server, or against a Redis
// Cluster. The spool also works against several plain servers sharded by
// Logplex's md5 ring. The keys are Logplex's (docs/logplex.md §6), so Logplex's Redis
// can be adopted in place.
//
// # Keys
//
//	ch:<id>:data     hash  name, flags                  (config.ChannelHash)
//	tok:<tok>:data   hash  ch, name                     (config.TokenHash)
//	drain:<id>:data  hash  ch, token[, url, state, …]   (config.DrainHash)
//	cred:<id>        hash  pass | pass_sha256, name, full_api, channel
//	control_rod      bitmap; bit 0 = read-only API      (SETBIT control_rod 0 1|0)
//	channel_index, drain_index   INCR counters
//	session:<uuid>   string, SETEX <ttl> <body>
//	tail:<ch>:<sess> hash  node; PEXPIRE <ttl>, refreshed  (config.TailKey)
//	logplex:config:changes   stream: the change feed (below)
//	ch:<id>:spool    list, newest first (on the shard of <id>)
//
// Writes use Logplex's commands (DEL, HMSET, SETBIT, SETEX, INCR), so
// replicas and other tools see the same command names Logplex sent.
//
// # Change feed
//
// Config.Write stores every change and appends ONE entry describing them
// to the stream logplex:config:changes (XADD MAXLEN ~ 100000). The entry is
// a list of field pairs, one pair per change, in write order:
//
//	k <key>   h <hash as a JSON object, fields sorted> | h -   (deleted)
//	          | h merged   (a merge: HMSET of some fields, the others kept)
//
//	1732350000000-0  k ch:7:data  h {"flags":"","name":"app"}
//	                 k tok:t.1:data h {"ch":"7","name":"web"}
//	1732350000123-0  k tok:t.1:data h -
//	1732350000456-0  k control_rod h {"0":"1"}
//
// The entry id is the write's version (store.CompareVersions orders ids).
// Readers ignore fields other than k and h. A merged key's h does not
// decode: readers HGETALL the key, which holds the merge or a later write
// (Logplex's own HMSETs merge the same way, but write no entry).
//
// Load notes the stream's last id FIRST, then SCANs the config hashes
// (HGETALL in pipelined batches) and reads bit 0 of control_rod; the
// snapshot's version is the noted id. A change written during the scan
// has a later id, so Follow delivers it again; applying a whole hash twice
// is harmless. Keys written by other tools (no feed entry) are reported by
// keyspace notifications (notify.go), or else picked up by the next Load,
// which the store.Watcher runs when a resync check cannot rule out a missed
// change (resync.go).
//
// Follow reads the stream with XREAD BLOCK from its version. It returns
// store.ErrGap when the version is no longer in the stream (trimmed or the
// stream deleted): the follower must reload.
//
// # Ordering: one server vs. Redis Cluster
//
// On one server a Write is one MULTI/EXEC: for each change DEL+HMSET (or
// DEL, or SETBIT), then the XADD. Feed order is write order and an entry
// never exists without its keys.
//
// In a cluster a MULTI must stay in one slot, and Logplex's keys carry no
// hash tags. So Write stores each key with its own MULTI (DEL+HMSET of one
// key is one slot), and XADDs only after every key write was acknowledged.
// Hence any follower that sees an entry can read its keys. But two
// concurrent writers of the same key may append their entries in the other
// order than their key writes, so in cluster mode Follow does not trust the
// hashes in the entry: for each batch of entries it re-reads the keys
// named (pipelined HGETALL/GETBIT) and delivers their current values. A
// follower thus converges to what Redis holds after the last entry it read.
// A writer that dies between its key writes and its XADD leaves keys
// without an entry; the next periodic reload picks them up.
//
// # Tail registrations
//
// A change with a TTL (config.Change.TTL; tail registrations) is stored
// DEL+HMSET+PEXPIRE in the same MULTI, and its feed entry is written as
// for any key. Config.Refresh (store.TTLRefresher) extends the TTL with a
// bare PEXPIRE and no feed entry. Redis does not put an expiry on the feed:
// data planes follow a registration that expires (its control plane died)
// through its "expired" keyspace event; without notifications they publish
// that channel to nobody until their next full reload (--resync-interval,
// default 60 s), which no longer finds the key.
//
// # Tail bus
//
// Bus publishes a tailed channel's messages to the pub/sub channel
// logplex:tail:<ch>, one payload per routed batch (split above MaxPayload,
// 256 KiB): the messages as octet-counted frames, concatenated,
//
//	<len> SP <msg> <len> SP <msg> …         e.g. "5 hello3 abc"
//
// readable with redis-cli SUBSCRIBE. Publish never blocks the event loop:
// it encodes into a pooled buffer and queues it (bounded by QueueBytes,
// beyond which batches are dropped and counted); one goroutine sends the
// queue as a pipeline of PUBLISHes, in order, so each data plane's
// messages keep their order.
//
// A node subscribes once per channel however many of its sessions tail it
// (Receive with the subscription-confirmed hook: Subscribe returns only
// once Redis confirmed the SUBSCRIBE, so a session that subscribes before
// reading history misses nothing), fans each payload out to the sessions'
// queues, and UNSUBSCRIBEs when the last one leaves. A lost connection is
// resubscribed with backoff; what was published meanwhile is not seen, but
// it is not silent either. Each payload starts with a sequence header, a
// frame numbering the channel's messages of its publisher,
//
//	<len> SP "!SEQ " <publisher id> SP <first message number> SP <unix ms>
//
// and a subscriber that finds a payload further on than it expected adds
// the difference to its sessions' queues (TailQueue.AddLossSince; counted
// in logplex_tail_bus_missing_total): the sessions print Logplex's L11 line
// with the count. This covers a PUBLISH that failed or reached nobody while
// the subscription was re-established (the publisher counts those:
// logplex_tail_bus_dropped_total, logplex_tail_bus_unheard_total), a
// subscription lost by one node while another still hears the channel, and
// a Redis killed between answering PUBLISH and writing to the subscriber
// (its answer counts subscribers, not deliveries). What a publisher drops
// before numbering it (its queue full) it remembers per channel and
// publishes ahead of the channel's next payload as a loss marker, a
// payload of one frame
//
//	<len> SP "!L11 " <n> SP <unix ms of the first loss>
//
// A marker received by at least one subscriber is forgotten; one nobody
// hears for 2 minutes (the channel is no longer tailed) is dropped. A node
// of an older version skips both frames (no session line is made of them).
//
// On a Redis Cluster the bus uses sharded pub/sub (SPUBLISH/SSUBSCRIBE,
// Redis >= 7): a channel's payloads all go through the master owning the
// slot of logplex:tail:<ch>, which keeps them in order and does not
// broadcast them over the cluster bus to every node, as PUBLISH would
// (through random nodes, so unordered).
//
// # Shards
//
// History goes to one of N shard servers, chosen as Logplex does (spec
// §6.4): the shard URLs are sorted by their #fragment (else the whole URL),
// interval = floor(2^128/N)+1, index = md5(channel id) read as a 128-bit
// big-endian integer, shard = sorted[index / interval]. With a Redis
// Cluster there is one client and slots do the sharding; LPUSH, LTRIM and
// EXPIRE each touch one key, so no hash tag is needed.
//
// The spool keeps exactly History messages per channel (LTRIM 0 History-1)
// and Range(num) returns at most num (LRANGE 0 num-1). Logplex keeps one
// more (its LTRIM and LRANGE bounds are inclusive); logplex's choice is
// documented by the lead.
//
// # Changing history shards
//
// A channel's history list ch:<id>:spool lives on the shard Logplex's md5
// ring gives it (Shards, above). Changing the shard list (LOGPLEX_SHARD_URLS)
// moves some channels to another server, where their list is empty or,
// once nodes with the new list took traffic, holds only what those nodes
// wrote. PlanShards counts the channels that move; MigrateShards merges
// each moved channel's old list into its new one.
//
// Merge (mergeHistory): both lists are newest first. Entries carry no id,
// so the merge is a multiset union that keeps, of each byte-identical
// entry, the larger of its two counts: the source's occurrences already
// present in the destination are skipped (matched newest first). Hence
// running the migration again never duplicates an entry. The remaining
// source entries are interleaved with the destination's, both lists
// keeping their own order (a two-way merge): at each step the source's
// next entry goes first when its RFC 5424 timestamp is later than the
// destination's next entry's; otherwise the destination's goes first. An
// entry whose timestamp does not parse ("-", garbage) takes the timestamp
// of the nearest older entry of its own list that has one; when one of the
// two still has none, the destination's entry goes first (its order is the
// order a router stored it in). Then the result is trimmed to the history
// length, as the router's LTRIM does. When each list is in timestamp order
// (or has no timestamps) a second run leaves the list as it is; with
// timestamps out of order inside a list, a second run may exchange which
// entries sit at the trim edge, never duplicate one.
//
// Concurrent writers: routers keep writing LPUSH + LTRIM + EXPIRE to both
// shards while the migration runs (nodes with the old list to the source,
// nodes with the new list to the destination). The merge is computed from a
// snapshot of the destination and applied by one Lua script on the
// destination (atomic there): the script reads the list again, finds how
// many entries were pushed since the snapshot (the current list is those
// entries followed by a prefix of the snapshot, as LPUSH adds at the head
// and LTRIM cuts at the tail), and stores those new entries followed by the
// merge, trimmed. So no entry pushed to the destination during the
// migration is lost, and there is nothing to retry. Entries pushed to the
// source after its snapshot are not copied: the rolling procedure
// (docs/operations.md) runs the migration again once no node writes the
// old shard. If the pushed entries happen to equal the snapshot's head
// byte for byte, the script takes them for the snapshot: the list's content
// is the same. Two migrations must not run on the same channel at once (the
// second would take the first one's merge for pushed entries).
//
// The source keys are left in place unless DeleteSource is set; a source
// list is deleted only if it is unchanged since it was read (a Lua check of
// its length and head), so a node still writing the old list keeps its
// entries.
//
// # Failures
//
// Every call honours its context and a per-call timeout (Timeout, default
// 2 s), and the dial and connection write timeouts are set to the same
// value, so nothing hangs on a dead Redis. Errors talking to Redis wrap
// store.ErrUnavailable. Spool.Write never blocks: while a shard is down or
// behind, its messages are dropped and counted; rueidis reconnects.
//
// redisstore imports config, store, rueidis and VictoriaMetrics/metrics.
package redisstore

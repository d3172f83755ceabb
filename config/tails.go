package config

import "strings"

// Tail registrations (docs/architecture.md, "Tails across nodes").
//
// A live tail session registers itself as one config key,
//
//	tail:<channel>:<session>   hash  node=<host:pid of the serving control plane>
//
// written through the ConfigStore with a TTL (Change.TTL) that the session
// keeps refreshing while it streams, and deleted when it ends. Data planes
// learn it from the change feed like any other key, and publish the
// messages of every channel the snapshot reports Tailed to the tail bus. A
// session that dies without deleting its key stops counting when the key
// expires; Redis does not put expiries on the feed, so data planes notice
// through the key's keyspace event (store/redisstore/notify.go), or at their
// next full reload (at worst they publish to nobody until then).
//
// Channel ids never contain ':' (v3 names are checked, legacy ids are
// digits) and session ids are UUIDs, so a key splits at its last ':'.

const tailPrefix = "tail:"

// TailKey is the registration key of one tail session on a channel.
func TailKey(channelID, sessionID string) string {
	return tailPrefix + channelID + ":" + sessionID
}

// TailHash is the stored form of a registration: the node serving it, for
// operators reading Redis.
func TailHash(node string) Hash { return Hash{"node": node} }

// ParseTailID splits the id of a tail key ("<channel>:<session>") at its
// last ':'; ok is false when either part is empty.
func ParseTailID(id string) (channelID, sessionID string, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	return id[:i], id[i+1:], true
}

// tailSet is the session ids registered on one channel. A set in a
// snapshot is never modified: a change replaces it with a copy.
type tailSet map[string]struct{}

// Tailed reports whether any tail session is registered for the channel
// (the channel need not exist). Routing asks once per channel per snapshot
// (dataplane/route caches the answer), so it is not a field of Channel.
func (s *Snapshot) Tailed(channelID string) bool { return len(s.tails.get(channelID)) > 0 }

// NumTails is the number of registered tail sessions.
func (s *Snapshot) NumTails() (n int) {
	for _, m := range s.tails {
		for _, set := range m {
			n += len(set)
		}
	}
	return n
}

// applyTail adds (h != nil) or removes one registration. Writing a key
// again (a refresh) or deleting an unknown one changes nothing; channels
// are not rebuilt (being tailed is not a field of Channel).
func (b *builder) applyTail(id string, h Hash) {
	ch, session, ok := ParseTailID(id)
	if !ok {
		return
	}
	old := b.s.tails.get(ch)
	if _, had := old[session]; had == (h != nil) {
		return
	}
	set := make(tailSet, len(old)+1)
	for k := range old {
		set[k] = struct{}{}
	}
	if h != nil {
		set[session] = struct{}{}
	} else {
		delete(set, session)
	}
	if len(set) == 0 {
		b.tails.del(ch)
	} else {
		b.tails.set(ch, set)
	}
}

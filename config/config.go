// Package config is the model both planes share: channels, tokens, drains,
// credentials and the immutable Snapshot the data plane routes with.
//
// Config is stored exactly as Logplex stores it in its config Redis: one hash
// per entity, keyed
//
//	ch:<ch>:data      name, flags            (flags: "no_redis:no_tail", sorted, ":"-joined)
//	tok:<tok>:data    ch, name
//	drain:<id>:data   ch, token[, url, state][, compression][, headers][, buffer]   (legacy: host, port)
//	cred:<id>         pass | pass_sha256, name, full_api="1", channel="any"|<ch>
//	tail:<ch>:<sess>  node                   (a live tail session; written with a TTL, see tails.go)
//
// A Change is one such key written (its whole hash) or deleted. Stores persist
// hashes and publish Changes; a Snapshot is built from hashes and moved forward
// by Changes, copy-on-write, so readers never lock.
//
// config imports the standard library only.
package config

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Hash is one stored entity: field name to value, as a Redis hash.
type Hash map[string]string

// Change is one config key written with its whole hash, or deleted (Fields nil).
// TTL > 0 makes the stored key expire unless written or refreshed again
// (tail registrations, tails.go; the embedded store honours it for those
// only); 0 means it never expires.
//
// Merge writes Fields over the stored hash instead: fields it does not name
// keep their values (an operator's flags, fields of Logplex's that logplex
// does not manage), as Logplex's HMSET does. A store hands its followers
// the whole hash after a merge, never a Merge change, so a Snapshot only
// ever applies whole hashes.
type Change struct {
	Key    string
	Fields Hash
	TTL    time.Duration
	Merge  bool
}

// Key helpers: the Redis key of each entity (docs/logplex.md §6.1).
func ChannelKey(id string) string { return "ch:" + id + ":data" }
func TokenKey(id string) string   { return "tok:" + id + ":data" }
func DrainKey(id int64) string    { return "drain:" + strconv.FormatInt(id, 10) + ":data" }
func CredKey(id string) string    { return "cred:" + id }

// Counter keys (INCR), the control-rod bitmap (Logplex's: bit 0 = legacy
// API read-only), and logplex's cluster-wide control rods (a hash: rod name
// → setting, e.g. deny_logs_ingress → "on", api_status → "read_only"),
// written one rod at a time with Change.Merge, so that nodes changing
// different rods at the same time do not undo one another.
const (
	ChannelIndexKey = "channel_index"
	DrainIndexKey   = "drain_index"
	ControlRodKey   = "control_rod"
	ControlRodsKey  = "logplex:control_rods"
)

// Channel flags (docs/logplex.md §6.1).
const (
	FlagNoRedis = "no_redis"
	FlagNoTail  = "no_tail"
)

// Channel is a routing destination: its tokens and drains.
type Channel struct {
	ID      string
	Name    string
	Flags   string // raw stored value, e.g. "no_redis:no_tail"
	NoRedis bool
	NoTail  bool
	Tokens  []*Token // sorted by (Name, ID)
	Drains  []*Drain // sorted by ID; includes reservations without URL

	present bool // false: a placeholder holding tokens/drains of a missing channel hash
}

// Token lets its holder write to one channel under a name.
type Token struct {
	ID        string // "t.<uuid>"
	ChannelID string
	Name      string
}

// Drain is a destination a channel's messages are delivered to.
type Drain struct {
	ID          int64
	ChannelID   string
	Token       string // "d.<uuid>"
	URL         string // empty for a reservation
	State       string
	Compression string // "", "gzip" or "zstd"; OTLP drains also "none" (extension)
	// Headers are an OTLP drain's extra request headers in stored form
	// (EncodeDrainHeaders; extension). Secret: never logged.
	Headers string
	// Buffer is where the drain's overflow goes: "" (the node's default),
	// "disk" (the data planes' disk spill) or "memory" (extension).
	Buffer string
}

// Cred is an API credential (docs/logplex.md §4.1.2).
type Cred struct {
	ID         string
	Name       string
	Pass       string // Logplex-style plaintext password, if stored so
	PassSHA256 string // lowercase hex SHA-256 of the password (logplex's form)
	FullAPI    bool
	AnyChannel bool
	Channel    string // raw "channel" field
}

// ParseKey splits a config key into its kind ("ch", "tok", "drain", "cred",
// "rods", "tail") and id (for "tail": "<channel>:<session>"). ok is false
// for keys that are not config entities.
func ParseKey(key string) (kind, id string, ok bool) {
	switch {
	case strings.HasPrefix(key, "ch:") && strings.HasSuffix(key, ":data"):
		return "ch", key[3 : len(key)-5], len(key) > 8
	case strings.HasPrefix(key, "tok:") && strings.HasSuffix(key, ":data"):
		return "tok", key[4 : len(key)-5], len(key) > 9
	case strings.HasPrefix(key, "drain:") && strings.HasSuffix(key, ":data"):
		return "drain", key[6 : len(key)-5], len(key) > 11
	case strings.HasPrefix(key, "cred:"):
		return "cred", key[5:], len(key) > 5
	case key == ControlRodsKey:
		return "rods", "", true
	case strings.HasPrefix(key, tailPrefix):
		_, _, ok := ParseTailID(key[len(tailPrefix):])
		return "tail", key[len(tailPrefix):], ok
	}
	return "", "", false
}

// IsConfigKey reports whether key is one of the entity keys a Snapshot holds.
func IsConfigKey(key string) bool {
	_, _, ok := ParseKey(key)
	return ok
}

func channelFromHash(id string, h Hash) *Channel {
	c := &Channel{ID: id, Name: h["name"], Flags: h["flags"]}
	for _, f := range strings.Split(c.Flags, ":") {
		switch f {
		case FlagNoRedis:
			c.NoRedis = true
		case FlagNoTail:
			c.NoTail = true
		}
	}
	return c
}

// ChannelHash is the stored form of a channel.
func ChannelHash(name, flags string) Hash { return Hash{"name": name, "flags": flags} }

// TokenHash is the stored form of a token.
func TokenHash(ch, name string) Hash { return Hash{"ch": ch, "name": name} }

// DrainHash is the stored form of a drain (a reservation when url is empty).
func DrainHash(d *Drain) Hash {
	h := Hash{"ch": d.ChannelID, "token": d.Token}
	if d.URL != "" {
		h["url"] = d.URL
		h["state"] = "provisioned"
	}
	if d.Compression != "" {
		h["compression"] = d.Compression
	}
	if d.Headers != "" {
		h["headers"] = d.Headers
	}
	if d.Buffer != "" {
		h["buffer"] = d.Buffer
	}
	return h
}

func drainFromHash(id int64, h Hash) *Drain {
	d := &Drain{ID: id, ChannelID: h["ch"], Token: h["token"], URL: h["url"],
		State: h["state"], Compression: h["compression"], Headers: h["headers"], Buffer: h["buffer"]}
	if d.URL == "" && h["host"] != "" {
		port := h["port"]
		if port == "" {
			port = "514"
		}
		d.URL = "syslog://" + h["host"] + ":" + port
	}
	return d
}

// CredHash is the stored form of a credential; the password is stored hashed.
func CredHash(c *Cred) Hash {
	h := Hash{"name": c.Name}
	if c.PassSHA256 != "" {
		h["pass_sha256"] = c.PassSHA256
	}
	if c.Pass != "" {
		h["pass"] = c.Pass
	}
	if c.FullAPI {
		h["full_api"] = "1"
	}
	if c.AnyChannel {
		h["channel"] = "any"
	} else if c.Channel != "" {
		h["channel"] = c.Channel
	}
	return h
}

func credFromHash(id string, h Hash) *Cred {
	return &Cred{ID: id, Name: h["name"], Pass: h["pass"], PassSHA256: h["pass_sha256"],
		FullAPI: h["full_api"] == "1", AnyChannel: h["channel"] == "any", Channel: h["channel"]}
}

func sortTokens(ts []*Token) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Name != ts[j].Name {
			return ts[i].Name < ts[j].Name
		}
		return ts[i].ID < ts[j].ID
	})
}

func sortDrains(ds []*Drain) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
}

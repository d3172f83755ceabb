package config

import "maps"

// nShards splits the token, channel, drain and credential maps so that a
// change copies only the shards it touches (1 M tokens: ~15 k per shard;
// 20 000 drains: ~300) instead of whole maps.
const nShards = 64

// shards is a string-keyed map split by a cheap hash of the key's last bytes.
type shards[V any] [nShards]map[string]V

// shardOf is FNV-1a over the key's last 8 bytes (token ids differ there),
// the same for a string and its bytes.
func shardOf[K string | []byte](k K) int {
	h := uint32(2166136261)
	for i := max(0, len(k)-8); i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return int(h % nShards)
}

func newShards[V any]() shards[V] {
	var s shards[V]
	for i := range s {
		s[i] = map[string]V{}
	}
	return s
}

// sizedShards returns shards sized for about n keys in all.
func sizedShards[V any](n int) shards[V] {
	var s shards[V]
	for i := range s {
		s[i] = make(map[string]V, n/nShards+n/(8*nShards))
	}
	return s
}

func (s *shards[V]) get(k string) V      { return s[shardOf(k)][k] }
func (s *shards[V]) getBytes(k []byte) V { return s[shardOf(k)][string(k)] }
func (s *shards[V]) len() (n int) {
	for _, m := range s {
		n += len(m)
	}
	return n
}

// cow tracks which shards of a copied shards value this builder owns.
type cow[V any] struct {
	s      *shards[V]
	cloned [nShards]bool
}

func (c *cow[V]) own(k string) map[string]V {
	i := shardOf(k)
	if !c.cloned[i] {
		c.s[i] = maps.Clone(c.s[i])
		c.cloned[i] = true
	}
	return c.s[i]
}

func (c *cow[V]) set(k string, v V) { c.own(k)[k] = v }
func (c *cow[V]) del(k string)      { delete(c.own(k), k) }

// idShards is shards for int64 keys (drain ids), split by a multiplicative
// hash of the id: drain ids are consecutive, and the hash spreads any
// stride as well.
type idShards[V any] [nShards]map[int64]V

func idShardOf(id int64) int { return int((uint64(id) * 0x9E3779B97F4A7C15 >> 32) % nShards) }

// sizedIDShards returns idShards sized for about n keys in all.
func sizedIDShards[V any](n int) idShards[V] {
	var s idShards[V]
	for i := range s {
		s[i] = make(map[int64]V, n/nShards+n/(8*nShards))
	}
	return s
}

func (s *idShards[V]) get(k int64) V { return s[idShardOf(k)][k] }
func (s *idShards[V]) len() (n int) {
	for _, m := range s {
		n += len(m)
	}
	return n
}

// idCow is cow for idShards.
type idCow[V any] struct {
	s      *idShards[V]
	cloned [nShards]bool
}

func (c *idCow[V]) own(k int64) map[int64]V {
	i := idShardOf(k)
	if !c.cloned[i] {
		c.s[i] = maps.Clone(c.s[i])
		c.cloned[i] = true
	}
	return c.s[i]
}

func (c *idCow[V]) set(k int64, v V) { c.own(k)[k] = v }
func (c *idCow[V]) del(k int64)      { delete(c.own(k), k) }

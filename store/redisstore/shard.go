package redisstore

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"sort"
	"strings"
)

// SortShardURLs returns the URLs in Logplex's shard order: by the URL
// fragment when there is one, else by the whole URL (docs/logplex.md §6.4).
func SortShardURLs(urls []string) []string {
	out := append([]string(nil), urls...)
	sort.SliceStable(out, func(i, j int) bool { return sortKey(out[i]) < sortKey(out[j]) })
	return out
}

func sortKey(u string) string {
	if _, frag, ok := strings.Cut(u, "#"); ok {
		return frag
	}
	return u
}

// ring is Logplex's md5 shard ring over n shards: the 128-bit md5 space is
// cut into intervals of floor(2^128/n)+1; shard i holds [i*interval,
// (i+1)*interval).
type ring struct {
	bounds [][2]uint64 // (hi, lo) of i*interval for i = 1..n-1, ascending
}

func newRing(n int) ring {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	interval := new(big.Int).Div(space, big.NewInt(int64(n)))
	interval.Add(interval, big.NewInt(1))
	r := ring{}
	mask := new(big.Int).SetUint64(^uint64(0))
	for i := 1; i < n; i++ {
		b := new(big.Int).Mul(interval, big.NewInt(int64(i)))
		hi := new(big.Int).Rsh(b, 64).Uint64()
		lo := new(big.Int).And(b, mask).Uint64()
		r.bounds = append(r.bounds, [2]uint64{hi, lo})
	}
	return r
}

// shard returns the index of channel's shard.
func (r ring) shard(channel string) int {
	if len(r.bounds) == 0 {
		return 0
	}
	sum := md5.Sum([]byte(channel))
	hi, lo := binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])
	// the number of bounds <= index is the shard
	return sort.Search(len(r.bounds), func(i int) bool {
		b := r.bounds[i]
		return b[0] > hi || (b[0] == hi && b[1] > lo)
	})
}

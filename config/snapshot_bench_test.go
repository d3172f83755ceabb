package config

import (
	"fmt"
	"runtime"
	"testing"
)

// bigHashes is a config of channels × tokensPer tokens and one drain per 10 channels.
func bigHashes(channels, tokensPer int) map[string]Hash {
	h := make(map[string]Hash, channels*(tokensPer+1))
	for c := range channels {
		id := fmt.Sprint(c)
		h[ChannelKey(id)] = ChannelHash("app-"+id, "")
		for k := range tokensPer {
			h[TokenKey(fmt.Sprintf("t.%08d-0000-4000-8000-%012d", c, k))] = TokenHash(id, fmt.Sprint("tok", k))
		}
		if c%10 == 0 {
			h[DrainKey(int64(c))] = DrainHash(&Drain{ChannelID: id, Token: fmt.Sprintf("d.%08d-0000-4000-8000-000000000000", c), URL: "https://drain.example.com/" + id})
		}
	}
	return h
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkSnapshotMemory1M reports the heap a snapshot of 1 M tokens on
// 100 k channels holds (issue: under 300 MiB), and the cost of applying one
// change to it.
func BenchmarkSnapshotMemory1M(b *testing.B) {
	before := heapInUse()
	s := Build(bigHashes(100_000, 10), false, "1-0")
	mib := float64(heapInUse()-before) / (1 << 20)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s = s.With([]Change{{Key: TokenKey(fmt.Sprint("t.new", i)), Fields: TokenHash(fmt.Sprint(i%100_000), "x")}}, "2-0")
	}
	runtime.KeepAlive(s)
	b.ReportMetric(mib, "MiB/snapshot")
}

// drainHashes is a config of n channels with one drain each (drain i on
// channel "c<i>", ids 1..n).
func drainHashes(n int) map[string]Hash {
	h := make(map[string]Hash, 2*n)
	for i := 1; i <= n; i++ {
		ch := fmt.Sprint("c", i)
		h[ChannelKey(ch)] = ChannelHash("app-"+ch, "")
		h[DrainKey(int64(i))] = DrainHash(&Drain{ID: int64(i), ChannelID: ch, Token: fmt.Sprintf("d.%08d-0000-4000-8000-000000000000", i),
			URL: fmt.Sprintf("https://drain.example.com/%d", i)})
	}
	return h
}

// oneDrainChange is the change of drain id's URL (on channel "c<id>") to
// one ending in v.
func oneDrainChange(id int64, v int) []Change {
	return []Change{{Key: DrainKey(id), Fields: DrainHash(&Drain{ID: id, ChannelID: fmt.Sprint("c", id),
		Token: "d.x", URL: fmt.Sprintf("https://drain.example.com/%d/%d", id, v)})}}
}

// BenchmarkSnapshotWithOneDrain is the cost of a batch that changes one
// drain of 20 000 (the change feed of a platform node).
func BenchmarkSnapshotWithOneDrain(b *testing.B) {
	const drains = 20_000
	s := Build(drainHashes(drains), false, "1-0")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s = s.With(oneDrainChange(int64(1+i%drains), i), "2-0")
	}
	runtime.KeepAlive(s)
}

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

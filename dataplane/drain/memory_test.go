package drain

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

// TestIdleDrainMemory: configured HTTP drains that have had no traffic cost
// little (the "memory bounded per drain"): 2 000 drains to a live
// endpoint, heap and stack growth measured after they start. Measured on
// the 2-core dev machine: 11.7 KiB per drain with the lazily allocated ring,
// 39.1 KiB with the earlier ring of 1 024 preallocated slots; the bound is
// 16 KiB.
func TestIdleDrainMemory(t *testing.T) {
	if httpRaceEnabled {
		t.Skip("memory figures are not meaningful under -race")
	}
	const drains = 2000
	ep := newFastEndpoint(t)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	m := NewManager(testOptions(Options{StopGrace: time.Second}))
	hashes := map[string]config.Hash{}
	for i := range drains {
		ch := fmt.Sprintf("m%d", i)
		id := httpNextID.Add(1)
		hashes[config.ChannelKey(ch)] = config.ChannelHash(ch, "")
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: ch, Token: httpTestToken,
			URL: fmt.Sprintf("http://%s/d/%d", ep.addr, i)})
	}
	m.Update(config.Build(hashes, false, "1"))
	defer m.Close(context.Background())
	time.Sleep(200 * time.Millisecond) // senders start and park
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapInuse)+int64(m1.StackInuse)-int64(m0.HeapInuse)-int64(m0.StackInuse)) / drains
	t.Logf("%d idle HTTP drains: %.1f KiB each (heap + stacks)", drains, per/1024)
	if per > 16<<10 {
		t.Fatalf("an idle HTTP drain costs %.1f KiB, want <= 16 KiB", per/1024)
	}
}

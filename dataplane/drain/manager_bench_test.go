package drain

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
)

// managerHashes is a config of n channels ("c<i>") with one HTTP drain
// each (ids base+1..base+n) to a closed local port: the drains stay parked
// (nothing is pushed), so they cost no goroutine.
func managerHashes(base int64, n int) map[string]config.Hash {
	h := make(map[string]config.Hash, 2*n)
	for i := 1; i <= n; i++ {
		ch := fmt.Sprint("c", i)
		id := base + int64(i)
		h[config.ChannelKey(ch)] = config.ChannelHash(ch, "")
		h[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: ch, Token: httpTestToken,
			URL: fmt.Sprintf("http://127.0.0.1:9/%d", i)})
	}
	return h
}

// urlChange changes drain base+i (on channel "c<i>") to a URL ending in v.
func urlChange(base int64, i, v int) []config.Change {
	return []config.Change{{Key: config.DrainKey(base + int64(i)), Fields: config.DrainHash(&config.Drain{ID: base + int64(i),
		ChannelID: fmt.Sprint("c", i), Token: httpTestToken, URL: fmt.Sprintf("http://127.0.0.1:9/%d/%d", i, v)})}}
}

// BenchmarkManagerUpdateOneDrain is Manager.Update for a snapshot that
// changed one drain's URL (a restart) of 20 000 running drains; making the
// snapshot is not timed.
func BenchmarkManagerUpdateOneDrain(b *testing.B) {
	const drains = 20_000
	base := httpNextID.Add(drains+1) - drains - 1
	m := NewManager(testOptions(Options{StopGrace: time.Second}))
	defer m.Close(context.Background())
	s := config.Build(managerHashes(base, drains), false, "1")
	m.Update(s)
	if n := len(m.ForChannel("c1")); n != 1 {
		b.Fatalf("channel c1 runs %d drains", n)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s = s.With(urlChange(base, 1+i%drains, i), "2")
		b.StartTimer()
		m.Update(s)
	}
}

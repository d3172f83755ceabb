package drain

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/logplex/logplex/config"
)

// Beyond MaxDrainSeries, a drain exports no series of its own (counted),
// still has its counters for the status endpoint, and counts in the totals.
// A drain registers its series with its first message: before, none do.
func TestDrainSeriesCapped(t *testing.T) {
	defer setMaxSeriesDrains(1000)
	base := seriesDrains.Load()
	m := NewManager(testOptions(Options{MaxDrainSeries: int(base) + 1, StopGrace: 100 * time.Millisecond}))
	defer m.Close(t.Context())
	capped0 := seriesDrainsCapped.Get()
	hash := map[string]config.Hash{config.ChannelKey("c"): config.ChannelHash("c", "")}
	var ids []int64
	for range 3 {
		id := httpNextID.Add(1)
		ids = append(ids, id)
		hash[config.DrainKey(id)] = config.DrainHash(&config.Drain{ID: id, ChannelID: "c", Token: httpTestToken, URL: "http://127.0.0.1:9/"})
	}
	m.Update(config.Build(hash, false, "1"))
	if n := len(m.ForChannel("c")); n != 3 {
		t.Fatalf("%d drains running", n)
	}
	if seriesDrains.Load() != base || seriesDrainsCapped.Get() != capped0 {
		t.Fatal("drains without traffic registered series")
	}
	for _, d := range m.ForChannel("c") {
		d.Buf.Push(testMsg(1), time.Now().UnixNano())
	}
	waitFor(t, 5*time.Second, "series registered", func() bool {
		return seriesDrains.Load() == base+1 && seriesDrainsCapped.Get()-capped0 == 2
	})
	var page bytes.Buffer
	metrics.WritePrometheus(&page, false)
	exported := 0
	for _, id := range ids {
		if bytes.Contains(page.Bytes(), fmt.Appendf(nil, `drain_id="%d"`, id)) {
			exported++
		}
		if d := m.Drain(id); d == nil || d.Stats == nil || d.Stats.Delivered == nil {
			t.Fatalf("drain %d has no counters", id)
		}
	}
	if exported != 1 || seriesDrainsCapped.Get()-capped0 != 2 {
		t.Fatalf("%d drains exported series, %d capped; want 1, 2", exported, seriesDrainsCapped.Get()-capped0)
	}
	if !bytes.Contains(page.Bytes(), []byte("logplex_drains_bytes_total")) || !bytes.Contains(page.Bytes(), []byte("logplex_drain_delivered_total")) {
		t.Fatal("totals missing")
	}
}

package dataplane

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/store/embedded"
)

// BenchmarkStatusRound is one status report round (putStatus, to the
// embedded board) of a data plane running 20 000 parked HTTP drains of
// which 100 had their figures changed since the last round (counted
// deliveries, as a sender's run does). Changing the figures is not timed;
// the clock moves 1 ms a round, so no refresh falls due.
func BenchmarkStatusRound(b *testing.B) {
	const n, active = 20000, 100
	hashes := map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("", "")}
	for id := int64(1); id <= n; id++ {
		s := strconv.FormatInt(id, 10)
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ChannelID: "1", Token: "d." + s, URL: "https://drain" + s + ".example.com/"})
	}
	m := drain.NewManager(drain.Options{Logger: slog.New(slog.DiscardHandler)})
	m.Update(config.Build(hashes, false, "1-0"))
	defer m.Close(context.Background())
	drains := make([]*drain.Drain, 0, n)
	for id := int64(1); id <= n; id++ {
		drains = append(drains, m.Drain(id))
	}
	board, err := embedded.OpenConfig("")
	if err != nil {
		b.Fatal(err)
	}
	d := &DataPlane{opts: Options{StatusBoard: board, StatusInterval: 5 * time.Second, NodeName: "n1"}, Drains: m, log: slog.New(slog.DiscardHandler)}
	r := &statusReporter{last: map[int64]reported{}}
	ctx, now := context.Background(), time.Now()
	d.putStatus(ctx, r, now) // the first round reports every drain
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range active {
			drains[(i*active+j)%n].Stats.AddDelivered(1)
		}
		now = now.Add(time.Millisecond)
		b.StartTimer()
		d.putStatus(ctx, r, now)
	}
}

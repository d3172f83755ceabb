package dataplane

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/drain"
	"github.com/logplex/logplex/store/embedded"
)

// Only drains whose figures changed are reported, plus every drain once
// per statusRefresh; the node's documents stay readable in between (its
// alive mark is written on every report) and vanish once it stops.
func TestStatusReportsOnlyChanges(t *testing.T) {
	hashes := map[string]config.Hash{config.ChannelKey("1"): config.ChannelHash("", "")}
	for id := int64(1); id <= 3; id++ {
		hashes[config.DrainKey(id)] = config.DrainHash(&config.Drain{ChannelID: "1",
			Token: "d." + strconv.FormatInt(id, 10), URL: "https://drain" + strconv.FormatInt(id, 10) + ".example.com/"})
	}
	m := drain.NewManager(drain.Options{})
	m.Update(config.Build(hashes, false, "1-0"))
	defer m.Close(context.Background())

	board, err := embedded.OpenConfig("")
	if err != nil {
		t.Fatal(err)
	}
	d := &DataPlane{opts: Options{StatusBoard: board, StatusInterval: 5 * time.Second, NodeName: "n1"}, Drains: m, log: slog.New(slog.DiscardHandler)}
	r := &statusReporter{last: map[int64]reported{}}
	t0 := time.Now()
	report := func(at time.Duration) map[int64][]byte {
		docs, _ := r.changed(m, t0.Add(at))
		d.putStatus(context.Background(), r, t0.Add(at))
		return docs
	}
	if docs := report(0); len(docs) != 3 {
		t.Fatalf("first report: %d drains, want 3", len(docs))
	}
	if docs := report(5 * time.Second); len(docs) != 0 {
		t.Fatalf("nothing changed, yet %d drains reported", len(docs))
	}
	m.Drain(2).Stats.AddDropped(1)
	if docs := report(10 * time.Second); len(docs) != 1 || docs[2] == nil {
		t.Fatalf("drain 2 changed: reported %v", keys(docs))
	}
	if got, _ := board.DrainStatus(context.Background(), 1); got["n1"] == nil {
		t.Fatal("an unchanged drain's document is no longer readable")
	}
	if got, _ := board.DrainStatus(context.Background(), 2); string(got["n1"]) == "" || !strings.Contains(string(got["n1"]), `"dropped":1`) {
		t.Fatalf("drain 2 status = %s", got["n1"])
	}
	if docs := report(statusRefresh + 10*time.Second); len(docs) != 3 {
		t.Fatalf("after statusRefresh: %d drains, want all 3", len(docs))
	}
}

func keys(m map[int64][]byte) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	return out
}

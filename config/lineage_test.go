package config

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// lineageModel makes random batches of changes to a small config and keeps
// the hashes they add up to.
type lineageModel struct {
	rng    *rand.Rand
	hashes map[string]Hash
}

func (m *lineageModel) batch() []Change {
	var cs []Change
	for range 1 + m.rng.IntN(4) {
		ch := fmt.Sprint("c", m.rng.IntN(8))
		var c Change
		switch m.rng.IntN(9) {
		case 0:
			c = Change{Key: ChannelKey(ch)}
		case 1, 2:
			c = Change{Key: ChannelKey(ch), Fields: ChannelHash("app-"+ch, "")}
		case 3:
			c = Change{Key: TokenKey(fmt.Sprint("t.", m.rng.IntN(10))), Fields: TokenHash(ch, "app")}
		case 4:
			c = Change{Key: CredKey(fmt.Sprint("CRED", m.rng.IntN(5)))}
			if m.rng.IntN(2) == 0 {
				c.Fields = CredHash(&Cred{Name: fmt.Sprint("n", m.rng.IntN(9)), PassSHA256: "ab"})
			}
		case 5:
			c = Change{Key: DrainKey(int64(1 + m.rng.IntN(12)))}
		default:
			id := int64(1 + m.rng.IntN(12))
			c = Change{Key: DrainKey(id), Fields: DrainHash(&Drain{ID: id, ChannelID: ch, Token: "d.1",
				URL: fmt.Sprintf("https://d.example.com/%d", m.rng.IntN(3))})}
		}
		cs = append(cs, c)
		if c.Fields == nil {
			delete(m.hashes, c.Key)
		} else {
			m.hashes[c.Key] = c.Fields
		}
	}
	return cs
}

// contents is what a snapshot answers about drains, channels and
// credentials, to compare snapshots with each other and over time.
type contents struct {
	drains   map[int64]*Drain
	channels map[string]bool // exists
	creds    map[string]Cred
}

func contentsOf(s *Snapshot) contents {
	c := contents{drains: map[int64]*Drain{}, channels: map[string]bool{}, creds: map[string]Cred{}}
	s.EachDrain(func(d *Drain) bool { c.drains[d.ID] = d; return true })
	s.EachChannel(func(ch *Channel) bool { c.channels[ch.ID] = true; return true })
	s.EachCred(func(cr *Cred) bool { c.creds[cr.ID] = *cr; return true })
	return c
}

// TestDrainChangesSince: over random batches, a snapshot tells what may
// differ for drains from each ancestor it remembers (every drain whose
// record differs, every channel created or deleted: exactly the drain and
// channel keys those batches wrote), and nothing (ok false) for a snapshot
// that is not its ancestor. Every snapshot keeps its contents while its
// descendants are made, and equals Build of the same hashes.
func TestDrainChangesSince(t *testing.T) {
	for seed := range uint64(20) {
		m := &lineageModel{rng: rand.New(rand.NewPCG(seed, 7)), hashes: map[string]Hash{}}
		for range 10 {
			m.batch()
		}
		snaps := []*Snapshot{Build(m.hashes, false, "0")}
		var batches [][]Change
		var kept []contents
		var sib *Snapshot
		kept = append(kept, contentsOf(snaps[0]))
		for i := range 60 {
			cs := m.batch()
			batches = append(batches, cs)
			parent := snaps[len(snaps)-1]
			if i == 30 { // a sibling: not an ancestor of what follows
				saved := maps.Clone(m.hashes)
				sib = parent.With(m.batch(), "x")
				m.hashes = saved
			}
			snaps = append(snaps, parent.With(cs, fmt.Sprint(i)))
			kept = append(kept, contentsOf(snaps[len(snaps)-1]))
		}
		if !equalContents(contentsOf(snaps[len(snaps)-1]), contentsOf(Build(m.hashes, false, "y"))) {
			t.Fatalf("seed %d: the snapshot made by With differs from Build of its hashes", seed)
		}
		for i, s := range snaps {
			if !equalContents(contentsOf(s), kept[i]) {
				t.Fatalf("seed %d: snapshot %d changed after it was made", seed, i)
			}
			for j, prev := range snaps {
				ids, channels, ok := s.DrainChangesSince(prev)
				if ok != (j <= i) {
					t.Fatalf("seed %d: snapshot %d since %d: ok %v", seed, i, j, ok)
				}
				if !ok {
					continue
				}
				wantIDs, wantChannels := written(batches[j:i])
				if !slices.Equal(ids, wantIDs) || !slices.Equal(channels, wantChannels) {
					t.Fatalf("seed %d: snapshot %d since %d: %v %v, want %v %v", seed, i, j, ids, channels, wantIDs, wantChannels)
				}
				a, b := kept[j], kept[i]
				for id := range 14 {
					if a.drains[int64(id)] != b.drains[int64(id)] && !slices.Contains(ids, int64(id)) {
						t.Fatalf("seed %d: drain %d differs between %d and %d, not reported", seed, id, j, i)
					}
				}
				for ch := range 8 {
					c := fmt.Sprint("c", ch)
					if a.channels[c] != b.channels[c] && !slices.Contains(channels, c) {
						t.Fatalf("seed %d: channel %s created or deleted between %d and %d, not reported", seed, c, j, i)
					}
				}
			}
		}
		if _, _, ok := sib.DrainChangesSince(snaps[30]); !ok {
			t.Fatal("a child does not know its parent")
		}
		if _, _, ok := snaps[len(snaps)-1].DrainChangesSince(sib); ok {
			t.Fatal("a sibling's descendant took it for an ancestor")
		}
		if _, _, ok := snaps[1].DrainChangesSince(Build(m.hashes, false, "z")); ok {
			t.Fatal("a full load taken for an ancestor")
		}
		if _, _, ok := snaps[1].DrainChangesSince(&Snapshot{}); ok {
			t.Fatal("a snapshot not made by Build or With taken for an ancestor")
		}
	}
}

// written returns the drain ids and channel ids the batches set or
// deleted, sorted.
func written(batches [][]Change) (ids []int64, channels []string) {
	for _, cs := range batches {
		for _, c := range cs {
			switch kind, id, _ := ParseKey(c.Key); kind {
			case "drain":
				var n int64
				fmt.Sscan(id, &n)
				ids = append(ids, n)
			case "ch":
				channels = append(channels, id)
			}
		}
	}
	slices.Sort(ids)
	slices.Sort(channels)
	return slices.Compact(ids), slices.Compact(channels)
}

func equalContents(a, b contents) bool {
	if len(a.drains) != len(b.drains) || len(a.channels) != len(b.channels) || len(a.creds) != len(b.creds) {
		return false
	}
	for id, d := range a.drains {
		if e := b.drains[id]; e == nil || *e != *d {
			return false
		}
	}
	for id := range a.channels {
		if !b.channels[id] {
			return false
		}
	}
	for id, c := range a.creds {
		if b.creds[id] != c {
			return false
		}
	}
	return true
}

// TestLineageBounded: a snapshot remembers its last maxLineageSteps/2
// batches at least and never more than maxLineageSteps; a batch that
// touches more than maxLineageIDs drains is not remembered.
func TestLineageBounded(t *testing.T) {
	s0 := Build(drainHashes(10), false, "0")
	line := []*Snapshot{s0}
	for i := range 3 * maxLineageSteps {
		line = append(line, line[len(line)-1].With(oneDrainChange(int64(1+i%10), i), "1"))
		s := line[len(line)-1]
		n := 0
		for st := s.lineage; st != nil; st = st.prev {
			n++
		}
		if n < min(len(line)-1, maxLineageSteps/2) || n > maxLineageSteps {
			t.Fatalf("after %d batches the lineage has %d steps", len(line)-1, n)
		}
		if _, _, ok := s.DrainChangesSince(line[len(line)-1-n]); !ok {
			t.Fatalf("after %d batches, %d back not found", len(line)-1, n)
		}
		if _, _, ok := s.DrainChangesSince(line[max(0, len(line)-2-n)]); ok != (n == len(line)-1) {
			t.Fatalf("after %d batches, %d back found: %v", len(line)-1, n+1, ok)
		}
	}
	last := line[len(line)-1]
	var big []Change
	for i := range maxLineageIDs + 1 {
		big = append(big, Change{Key: DrainKey(int64(100 + i))})
	}
	if _, _, ok := last.With(big, "2").DrainChangesSince(last); ok {
		t.Fatalf("a batch of %d drains remembered", len(big))
	}
}

// TestSnapshotWithOneDrainAllocs: a batch that changes one drain of 20 000
// copies a shard of the drains (and of the channels), not all of them:
// allocations and bytes are bounded whatever the number of drains (a copy
// of the whole drains map of 20 000 is ~87 allocations and 600 KB).
func TestSnapshotWithOneDrainAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20 000-drain snapshot")
	}
	const drains, runs = 20_000, 50
	s := Build(drainHashes(drains), false, "1-0")
	batches := make([][]Change, runs+1)
	for i := range batches {
		batches[i] = oneDrainChange(int64(1+i*397%drains), i)
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		s = s.With(batches[i], "2-0")
		i++
	})
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range runs {
		s = s.With(batches[i], "3-0")
	}
	runtime.ReadMemStats(&m1)
	bytes := (m1.TotalAlloc - m0.TotalAlloc) / runs
	t.Logf("With of one drain of %d: %.0f allocations, %d bytes", drains, allocs, bytes)
	if allocs > 45 || bytes > 96<<10 {
		t.Fatalf("With of one drain of %d: %.0f allocations, %d bytes; want <= 45 and 96 KiB", drains, allocs, bytes)
	}
}

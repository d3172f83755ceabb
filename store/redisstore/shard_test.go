package redisstore

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/logplex/logplex/config"
)

// The examples of docs/logplex.md §6.4.
func TestRingSpecExamples(t *testing.T) {
	for _, c := range []struct {
		channel string
		n, want int
	}{
		{"123", 2, 0}, {"123", 3, 0}, {"1", 2, 1}, {"1", 3, 2}, {"anything", 1, 0},
	} {
		if got := newRing(c.n).shard(c.channel); got != c.want {
			t.Errorf("channel %q of %d shards: shard %d, want %d", c.channel, c.n, got, c.want)
		}
	}
}

// The ring agrees with the formula of docs/logplex.md §6.4 in big integers.
func TestRingMatchesFormula(t *testing.T) {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for n := 1; n <= 17; n++ {
		interval := new(big.Int).Add(new(big.Int).Div(space, big.NewInt(int64(n))), big.NewInt(1))
		r := newRing(n)
		for range 500 {
			ch := fmt.Sprint(rand.IntN(1 << 30))
			sum := md5.Sum([]byte(ch))
			want := new(big.Int).Div(new(big.Int).SetBytes(sum[:]), interval).Int64()
			if got := r.shard(ch); int64(got) != want {
				t.Fatalf("n=%d channel %q: shard %d, want %d", n, ch, got, want)
			}
		}
	}
}

func TestSortShardURLs(t *testing.T) {
	got := SortShardURLs([]string{"redis://b:6380/#frag2", "redis://a:6379/#frag1"})
	if fmt.Sprint(got) != "[redis://a:6379/#frag1 redis://b:6380/#frag2]" {
		t.Fatalf("by fragment: %v", got)
	}
	got = SortShardURLs([]string{"redis://z:1/#a", "redis://b:2", "redis://a:2"})
	if fmt.Sprint(got) != "[redis://z:1/#a redis://a:2 redis://b:2]" {
		t.Fatalf("fragment else URL: %v", got)
	}
	if fmt.Sprint(config.SplitList(" redis://a:1 ,, redis://b:2")) != "[redis://a:1 redis://b:2]" {
		t.Fatal("config.SplitList")
	}
}

func BenchmarkRingShard(b *testing.B) {
	r := newRing(3)
	for i := 0; b.Loop(); i++ {
		r.shard("12345")
	}
}

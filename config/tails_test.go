package config

import (
	"strconv"
	"testing"
)

func TestParseTailKey(t *testing.T) {
	for _, c := range []struct {
		key, ch, sess string
		ok            bool
	}{
		{TailKey("123", "0b8a0c4e-1111-4222-8333-444455556666"), "123", "0b8a0c4e-1111-4222-8333-444455556666", true},
		{TailKey("app-x", "s1"), "app-x", "s1", true},
		{"tail:a:b:c", "a:b", "c", true}, // split at the last ':'
		{"tail:", "", "", false},
		{"tail:nosession", "", "", false},
		{"tail::s", "", "", false},
		{"tail:c:", "", "", false},
	} {
		kind, id, ok := ParseKey(c.key)
		if ok != c.ok || (ok && kind != "tail") {
			t.Errorf("ParseKey(%q) = %q, %q, %v", c.key, kind, id, ok)
			continue
		}
		if !ok {
			continue
		}
		ch, sess, _ := ParseTailID(id)
		if ch != c.ch || sess != c.sess {
			t.Errorf("ParseTailID(%q) = %q, %q; want %q, %q", id, ch, sess, c.ch, c.sess)
		}
		if !IsConfigKey(c.key) {
			t.Errorf("IsConfigKey(%q) = false", c.key)
		}
	}
}

func TestSnapshotTails(t *testing.T) {
	s0 := Build(map[string]Hash{
		ChannelKey("1"): ChannelHash("one", ""),
		TokenKey("t.1"): TokenHash("1", "app"),
	}, false, "1-0")
	if s0.Tailed("1") || s0.NumTails() != 0 {
		t.Fatal("fresh snapshot is tailed")
	}
	reg := func(ch, sess string) Change {
		return Change{Key: TailKey(ch, sess), Fields: TailHash("node"), TTL: 30e9}
	}
	s1 := s0.With([]Change{reg("1", "a"), reg("1", "b"), reg("9", "c")}, "2-0")
	if !s1.Tailed("1") || !s1.Tailed("9") || s1.NumTails() != 3 {
		t.Fatalf("after registering: tailed(1)=%v channel=%+v tailed(9)=%v n=%d",
			s1.Tailed("1"), s1.Channel("1"), s1.Tailed("9"), s1.NumTails())
	}
	if s0.Tailed("1") || s0.NumTails() != 0 {
		t.Fatal("With modified the previous snapshot")
	}
	if s1.Channel("9") != nil {
		t.Fatal("a tail on a missing channel created the channel")
	}
	// a refresh (same key again) and a delete of an unknown key change nothing
	s2 := s1.With([]Change{reg("1", "a"), {Key: TailKey("1", "zz")}}, "3-0")
	if s2.NumTails() != 3 || s2.Channel("1") != s1.Channel("1") {
		t.Fatalf("refresh changed the snapshot: n=%d", s2.NumTails())
	}
	s3 := s2.With([]Change{{Key: TailKey("1", "a")}}, "4-0")
	if !s3.Tailed("1") || s3.NumTails() != 2 {
		t.Fatal("one of two sessions ended: channel must stay tailed")
	}
	s4 := s3.With([]Change{{Key: TailKey("1", "b")}}, "5-0")
	if s4.Tailed("1") || !s3.Tailed("1") {
		t.Fatal("last session ended: channel still tailed (or the old snapshot changed)")
	}
	// a channel created after its tail registered starts tailed
	s5 := s4.With([]Change{{Key: ChannelKey("9"), Fields: ChannelHash("nine", "")}}, "6-0")
	if c := s5.Channel("9"); c == nil || !s5.Tailed("9") {
		t.Fatalf("channel 9 = %+v, tailed %v, want tailed", c, s5.Tailed("9"))
	}
}

func BenchmarkSnapshotTailChange(b *testing.B) {
	hashes := map[string]Hash{}
	for i := range 10000 {
		id := strconv.Itoa(i)
		hashes[ChannelKey(id)] = ChannelHash("", "")
		hashes[TailKey(id, "s")] = TailHash("n")
	}
	s := Build(hashes, false, "1-0")
	b.ReportAllocs()
	for b.Loop() {
		s = s.With([]Change{{Key: TailKey("5", "x"), Fields: TailHash("n")}}, "2-0")
		s = s.With([]Change{{Key: TailKey("5", "x")}}, "3-0")
	}
}

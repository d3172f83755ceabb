package store

import "testing"

// Absorb appends only what fits in the spare capacity, message offsets
// moved past what the batch held, and leaves both batches as they were
// otherwise.
func TestHistoryBatchAbsorb(t *testing.T) {
	b := &HistoryBatch{Buf: make([]byte, 0, 8), Msgs: make([]HistoryMsg, 0, 3)}
	b.Add("a", []byte("12"))
	o := &HistoryBatch{}
	o.Add("b", []byte("345"))
	o.Add("a", []byte("6"))
	if !b.Absorb(o) {
		t.Fatal("6 bytes and 3 messages in capacities of 8 and 3: not absorbed")
	}
	for i, want := range []string{"12", "345", "6"} {
		if got := string(b.Msg(i)); got != want {
			t.Fatalf("message %d = %q, want %q", i, got, want)
		}
	}
	if b.Msgs[1].Channel != "b" || len(o.Msgs) != 2 || string(o.Msg(0)) != "345" {
		t.Fatalf("channels or the absorbed batch changed: %+v, %+v", b.Msgs, o.Msgs)
	}
	if b.Absorb(o) { // neither its 4 bytes nor its 2 messages fit now
		t.Fatal("absorbed beyond the spare capacity")
	}
	if len(b.Buf) != 6 || len(b.Msgs) != 3 {
		t.Fatalf("a batch that did not absorb changed: %d bytes, %d messages", len(b.Buf), len(b.Msgs))
	}
}

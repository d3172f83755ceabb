package dataplane

import (
	"strings"
	"testing"

	"github.com/logplex/logplex/dataplane/route"
)

func TestWriteStatsReportsTheMinutesDeltas(t *testing.T) {
	prev := statsTotals{msgs: route.Counters{Received: 10, Processed: 9, Malformed: 1},
		drains: map[int64]drainTotals{7: {channel: "1", kind: "http", delivered: 5}, 8: {channel: "2", kind: "http", delivered: 9},
			9: {channel: "3", kind: "tcpsyslog"}}}
	cur := statsTotals{msgs: route.Counters{Received: 25, Processed: 22, Malformed: 2, UnknownToken: 1},
		drains: map[int64]drainTotals{7: {channel: "1", kind: "http", delivered: 17, dropped: 3, buffered: 4},
			8: {channel: "2", kind: "http", delivered: 9},      // idle this minute: no line
			9: {channel: "3", kind: "tcpsyslog", buffered: 2}}} // holds messages: a line
	var b strings.Builder
	writeStats(&b, 1700000040, prev, cur)
	want := "m=logplex_stats ts=1700000040 message_received=15 message_processed=13 message_received_malformed=1 unknown_token=1 unknown_channel=0\n" +
		"m=logplex_stats ts=1700000040 channel_id=1 drain_id=7 drain_type=http drain_delivered=12 drain_dropped=3 drain_buffered=4\n" +
		"m=logplex_stats ts=1700000040 channel_id=3 drain_id=9 drain_type=tcpsyslog drain_delivered=0 drain_dropped=0 drain_buffered=2\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

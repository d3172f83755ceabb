package redisstore

import (
	"testing"
	"time"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// The bus's PUBLISH payloads and the history writer's LPUSH arguments are
// views of buffers reused from one pipeline to the next (the bus's pooled
// payloads, the writer's arena). rueidis answers a timed-out or broken
// pipeline while its writer may still be copying those arguments, so
// after a failed command the buffers must not go back to their pools (a
// later payload would be written into bytes still being sent: the race
// detector caught it once in TestBusResubscribes). Redis paused past the
// timeout makes every command of the pipeline fail.

func pauseRedis(t *testing.T, srv *redistest.Server) {
	t.Helper()
	srv.MustDo(t, "CLIENT", "PAUSE", "1500", "ALL")
	t.Cleanup(func() { srv.MustDo(t, "CLIENT", "UNPAUSE") })
}

func TestBusKeepsBuffersOfAFailedPipeline(t *testing.T) {
	srv := redistest.Start(t)
	b := openBus(t, BusOptions{URL: srv.URL(), Timeout: 200 * time.Millisecond})
	payloadOf := func() []payload {
		buf := getPayload()
		*buf = append((*buf)[:0], "x"...)
		return []payload{{channel: "zc", buf: buf, msgs: 1}}
	}
	if !b.send(payloadOf()) {
		t.Fatal("a pipeline that succeeded: its buffers are not reused")
	}
	pauseRedis(t, srv)
	if b.send(payloadOf()) {
		t.Fatal("a pipeline that timed out: its buffers would be reused while rueidis may still write them")
	}
}

func TestHistoryWriterDropsTheArenaOfAFailedPipeline(t *testing.T) {
	srv := redistest.Start(t)
	sp := openSpool(t, SpoolOptions{URLs: []string{srv.URL()}})
	w := newWriter(sp, sp.shards[0]) // not running: the test drives it
	// send flushes one message and reports whether the arena its LPUSH
	// argument was a view of is kept for the next flush.
	send := func() bool {
		hb := store.GetHistoryBatch()
		hb.Add("zc", []byte("<134>1 2026-12-07T00:00:00Z host app web.1 - - zero copy"))
		w.group([]*store.HistoryBatch{hb})
		store.PutHistoryBatch(hb)
		arena := &w.arena[0]
		_, _, reuse, _ := w.send(time.Now().Add(200 * time.Millisecond))
		w.release(reuse)
		return cap(w.arena) > 0 && &w.arena[:1][0] == arena
	}
	if !send() {
		t.Fatal("a pipeline that succeeded: its arena is not reused")
	}
	pauseRedis(t, srv)
	if send() {
		t.Fatal("a pipeline that timed out: its arena would be reused while rueidis may still write it")
	}
}

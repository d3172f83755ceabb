package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Keys written exactly as Logplex writes them are served by Load and Session.
func TestAdoptLogplexKeys(t *testing.T) {
	srv := redistest.Start(t)
	for _, cmd := range [][]string{
		{"HMSET", "ch:1:data", "name", "app1", "flags", "no_tail"},
		{"HMSET", "ch:test:data", "name", "", "flags", ""}, // case 92
		{"HMSET", "tok:t.a7a5c1e8-0b23-4b1c-8f1e-1c2f3a4b5c6d:data", "ch", "1", "name", "app"},
		{"HMSET", "drain:17:data", "ch", "1", "token", "d.5e0f7b7e-2b8e-4c0c-9d7a-3e1f2a3b4c5d", "url", "syslog://logs.example.com:514"},
		{"HMSET", "drain:18:data", "ch", "1", "token", "d.x", "host", "legacy.example.com", "port", "601"},
		{"HMSET", "cred:ABCDEF", "pass", "s3cret", "name", "ops", "full_api", "1", "channel", "any"},
		{"SETEX", "session:0f8fad5b-d9cb-469f-a165-70867728950e", "360", `{"channel_id":"1","tail":"true"}`},
		{"SETBIT", "control_rod", "0", "1"},
		{"INCR", "channel_index"},
		{"LPUSH", "ch:1:spool", "not config"},
	} {
		srv.MustDo(t, cmd...)
	}
	c := openConfig(t, ConfigOptions{URL: srv.URL() + "/"}) // Logplex writes a trailing slash
	ctx := testCtx(t)
	s, err := c.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Channel("1")
	if ch == nil || ch.Name != "app1" || !ch.NoTail || len(ch.Tokens) != 1 || ch.Tokens[0].Name != "app" {
		t.Fatalf("channel 1 = %+v", ch)
	}
	if len(ch.Drains) != 2 || ch.Drains[0].URL != "syslog://logs.example.com:514" ||
		ch.Drains[1].URL != "syslog://legacy.example.com:601" {
		t.Fatalf("drains = %+v %+v", ch.Drains[0], ch.Drains[len(ch.Drains)-1])
	}
	if s.Channel("test") == nil {
		t.Fatal(`HMSET ch:test:data name "" flags "" not loaded`)
	}
	cr := s.Cred("ABCDEF")
	if cr == nil || !cr.FullAPI || !cr.AnyChannel || !cr.Verify("s3cret") || cr.Verify("wrong") {
		t.Fatalf("cred = %+v", cr)
	}
	if !s.ReadOnly {
		t.Fatal("SETBIT control_rod 0 1 not loaded as read-only")
	}
	body, err := c.Session(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e")
	if err != nil || string(body) != `{"channel_id":"1","tail":"true"}` {
		t.Fatalf("Session = %q, %v", body, err)
	}
	if n, err := c.Incr(ctx, config.ChannelIndexKey); n != 2 || err != nil {
		t.Fatalf("Incr after Logplex's INCR = %d, %v", n, err)
	}
}

// Our writes are Logplex's commands and values: a Logplex reading the same
// Redis sees the same keys.
func TestWritesLogplexCommands(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	ctx := testCtx(t)
	if _, err := c.Write(ctx,
		config.Change{Key: config.ChannelKey("5"), Fields: config.ChannelHash("n", "no_redis")},
		config.Change{Key: config.ControlRodKey, Fields: config.Hash{"0": "1"}}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(srv.MustDo(t, "HGETALL", "ch:5:data"))
	if got != "[flags no_redis name n]" {
		t.Fatalf("HGETALL ch:5:data = %s", got)
	}
	if v := srv.MustDo(t, "GETBIT", "control_rod", "0"); v != int64(1) {
		t.Fatalf("GETBIT control_rod 0 = %v", v)
	}
	if err := c.PutSession(ctx, "u-1", []byte("body"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl := srv.MustDo(t, "TTL", "session:u-1"); ttl != int64(2) {
		t.Fatalf("TTL session:u-1 = %v, want 2 (rounded up)", ttl)
	}
	// the feed entry
	es := srv.MustDo(t, "XRANGE", StreamKey, "-", "+").([]any)
	fields := fmt.Sprint(es[0].([]any)[1])
	if fields != `[k ch:5:data h {"flags":"no_redis","name":"n"} k control_rod h {"0":"1"}]` {
		t.Fatalf("feed entry = %s", fields)
	}
}

// A rewrite removes fields the new hash lacks; a delete removes the key.
func TestWriteReplacesWholeHash(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	ctx := testCtx(t)
	d := &config.Drain{ChannelID: "1", Token: "d.1", URL: "https://x.example/"}
	c.Write(ctx, config.Change{Key: config.DrainKey(1), Fields: config.DrainHash(d)})
	d.URL = ""
	c.Write(ctx, config.Change{Key: config.DrainKey(1), Fields: config.DrainHash(d)})
	if got := fmt.Sprint(srv.MustDo(t, "HGETALL", "drain:1:data")); got != "[ch 1 token d.1]" {
		t.Fatalf("HGETALL after rewrite = %s", got)
	}
	c.Write(ctx, config.Change{Key: config.DrainKey(1)})
	if n := srv.MustDo(t, "EXISTS", "drain:1:data"); n != int64(0) {
		t.Fatal("deleted key still exists")
	}
}

// A written version tells when Redis wrote it (store.TimedFeed: the
// stream id's time part), which the watcher's change delay is measured
// from; a version that is not a stream time tells nothing.
func TestFeedTimeIsTheWrite(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	var timed store.TimedFeed = c
	before := time.Now().Add(-time.Second) // Redis's clock is this machine's, to the ms
	v, err := c.Write(testCtx(t), config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("a", "")})
	if err != nil {
		t.Fatal(err)
	}
	at, ok := timed.FeedTime(v)
	if !ok || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("FeedTime(%q) = %v, %v; want the write's time", v, at, ok)
	}
	for _, v := range []string{"0-0", "", "x-1"} {
		if at, ok := timed.FeedTime(v); ok {
			t.Errorf("FeedTime(%q) = %v, want none", v, at)
		}
	}
}

// Follow reports a gap once the entries after its version were trimmed.
func TestFollowGap(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL(), FeedMaxLen: 10})
	ctx := testCtx(t)
	first, _ := c.Write(ctx, config.Change{Key: config.ChannelKey("0"), Fields: config.ChannelHash("", "")})
	for i := range 300 { // trimming with ~ drops whole nodes of 100 entries
		if _, err := c.Write(ctx, config.Change{Key: config.ChannelKey(fmt.Sprint(i)), Fields: config.ChannelHash("", "")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []string{first, "0-0"} {
		err := c.Follow(ctx, from, func([]config.Change, string) {})
		if !errors.Is(err, store.ErrGap) {
			t.Fatalf("Follow(%s) after trimming = %v, want ErrGap", from, err)
		}
	}
	srv.MustDo(t, "DEL", StreamKey) // a deleted feed is a gap too
	if err := c.Follow(ctx, first, func([]config.Change, string) {}); !errors.Is(err, store.ErrGap) {
		t.Fatalf("Follow after DEL of the feed = %v", err)
	}
}

// Keys of another type under config names are skipped, not fatal.
func TestLoadSkipsWrongType(t *testing.T) {
	srv := redistest.Start(t)
	srv.MustDo(t, "SET", "ch:9:data", "a string")
	srv.MustDo(t, "HMSET", "ch:8:data", "name", "ok", "flags", "")
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	s, err := c.Load(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.Channel("8") == nil || s.Channel("9") != nil {
		t.Fatalf("channels 8, 9 = %v, %v", s.Channel("8"), s.Channel("9"))
	}
}

// An entry whose hash does not decode (another tool's writer) is read from
// Redis instead.
func TestFollowRereadsUndecodableEntry(t *testing.T) {
	srv := redistest.Start(t)
	c := openConfig(t, ConfigOptions{URL: srv.URL()})
	ctx := testCtx(t)
	s, _ := c.Load(ctx)
	srv.MustDo(t, "HMSET", "ch:3:data", "name", "three", "flags", "")
	srv.MustDo(t, "XADD", StreamKey, "*", "k", "ch:3:data", "h", "{not json", "k", "ch:4:data")
	fctx, cancel := context.WithCancel(ctx)
	var got []config.Change
	c.Follow(fctx, s.Version, func(chs []config.Change, _ string) { got = chs; cancel() })
	if len(got) != 2 || got[0].Fields["name"] != "three" || got[1].Fields != nil {
		t.Fatalf("changes = %+v", got)
	}
}

func testLoadScansEveryMaster(t *testing.T, cl *redistest.Cluster) {
	cl.FlushAll(t)
	c := openConfig(t, ConfigOptions{URL: cl.URL()})
	ctx := testCtx(t)
	var changes []config.Change
	for i := range 100 {
		changes = append(changes, config.Change{Key: config.ChannelKey(fmt.Sprint(i)), Fields: config.ChannelHash("", "")})
	}
	if _, err := c.Write(ctx, changes...); err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes {
		if size := n.MustDo(t, "DBSIZE"); size == int64(0) {
			t.Fatalf("node %s holds no key; the test needs keys on every master", n.Addr())
		}
	}
	s, err := c.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumChannels() != 100 {
		t.Fatalf("loaded %d channels, want 100", s.NumChannels())
	}
}

// In a cluster, Follow delivers what Redis holds, not what the entry says,
// so a follower converges even when two writers' entries cross.
func testClusterFollowReadsCurrentValues(t *testing.T, cl *redistest.Cluster) {
	cl.FlushAll(t)
	c := openConfig(t, ConfigOptions{URL: cl.URL()})
	ctx := testCtx(t)
	s, _ := c.Load(ctx)
	c.Write(ctx, config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("new", "")})
	// a writer whose XADD lands after another's: its entry claims "old"
	args := []string{"XADD", StreamKey, "*", "k", "ch:1:data", "h", `{"flags":"","name":"old"}`}
	for _, n := range cl.Nodes {
		if _, err := n.Do(args...); err == nil {
			break
		}
	}
	fctx, cancel := context.WithCancel(ctx)
	var names []string
	c.Follow(fctx, s.Version, func(chs []config.Change, _ string) {
		names = append(names, chs[0].Fields["name"])
		if len(names) == 2 {
			cancel()
		}
	})
	if strings.Join(names, ",") != "new,new" {
		t.Fatalf("followed names %v, want the current value twice", names)
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"http://x", "redis+cluster://h:1/3", "redis://h:1/x"} {
		if _, err := OpenConfig(context.Background(), ConfigOptions{URL: u}); err == nil {
			t.Errorf("OpenConfig(%q) succeeded", u)
		}
	}
	if _, err := NewSpool(SpoolOptions{}); err == nil {
		t.Error("NewSpool without URLs succeeded")
	}
	if _, err := NewSpool(SpoolOptions{URLs: []string{"redis://a:1?addr=b:2", "redis://c:3"}}); err == nil {
		t.Error("a cluster URL mixed with shard URLs was accepted")
	}
}

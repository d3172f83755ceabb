package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/storetest"
)

func TestConfigSuite(t *testing.T) {
	storetest.RunConfig(t, func(t *testing.T) store.ConfigStore {
		c, err := OpenConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestSpoolSuite(t *testing.T) {
	open := func(t *testing.T, history int) store.Spool { return NewSpool(history, 0) }
	storetest.RunSpool(t, open)
	storetest.RunSpoolMore(t, open)
}

func TestConfigSuiteMore(t *testing.T) {
	storetest.RunConfigMore(t, func(t *testing.T) store.ConfigStore {
		c, err := OpenConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestConfigPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, _ := c.Incr(ctx, config.ChannelIndexKey)
	if _, err := c.Write(ctx, config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("x", "")},
		config.Change{Key: config.TokenKey("t.1"), Fields: config.TokenHash("1", "app")}); err != nil {
		t.Fatal(err)
	}
	c2, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c2.Load(ctx)
	if s.Token("t.1") == nil || s.Channel("1") == nil {
		t.Fatal("config lost across reopen")
	}
	if next, _ := c2.Incr(ctx, config.ChannelIndexKey); next != id+1 {
		t.Fatalf("counter restarted: %d after %d", next, id)
	}
}

// Two stores on one data dir (a running server and `logplex cred`): writes
// from either survive, and the follower sees the other's within a second.
func TestTwoProcessesShareADataDir(t *testing.T) {
	dir := t.TempDir()
	server, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := store.NewWatcher(server, time.Hour, nil)
	go w.Run(ctx)
	if _, err := server.Write(ctx, config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("a", "")}); err != nil {
		t.Fatal(err)
	}
	cli, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := config.NewCredential("ops", true, false)
	if _, err := cli.Write(ctx, config.Change{Key: config.CredKey(cred.ID), Fields: config.CredHash(cred)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for w.Current() == nil || w.Current().Cred(cred.ID) == nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not see the credential written by another process")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// the server's next write must not lose the other process's credential
	if _, err := server.Write(ctx, config.Change{Key: config.ChannelKey("2"), Fields: config.ChannelHash("b", "")}); err != nil {
		t.Fatal(err)
	}
	again, _ := OpenConfig(dir)
	s, _ := again.Load(ctx)
	if s.Cred(cred.ID) == nil || s.Channel("1") == nil || s.Channel("2") == nil {
		t.Fatal("a write from one process lost another's")
	}
	if _, err := cli.Write(ctx, config.Change{Key: config.CredKey(cred.ID)}); err != nil {
		t.Fatal(err)
	}
	for w.Current().Cred(cred.ID) != nil {
		if time.Now().After(deadline.Add(2 * time.Second)) {
			t.Fatal("revocation by another process not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusBoardSuite(t *testing.T) {
	storetest.RunStatusBoard(t, func(t *testing.T) store.StatusBoard {
		c, err := OpenConfig("")
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestFrameDeduperSuite(t *testing.T) {
	storetest.RunFrameDeduper(t, func(t *testing.T) store.FrameDeduper {
		c, _ := OpenConfig("")
		return c
	})
}

// TestEmbeddedHistoryCounted: the embedded store adds to
// logplex_history_written_total as the Redis store does.
func TestEmbeddedHistoryCounted(t *testing.T) {
	before := store.HistoryWritten.Get()
	sp := NewSpool(10, time.Hour)
	defer sp.Close()
	b := store.GetHistoryBatch()
	b.Add("ch1", []byte("m1"))
	b.Add("ch1", []byte("m2"))
	sp.Write(b)
	if got := store.HistoryWritten.Get() - before; got != 2 {
		t.Errorf("logplex_history_written_total rose by %d, want 2", got)
	}
}

package embedded

import (
	"context"
	"testing"

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

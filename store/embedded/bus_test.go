package embedded

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"

	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/storetest"
)

func TestBusSuite(t *testing.T) {
	storetest.RunBus(t, func(t *testing.T) store.Bus {
		b := NewBus()
		t.Cleanup(func() { b.Close() })
		return b
	})
}

func TestTailsSuite(t *testing.T) {
	storetest.RunTails(t, func(t *testing.T) store.ConfigStore {
		c, err := OpenConfig(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// Registrations describe this process's sessions: never written to
// the config log, so a restart (or another process) does not see them.
func TestTailsNotPersisted(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Write(ctx, config.Change{Key: config.ChannelKey("1"), Fields: config.ChannelHash("", "")},
		config.Change{Key: config.TailKey("1", "s"), Fields: config.TailHash("n"), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Load(ctx); !s.Tailed("1") {
		t.Fatal("registration not loaded")
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.log"))
	if err != nil || strings.Contains(string(data), "tail:") || !strings.Contains(string(data), "ch:1:data") {
		t.Fatalf("config.log = %s (%v)", data, err)
	}
	again, err := OpenConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := again.Load(ctx); s.Tailed("1") || s.Channel("1") == nil {
		t.Fatal("another opening of the data dir sees the registration")
	}
}

package controlplane_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/controlplane/session"
	"github.com/logplex/logplex/store"
	"github.com/logplex/logplex/store/embedded"
)

// A tail session over the bus: registered while it streams, fed by what
// is published for its channel (filters applied), ended by
// kill_tail_sessions, unregistered when it ends.
func TestTailsOverBus(t *testing.T) {
	bus := embedded.NewBus()
	p := newPlane(t, func(o *controlplane.Options) { o.Bus = bus })
	p.channel("live", "app")
	p.seed("live", "<1>1 2020-01-01T00:00:00Z h app web.1 - - history")
	res, err := p.client.Get(p.api + p.sessionPath(`{"channel_id":"live","tail":true,"ps":"web"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// the response started: subscribed, registered, and in this node's snapshot
	if !p.snapshot().Tailed("live") {
		t.Fatal("the channel is not tailed in the snapshot once the session streams")
	}
	rd := bufio.NewReader(res.Body)
	line := func() string {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := line(); l != "2020-01-01T00:00:00Z app[web.1]: history\n" {
		t.Fatalf("history %q", l)
	}
	bus.Publish("live", [][]byte{
		[]byte("<1>1 2020-01-01T00:00:01Z h app worker.1 - - filtered"),
		[]byte("<1>1 2020-01-01T00:00:02Z h app web.2 - - live one"),
	})
	bus.Publish("other", [][]byte{[]byte("<1>1 2020-01-01T00:00:02Z h app web.2 - - other channel")})
	bus.Publish("live", [][]byte{[]byte("<1>1 2020-01-01T00:00:03Z h app web.1 - - live two")})
	if l := line(); l != "2020-01-01T00:00:02Z app[web.2]: live one\n" {
		t.Fatalf("live %q", l)
	}
	if l := line(); l != "2020-01-01T00:00:03Z app[web.1]: live two\n" {
		t.Fatalf("live %q", l)
	}
	if n := p.cp.KillTailSessions(); n != 1 {
		t.Fatalf("kill_tail_sessions ended %d sessions, want 1", n)
	}
	if rest, err := io.ReadAll(rd); err != nil || len(rest) != 0 {
		t.Fatalf("after kill: %q, %v", rest, err)
	}
	eventually(t, 2*time.Second, "registration deleted when the session ended", func() bool {
		return !p.snapshot().Tailed("live")
	})
}

func newTails(t *testing.T, st *embedded.Config, bus store.Bus, ttl, every time.Duration) (*controlplane.Tails, *store.Watcher) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := store.NewWatcher(st, 0, nil)
	go w.Run(ctx)
	if err := w.WaitVersion(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return controlplane.NewTails(controlplane.TailsOptions{Bus: bus, Store: st, Watcher: w, TTL: ttl, RefreshEvery: every,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), w
}

// The session buffer holds 1024 messages; a reader that falls behind
// gets the newest ones and the count of the dropped ones (L11).
func TestTailsBufferOverflow(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	bus := embedded.NewBus()
	tails, _ := newTails(t, st, bus, 0, 0)
	tl, err := tails.Subscribe(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	before := time.Now()
	for i := range 30 {
		batch := make([][]byte, 100)
		for j := range batch {
			batch[j] = []byte{byte('0' + (100*i+j)%10)}
		}
		bus.Publish("c", batch)
	}
	b, err := tl.Next(t.Context())
	if err != nil || len(b.Msgs) != 1024 || b.Dropped != 3000-1024 || b.DroppedSince.Before(before) {
		t.Fatalf("Next: %d msgs, dropped %d since %v, %v", len(b.Msgs), b.Dropped, b.DroppedSince, err)
	}
	if string(b.Msgs[1023]) != "9" {
		t.Fatal("the newest message was not kept")
	}
}

// Time is the subject: the registration outlives its TTL while the
// session lives (refreshed without feed entries), comes back if it
// vanished, and goes when the session closes.
func TestTailsRegistrationLifetime(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	tails, w := newTails(t, st, embedded.NewBus(), 500*time.Millisecond, 50*time.Millisecond)
	tl, err := tails.Subscribe(t.Context(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Current().Tailed("r") {
		t.Fatal("not registered once Subscribe returned")
	}
	time.Sleep(800 * time.Millisecond) // the TTL is 500 ms
	if s, _ := st.Load(t.Context()); !s.Tailed("r") {
		t.Fatal("registration expired although the session lives")
	}
	// someone deleted it (e.g. Redis lost it): the next refresh writes it again
	key := registrationKey(t, st, "r")
	if _, err := st.Write(t.Context(), config.Change{Key: key}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "registration written again", func() bool { return w.Current().Tailed("r") })
	tl.Close()
	eventually(t, 2*time.Second, "registration deleted on Close", func() bool { return !w.Current().Tailed("r") })
	if tails.Len() != 0 {
		t.Fatalf("%d live tails after Close", tails.Len())
	}
}

// registrationKey finds the one tail key of channel ch by following the
// feed from the start.
func registrationKey(t *testing.T, st *embedded.Config, ch string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	key := ""
	_ = st.Follow(ctx, "0-0", func(changes []config.Change, _ string) {
		for _, c := range changes {
			if kind, id, _ := config.ParseKey(c.Key); kind == "tail" && c.Fields != nil {
				if got, _, _ := config.ParseTailID(id); got == ch {
					key = c.Key
					cancel()
				}
			}
		}
	})
	if key == "" {
		t.Fatal("no registration on the feed")
	}
	return key
}

// A subscription that fails registers nothing.
func TestTailsSubscribeFails(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	bus := embedded.NewBus()
	bus.Close()
	tails, w := newTails(t, st, bus, 0, 0)
	if _, err := tails.Subscribe(t.Context(), "f"); err == nil {
		t.Fatal("Subscribe on a closed bus succeeded")
	}
	if w.Current().Tailed("f") || tails.Len() != 0 {
		t.Fatal("a failed subscription left a registration")
	}
}

// Channel flags with a real tail source: no_redis streams live with the
// warning header; no_tail answers L20 and registers nothing.
func TestTailsChannelFlags(t *testing.T) {
	bus := embedded.NewBus()
	p := newPlane(t, func(o *controlplane.Options) { o.Bus = bus })
	p.channel("quiet", "app")
	p.channel("notail", "app")
	v, err := p.st.Write(t.Context(), config.Change{Key: config.ChannelKey("quiet"), Fields: config.ChannelHash("", "no_redis")},
		config.Change{Key: config.ChannelKey("notail"), Fields: config.ChannelHash("", "no_tail")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.w.WaitVersion(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	res, err := p.client.Get(p.api + p.sessionPath(`{"channel_id":"quiet","tail":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if w := res.Header.Get("X-Heroku-Warning"); w != "Warning: log history discarded due to excessive volume." {
		t.Fatalf("X-Heroku-Warning %q", w)
	}
	bus.Publish("quiet", [][]byte{[]byte("<1>1 2020-01-01T00:00:02Z h app web.2 - - live without history")})
	if l, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil || l != "2020-01-01T00:00:02Z app[web.2]: live without history\n" {
		t.Fatalf("no_redis tail line %q, %v", l, err)
	}
	r := p.do("GET", p.api+p.sessionPath(`{"channel_id":"notail","tail":true}`), "", nil)
	if !strings.Contains(r.body, "Logplex: Error L20 (Tail sessions forbidden)") {
		t.Fatalf("no_tail body %q", r.body)
	}
	if p.snapshot().Tailed("notail") {
		t.Fatal("a no_tail channel got a registration")
	}
}

// A node refuses tails beyond its limits (per channel and in all) with
// ErrTooManyTails, and gives the place back when a tail ends.
func TestTailsLimits(t *testing.T) {
	st, _ := embedded.OpenConfig("")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := store.NewWatcher(st, 0, nil)
	go w.Run(ctx)
	if err := w.WaitVersion(ctx, ""); err != nil {
		t.Fatal(err)
	}
	tails := controlplane.NewTails(controlplane.TailsOptions{Bus: embedded.NewBus(), Store: st, Watcher: w,
		MaxSessions: 3, MaxPerChannel: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a1, err1 := tails.Subscribe(ctx, "a")
	_, err2 := tails.Subscribe(ctx, "a")
	if err1 != nil || err2 != nil {
		t.Fatalf("within limits: %v %v", err1, err2)
	}
	if _, err := tails.Subscribe(ctx, "a"); !errors.Is(err, session.ErrTooManyTails) {
		t.Fatalf("third tail of one channel: %v, want ErrTooManyTails", err)
	}
	if _, err := tails.Subscribe(ctx, "b"); err != nil {
		t.Fatalf("another channel: %v", err)
	}
	if _, err := tails.Subscribe(ctx, "c"); !errors.Is(err, session.ErrTooManyTails) {
		t.Fatalf("fourth tail on the node: %v, want ErrTooManyTails", err)
	}
	a1.Close()
	if _, err := tails.Subscribe(ctx, "a"); err != nil {
		t.Fatalf("after a tail ended: %v", err)
	}
}

package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	cases := []struct {
		body string
		want Spec
		err  error
	}{
		{`{"channel_id":"12"}`, Spec{ChannelID: "12", Num: 100}, nil},
		{`{"channel_id":"12","num":"5","tail":false,"ps":"web","source":"app","x":1}`, Spec{ChannelID: "12", Num: 5, Tail: true, PS: []byte("web"), Source: []byte("app")}, nil},
		{`{"channel_id":"12","tail":null,"num":7}`, Spec{ChannelID: "12", Num: 7, Tail: true}, nil},
		{`{"channel_id":"12","ps":null,"source":""}`, Spec{ChannelID: "12", Num: 100}, nil},
		{`{"channel_id":12}`, Spec{}, ErrChannelMissing},
		{`{}`, Spec{}, ErrChannelMissing},
		{`{"channel_id":"1","num":"-1"}`, Spec{}, ErrBadNum},
		{`{"channel_id":"1","num":"1e3"}`, Spec{}, ErrBadNum},
		{`{"channel_id":"1","num":99999999999999999999}`, Spec{}, ErrBadNum},
		{`{"channel_id":"1","ps":5}`, Spec{}, ErrBadFilter},
		{`[1]`, Spec{}, ErrNotObject},
		{`null`, Spec{}, ErrNotObject},
		{``, Spec{}, ErrNotObject},
	}
	for _, c := range cases {
		got, err := ParseSpec([]byte(c.body))
		if !errors.Is(err, c.err) || got.ChannelID != c.want.ChannelID || got.Num != c.want.Num || got.Tail != c.want.Tail ||
			string(got.PS) != string(c.want.PS) || string(got.Source) != string(c.want.Source) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.body, got, err, c.want, c.err)
		}
	}
}

func hist(msgs ...string) [][]byte { // newest first, as Spool.Range returns
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[len(msgs)-1-i] = []byte(m)
	}
	return out
}

func TestAppendHistory(t *testing.T) {
	h := hist(
		"<1>1 T1 h app web.1 - - one",
		"garbage",
		"<1>1 T2 h router web.10 - - two",
		"<1>1 T3 h app worker.1 - [sd x=\"1\"] three\n",
		"<1>1 T4 h app web - - four",
	)
	got, n := AppendHistory(nil, h, Spec{Num: 100})
	if n != 4 || string(got) != "T1 app[web.1]: one\nT2 router[web.10]: two\nT3 app[worker.1]: three\nT4 app[web]: four\n" {
		t.Fatalf("all: %d %q", n, got)
	}
	// an unparseable entry still counts toward num without filters
	got, _ = AppendHistory(nil, h[:4], Spec{Num: 4})
	if string(got) != "T2 router[web.10]: two\nT3 app[worker.1]: three\nT4 app[web]: four\n" {
		t.Fatalf("num 4: %q", got)
	}
	got, _ = AppendHistory(nil, h, Spec{Num: 2, PS: []byte("web")})
	if string(got) != "T2 router[web.10]: two\nT4 app[web]: four\n" {
		t.Fatalf("ps: %q", got)
	}
	got, _ = AppendHistory(nil, h, Spec{Num: 5, Source: []byte("app"), PS: []byte("web.1")})
	if string(got) != "T1 app[web.1]: one\n" {
		t.Fatalf("source+ps: %q", got)
	}
	if got, n := AppendHistory(nil, h, Spec{Num: 0}); n != 0 || len(got) != 0 {
		t.Fatalf("num 0: %q", got)
	}
}

func TestAppendTail(t *testing.T) {
	since := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	now := since.Add(time.Minute)
	b := TailBatch{Dropped: 4, DroppedSince: since, Msgs: hist("<1>1 T9 h app web.1 - - live", "bad")}
	got := string(AppendTail(nil, b, Spec{}, now))
	want := "2020-01-02T03:05:05+00:00 logplex[1]: Error L11 (Tail buffer overflow) -> This tail session dropped 4 messages since 2020-01-02T03:04:05+00:00.\nT9 app[web.1]: live\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if got := string(AppendTail(nil, b, Spec{Source: []byte("app")}, now)); got != "T9 app[web.1]: live\n" {
		t.Fatalf("filtered: %q", got)
	}
}

// FuzzSessionJSON: any stored body either parses to a sane Spec or is
// refused with one of the documented errors; history formatting of any
// message never panics.
func FuzzSessionJSON(f *testing.F) {
	for _, s := range []string{`{"channel_id":"1"}`, `{"channel_id":"1","num":"3","ps":"web","source":"app","tail":1}`,
		`{"channel_id":"1","num":4}`, `[]`, `{"channel_id":null}`, `{"num":"x"}`, `"x"`} {
		f.Add(s, "<1>1 T h app web.1 - - m")
	}
	f.Fuzz(func(t *testing.T, body, msg string) {
		sp, err := ParseSpec([]byte(body))
		if err != nil {
			if !errors.Is(err, ErrNotObject) && !errors.Is(err, ErrChannelMissing) && !errors.Is(err, ErrBadNum) && !errors.Is(err, ErrBadFilter) {
				t.Fatalf("%q: undocumented error %v", body, err)
			}
			return
		}
		if sp.Num < 0 || sp.FetchCount() < sp.Num {
			t.Fatalf("%q: %+v", body, sp)
		}
		out, n := AppendHistory(nil, [][]byte{[]byte(msg)}, sp)
		if n > 1 || (n == 1 && !strings.HasSuffix(string(out), "\n")) {
			t.Fatalf("%q %q: %d lines %q", body, msg, n, out)
		}
	})
}

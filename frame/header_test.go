package frame

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestAppName(t *testing.T) {
	tests := []struct {
		msg  string
		want string // "" means not found
	}{
		{"<134>1 2012-12-10T03:00:48Z host t.tok web.1 - - hi", "t.tok"},
		{"<134>1  ts   host    t.tok  rest", "t.tok"},
		{" a b c d", "c"}, // a leading SP makes an empty first part
		{"a b c d ", "d"},
		{"a b c d", ""},
		{"a b c   ", ""},
		{"a\tb c d e f", "e"}, // only SP separates
		{"a b c\nd e", ""},
		{"", ""},
		{"    ", ""},
	}
	for _, tt := range tests {
		start, end, ok := AppName([]byte(tt.msg))
		got := ""
		if ok {
			got = tt.msg[start:end]
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("AppName(%q) = %q %v, want %q", tt.msg, got, ok, tt.want)
		}
	}
}

func TestHasTokenPrefix(t *testing.T) {
	for s, want := range map[string]bool{"t.x": true, "t.": true, "t": false, "": false, "T.x": false, "app": false} {
		if HasTokenPrefix([]byte(s)) != want {
			t.Errorf("HasTokenPrefix(%q) = %v", s, !want)
		}
	}
}

func TestAppendCooked(t *testing.T) {
	msg := []byte("<1>1 ts host t.tok ps - - t.tok stays")
	start, end, _ := AppName(msg)
	got := AppendCooked([]byte(">"), msg, start, end, []byte("app"))
	if want := ">" + "<1>1 ts host app ps - - t.tok stays"; string(got) != want {
		t.Errorf("AppendCooked = %q, want %q", got, want)
	}
}

// TestParseSD covers the STRUCTURED-DATA alternatives where backtracking
// decides where CONTENT starts.
func TestParseSD(t *testing.T) {
	tests := []struct {
		sd, content string
		ok          bool
	}{
		{`- x`, `x`, true},
		{`- `, ``, true},
		{`-  x`, ` x`, true},
		{`-x y`, ``, false},
		{`--`, ``, false},
		{`[a] c`, `c`, true},
		{`[a][b] c`, `c`, true},
		{`[a] [b] c`, `[b] c`, true},
		{`[a\] b] c`, `b] c`, true}, // the first ']' followed by SP wins
		{`[a\]x] c`, `c`, true},
		{`[a\]] c`, `c`, true},
		{`[a\]]] c`, ``, false},
		{`[a\][] z`, `z`, true},
		{`[a\][b] x] y`, `x] y`, true},
		{`[a]x y`, ``, false},
		{`[a\]x y`, ``, false},
		{`[] x`, ``, false},
		{`[`, ``, false},
		{`[a`, ``, false},
		{`[a]`, ``, false},
		{`[ ] x`, `x`, true},
		{"[a\n] l1\nl2", "l1\nl2", true},
		{`[\\] x`, `x`, true},
		{`[a][]] x`, ``, false},
	}
	for _, tt := range tests {
		msg := []byte("<1>1 ts host app ps id " + tt.sd)
		for name, parse := range map[string]func([]byte) (Fields, bool){"ParseDrain": ParseDrain, "ParseSession": ParseSession} {
			f, ok := parse(msg)
			if ok != tt.ok || string(f.Content) != tt.content {
				t.Errorf("%s(... %q) = %q %v, want %q %v", name, tt.sd, f.Content, ok, tt.content, tt.ok)
			}
		}
		if o, ok := oracleDrain(msg); ok != tt.ok || string(o.Content) != tt.content {
			t.Errorf("regexp oracle disagrees with the table on %q: %q %v", tt.sd, o.Content, ok)
		}
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		msg          string
		drain, sess  bool
		time, source string
	}{
		{"<1>1 a b c d e - x", true, true, "a", "c"},
		{"<1>1 a\tb c d e f - x", false, false, "", ""},
		{"<1>1 a\vb c d e f - x", true, true, "a\vb", "d"}, // \v is not \s
		{"<1>1  a b c d - - x", false, false, "", ""},
		{"<1>11 a b c d e - x", false, true, "a", "c"},
		{"<1> 1 a b c d e - x", false, false, "", ""},
		{"<>1 a b c d e - x", false, false, "", ""},
		{"<a>1 a b c d e - x", false, false, "", ""},
		{"1 a b c d e - x", false, false, "", ""},
		{"<1>1 a b c d e -", false, false, "", ""},
		{"<1>1 a b c d e", false, false, "", ""},
		{"<99999999999999999999999999>1 a b c d e - x", true, true, "a", "c"},
		{"<1>>1 a b c d e - x", false, true, "a", "c"},
	}
	for _, tt := range tests {
		d, dok := ParseDrain([]byte(tt.msg))
		s, sok := ParseSession([]byte(tt.msg))
		if dok != tt.drain || sok != tt.sess {
			t.Errorf("%q: ParseDrain ok=%v ParseSession ok=%v, want %v %v", tt.msg, dok, sok, tt.drain, tt.sess)
		}
		if dok && (string(d.Time) != tt.time || string(d.Source) != tt.source) {
			t.Errorf("%q: ParseDrain time %q source %q", tt.msg, d.Time, d.Source)
		}
		if sok && (string(s.Time) != tt.time || string(s.Source) != tt.source) {
			t.Errorf("%q: ParseSession time %q source %q", tt.msg, s.Time, s.Source)
		}
	}
}

// TestParseAgainstRegexp compares both parsers and AppName with Logplex's
// regular expressions on many generated messages made of the bytes that matter.
func TestParseAgainstRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 60000
	if testing.Short() {
		n = 6000
	}
	matched := 0
	for range n {
		msg := randomMessage(r)
		want, wok := oracleDrain(msg)
		got, gok := ParseDrain(msg)
		if wok != gok || !equalFields(want, got) {
			t.Fatalf("ParseDrain(%q) = %+v %v\nregexp: %+v %v", msg, got, gok, want, wok)
		}
		want, wok = oracleSession(msg)
		got, gok = ParseSession(msg)
		if wok != gok || !equalFields(want, got) {
			t.Fatalf("ParseSession(%q) = %+v %v\nregexp: %+v %v", msg, got, gok, want, wok)
		}
		if wok {
			matched++
		}
		ws, we, wok := oracleAppName(msg)
		gs, ge, gok := AppName(msg)
		if ws != gs || we != ge || wok != gok {
			t.Fatalf("AppName(%q) = %d,%d,%v; regexp %d,%d,%v", msg, gs, ge, gok, ws, we, wok)
		}
	}
	if matched < n/25 {
		t.Fatalf("only %d of %d generated messages matched: the generator is too weak", matched, n)
	}
}

// randomMessage builds a syslog-like message whose STRUCTURED-DATA and
// separators are drawn from the bytes that change how the regexps match.
func randomMessage(r *rand.Rand) []byte {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	b := []byte(pick("<134>", "<1>", "<134>", "<391>", "<12a>", "134>", "<"))
	b = append(b, pick("1", "1", "1", "2", "", "11")...)
	fields := 5
	if r.IntN(4) == 0 {
		fields = 3 + r.IntN(5)
	}
	for range fields {
		sep := " "
		if r.IntN(12) == 0 {
			sep = pick("  ", "\t", "")
		}
		b = append(b, sep...)
		b = append(b, pick("a", "ts", "-", "t.x", "x\vy", "é", "]", "[", "a\nb", "\\")...)
	}
	b = append(b, pick(" ", " ", " ", " ", " ", " ", "  ", "")...)
	if r.IntN(4) == 0 {
		b = append(b, pick("-", "-", "--", "")...)
	} else {
		for range 1 + r.IntN(3) {
			b = append(b, '[')
			for range r.IntN(5) {
				b = append(b, pick("a", " ", `\`, `\]`, "]", "[", "\n", `"`)...)
			}
			b = append(b, pick("]", "]", "]", "]", "]", "", " ")...)
		}
	}
	if r.IntN(4) != 0 {
		b = append(b, ' ')
	}
	for range r.IntN(5) {
		b = append(b, pick(" ", " ", "m", "]", "[", `\`, "\n", "-")...)
	}
	return b
}

func TestMatchFilters(t *testing.T) {
	ps := []struct {
		procid, ps string
		want       bool
	}{
		{"web.1", "web", true}, {"web.1", "web.1", true}, {"web", "web", true},
		{"web1", "web", false}, {"we", "web", false}, {"worker.1", "web", false},
		{"web.1.2", "web.1", true}, {"anything", "", true}, {"web.", "web", true},
	}
	for _, tt := range ps {
		if MatchPS([]byte(tt.procid), []byte(tt.ps)) != tt.want {
			t.Errorf("MatchPS(%q, %q) = %v", tt.procid, tt.ps, !tt.want)
		}
	}
	for _, tt := range []struct {
		app, source string
		want        bool
	}{{"app", "app", true}, {"app", "", true}, {"app", "ap", false}, {"heroku", "app", false}} {
		if MatchSource([]byte(tt.app), []byte(tt.source)) != tt.want {
			t.Errorf("MatchSource(%q, %q) = %v", tt.app, tt.source, !tt.want)
		}
	}
}

func ExampleParseDrain() {
	msg := []byte(`<133>1 2013-05-24T06:48:51.740194+00:00 host app web.1 - [meta a="b\]"] hello`)
	f, ok := ParseDrain(msg)
	fmt.Println(ok, f.Pri, string(f.Source), string(f.PS), string(f.Content))
	fmt.Printf("%s", AppendHTTPDrain(nil, f))
	// Output:
	// true 133 app web.1 hello
	// 62 <133>1 2013-05-24T06:48:51.740194+00:00 host app web.1 - hello
}

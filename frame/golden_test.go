package frame

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenCase is one block of testdata/formats.golden.
type goldenCase struct {
	line int               // line of the block's first key
	kv   map[string]string // values with ⏎ already turned into LF
	used map[string]bool
}

// get returns the value of key and marks it used.
func (c *goldenCase) get(key string) (string, bool) {
	v, ok := c.kv[key]
	c.used[key] = true
	return v, ok
}

func readGolden(t *testing.T, path string) []*goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []*goldenCase
	var cur *goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case line == "":
			cur = nil
		default:
			key, val, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s:%d: want \"key: value\", got %q", path, n, line)
			}
			if cur == nil {
				cur = &goldenCase{line: n, kv: map[string]string{}, used: map[string]bool{}}
				cases = append(cases, cur)
			}
			if _, dup := cur.kv[key]; dup {
				t.Fatalf("%s:%d: duplicate key %q", path, n, key)
			}
			cur.kv[key] = strings.ReplaceAll(val, "⏎", "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestGolden(t *testing.T) {
	cases := readGolden(t, "testdata/formats.golden")
	if len(cases) < 20 {
		t.Fatalf("only %d golden cases read", len(cases))
	}
	for _, c := range cases {
		c.get("case")
		name := c.kv["case"]
		t.Run(strconv.Itoa(c.line), func(t *testing.T) {
			t.Logf("formats.golden:%d %s", c.line, name)
			msg := goldenRoute(t, c)
			if in, ok := c.get("in"); ok {
				msg = []byte(in)
			}
			if msg != nil {
				goldenMessage(t, c, msg)
			}
			goldenNotices(t, c)
			for k := range c.kv {
				if !c.used[k] {
					t.Errorf("unknown or unused key %q", k)
				}
			}
		})
	}
}

// goldenRoute checks the ingress keys and returns the cooked message, or nil.
func goldenRoute(t *testing.T, c *goldenCase) []byte {
	in, ok := c.get("frame")
	if !ok {
		return nil
	}
	msg, n, k := Next([]byte(in))
	if k != Message || n != len(in) {
		t.Fatalf("Next = %v, n=%d; want Message, n=%d", k, n, len(in))
	}
	start, end, ok := AppName(msg)
	if !ok {
		t.Fatalf("AppName(%q) not found", msg)
	}
	if want, _ := c.get("appname"); string(msg[start:end]) != want {
		t.Errorf("AppName = %q, want %q", msg[start:end], want)
	}
	if !HasTokenPrefix(msg[start:end]) {
		t.Errorf("HasTokenPrefix(%q) = false", msg[start:end])
	}
	name, _ := c.get("name")
	cooked := AppendCooked(nil, msg, start, end, []byte(name))
	want, _ := c.get("cooked")
	checkBytes(t, "cooked", cooked, want)
	return cooked
}

// goldenMessage checks the parser and output-format keys for msg.
func goldenMessage(t *testing.T, c *goldenCase, msg []byte) {
	df, dok := ParseDrain(msg)
	sf, sok := ParseSession(msg)
	if _, no := c.get("nodrain"); no == dok {
		t.Errorf("ParseDrain ok = %v, want %v", dok, !no)
	}
	if _, no := c.get("nosession"); no == sok {
		t.Errorf("ParseSession ok = %v, want %v", sok, !no)
	}
	tok, _ := c.get("token")
	if want, ok := c.get("drain"); ok {
		checkFramed(t, "AppendSyslogDrain", AppendSyslogDrain(nil, df, []byte(tok)), want)
	}
	if want, ok := c.get("http"); ok {
		checkFramed(t, "AppendHTTPDrain", AppendHTTPDrain(nil, df), want)
	}
	if want, ok := c.get("v3"); ok {
		checkFramed(t, "AppendV3Log", AppendV3Log(nil, df), want)
	}
	if want, ok := c.get("session"); ok {
		checkBytes(t, "AppendSessionLine", AppendSessionLine(nil, sf), want)
	}
	if want, ok := c.get("pri"); ok && strconv.Itoa(df.Pri) != want {
		t.Errorf("ParseDrain Pri = %d, want %s", df.Pri, want)
	}
	if want, ok := c.get("sessionpri"); ok && strconv.Itoa(sf.Pri) != want {
		t.Errorf("ParseSession Pri = %d, want %s", sf.Pri, want)
	}
}

// goldenNotices checks the notice keys.
func goldenNotices(t *testing.T, c *goldenCase) {
	now := goldenTime(t, c, "now")
	since := goldenTime(t, c, "since")
	count := 0
	if v, ok := c.get("count"); ok {
		count, _ = strconv.Atoi(v)
	}
	tok, _ := c.get("token")
	if want, ok := c.get("l10syslog"); ok {
		checkFramed(t, "AppendL10Syslog", AppendL10Syslog(nil, now, []byte(tok), count, since), want)
	}
	if want, ok := c.get("l10http"); ok {
		checkFramed(t, "AppendL10HTTP", AppendL10HTTP(nil, now, count, since), want)
	}
	if want, ok := c.get("l11"); ok {
		checkBytes(t, "AppendL11", AppendL11(nil, now, count, since), want)
	}
	if want, ok := c.get("l14"); ok {
		src, _ := c.get("source")
		alert, _ := c.get("alert")
		uri, _ := c.get("uri")
		checkBytes(t, "AppendL14", AppendL14(nil, now, []byte(tok), []byte(src), alert, uri), want)
	}
	if want, ok := c.get("l20"); ok {
		checkBytes(t, "AppendL20", AppendL20(nil, now), want)
	}
}

func goldenTime(t *testing.T, c *goldenCase, key string) time.Time {
	v, ok := c.get(key)
	if !ok {
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return tm
}

// checkFramed is checkBytes for octet-counted output; it first checks that the
// golden value's own length prefix is right, so a typo in the file is reported
// as such.
func checkFramed(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	size, body, ok := strings.Cut(want, " ")
	if n, err := strconv.Atoi(size); !ok || err != nil || n != len(body) {
		t.Errorf("%s: golden value's length prefix %q does not match its body (%d bytes)", what, size, len(body))
	}
	checkBytes(t, what, got, want)
}

// checkBytes reports got != want.
func checkBytes(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

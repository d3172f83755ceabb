package bench

import (
	"bytes"
	"strings"
	"testing"
)

// Main is the whole `logplex bench` command: its flags parse here, and a
// bad flag or --target without its inputs is a usage error (2), not a run.
func TestMainFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if c := Main([]string{"--list"}, &out, &errOut, "test"); c != 0 {
		t.Fatalf("--list exit %d: %s", c, errOut.String())
	}
	for _, n := range ScenarioNames() {
		if !strings.Contains(out.String(), n) {
			t.Errorf("--list lacks %s", n)
		}
	}
	for _, args := range [][]string{{"--no-such-flag"}, {"--target", "http://a:b@127.0.0.1:1"}, {"--rate", "fast"}, {"relay"}} {
		if c := Main(args, &out, &errOut, "test"); c != 2 {
			t.Errorf("%q: exit %d, want 2", args, c)
		}
	}
}

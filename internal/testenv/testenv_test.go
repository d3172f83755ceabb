package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingFailsUnderAnyCI runs this test binary again with CI set to
// values that were once read as "not CI" and expects the inner test to fail;
// without CI it must be skipped.
func TestMissingFailsUnderAnyCI(t *testing.T) {
	if os.Getenv("TESTENV_INNER") == "1" {
		Tool(t, "nothing to install", "logplex-no-such-tool-"+strings.Repeat("x", 8))
		t.Fatal("Tool returned without a tool")
	}
	for _, c := range []struct {
		env  []string
		fail bool
	}{
		{[]string{"CI=true"}, true},
		{[]string{"CI=1"}, true},
		{[]string{"CI="}, true},
		{nil, false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingFailsUnderAnyCI$", "-test.v")
		env := []string{"TESTENV_INNER=1"}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, c.env...)
		out, err := cmd.CombinedOutput()
		switch {
		case c.fail && (err == nil || !strings.Contains(string(out), "CI is set")):
			t.Errorf("%v: want a failure naming CI, got err=%v\n%s", c.env, err, out)
		case !c.fail && (err != nil || !strings.Contains(string(out), "--- SKIP")):
			t.Errorf("without CI: want a skip, got err=%v\n%s", err, out)
		}
	}
}

func TestToolFindsAnExecutable(t *testing.T) {
	if p := Tool(t, "", "no-such-tool-xyz", "go"); p == "" {
		t.Fatal("go not found")
	}
}

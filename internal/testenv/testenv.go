// Package testenv decides what a test does when a tool it drives is missing
// (redis-server, rsyslogd, haproxy, docker-compose, systemd-analyze, …):
// on a developer's machine the test is skipped with a line saying what to
// install; whenever the environment variable CI is set, to any value, the
// test fails instead, so a CI run can never pass by testing nothing.
//
// Tests use it through two calls: Tool finds an executable, Missing reports
// one that is absent or unusable. It also holds Buffer, the output buffer
// tests share. testenv imports the standard library only
// and is imported by tests and test helpers only.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the environment variable CI is set (to any value,
// the empty string included).
func InCI() bool {
	_, ok := os.LookupEnv("CI")
	return ok
}

// Tool returns the path of the first of names that exists: a bare name is
// looked up on PATH, a name with a slash is taken as a path. When none
// exists it calls Missing with install, which says how to get the tool.
func Tool(t testing.TB, install string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, "%v not found: %s", names, install)
	return ""
}

// Missing ends the test because a tool it needs is absent or does not
// work: t.Fatal when CI is set, t.Skip otherwise. The message should say
// what is missing and how to install it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatal(msg + " (CI is set: a missing tool fails the test)")
	}
	t.Skip(msg + " (skipped; with CI set this fails)")
}

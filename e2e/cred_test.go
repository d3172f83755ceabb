package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var credOut = regexp.MustCompile(`(?m)^id:\s*(\S+)\s*$[\s\S]*^password:\s*(\S+)\s*$`)

// TestCredCLIAgainstRunningServer is issue 3's acceptance 3: a credential
// made with `logplex cred create` (another process, same data dir) works for
// the API and /logs; `logplex cred revoke` makes the next request 401 within
// a second.
func TestCredCLIAgainstRunningServer(t *testing.T) {
	dir := t.TempDir()
	p := StartAll(t, binPath, dir)
	_, tok := createChannel(t, p, "app")
	out, err := exec.Command(binPath, "cred", "create", "--name", "ops", "--grant", "full_api,any_channel", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("cred create: %v\n%s", err, out)
	}
	m := credOut.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("cred create printed no id/password:\n%s", out)
	}
	id, pass := m[1], m[2]
	Eventually(t, 2*time.Second, "new credential accepted by the API", func() bool {
		return Do(t, "GET", "http://"+p.API+"/healthcheck", id, pass, nil, nil).Status == 200
	})
	body := Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - via cred", tok))
	if r := Do(t, "POST", "http://"+p.Logs+"/logs", id, pass, map[string]string{"Content-Type": "application/logplex-1"}, []byte(body)); r.Status != 204 {
		t.Fatalf("/logs with the new any_channel credential: %d %s", r.Status, r.Body)
	}
	list, err := exec.Command(binPath, "cred", "list", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(list), id) || strings.Contains(string(list), pass) {
		t.Fatalf("cred list (must show the id, never the password): %v\n%s", err, list)
	}
	if out, err := exec.Command(binPath, "cred", "revoke", id, "--data-dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("cred revoke: %v\n%s", err, out)
	}
	revoked := time.Now()
	Eventually(t, time.Second, "revoked credential refused", func() bool {
		return Do(t, "GET", "http://"+p.API+"/healthcheck", id, pass, nil, nil).Status == 401
	})
	t.Logf("revocation effective after %v", time.Since(revoked))
}

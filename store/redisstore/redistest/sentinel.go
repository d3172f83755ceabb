package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Sentinel is one redis-sentinel process on 127.0.0.1 that monitors a
// master under a name, with a quorum of one so that it alone decides a
// failover.
type Sentinel struct {
	*Server
	Master string // the monitored master's name
}

// StartSentinel runs redis-sentinel on a free loopback port, monitoring
// master as name; it declares the master down after downAfter without an
// answer. It is stopped at t.Cleanup.
func StartSentinel(t testing.TB, name string, master *Server, downAfter time.Duration) *Sentinel {
	t.Helper()
	bin := lookBin(t, "redis-sentinel")
	dir := t.TempDir()
	for range 10 {
		port, err := freePort(false)
		if err != nil {
			continue
		}
		conf := filepath.Join(dir, "sentinel-"+strconv.Itoa(port)+".conf")
		// sentinel rewrites its config file as it learns: it must be writable.
		text := fmt.Sprintf("bind 127.0.0.1\nport %d\ndir %s\nlogfile sentinel-%d.log\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			port, dir, port, name, master.Port(), name, downAfter.Milliseconds(), name, name)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &Server{t: t, bin: bin, dir: dir, port: port}
		if err := s.runArgs(conf); err == nil {
			t.Cleanup(s.Stop)
			return &Sentinel{Server: s, Master: name}
		}
	}
	t.Fatal("redistest: could not start redis-sentinel")
	return nil
}

// URL is the client URL that finds the current master through this
// sentinel: redis://<sentinel>?master_set=<name>.
func (s *Sentinel) URL() string { return "redis://" + s.Addr() + "?master_set=" + s.Master }

// MasterAddr asks the sentinel for the master's current address.
func (s *Sentinel) MasterAddr() (string, error) {
	v, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.Master)
	if err != nil {
		return "", err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("sentinel answered %v", v)
	}
	return fmt.Sprintf("%v:%v", a[0], a[1]), nil
}

// runArgs starts s.bin with args (no defaults) and waits for PING.
func (s *Server) runArgs(args ...string) error {
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	return s.await(cmd)
}

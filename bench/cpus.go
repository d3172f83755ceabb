package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Pinning (Options.RouterCPUs, --router-cpus): the router and the relay
// baseline start under `taskset -c <list>`, so they and every thread they
// make run on those CPUs only (the Go runtime then sizes GOMAXPROCS to
// them); the suite (generator, sinks, the redis-server it starts) moves to
// the machine's other CPUs, so the router's core is its own. This is how
// issue 15's "router on one core" figures are measured:
// `logplex bench --router-cpus 1` on a 2-core machine.

// cpuList parses a taskset-style CPU list ("1", "0-3", "0,2-3").
func cpuList(s string) (map[int]bool, error) {
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a CPU number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			if c >= runtime.NumCPU() {
				return nil, fmt.Errorf("CPU list %q: this machine has CPUs 0-%d", s, runtime.NumCPU()-1)
			}
			set[c] = true
		}
	}
	return set, nil
}

// pinSuite moves every thread of this process to the CPUs not in the
// router's list (threads made later inherit it); with none left it does
// nothing.
func pinSuite(routerCPUs string) error {
	set, err := cpuList(routerCPUs)
	if err != nil {
		return err
	}
	var rest []string
	for c := range runtime.NumCPU() {
		if !set[c] {
			rest = append(rest, strconv.Itoa(c))
		}
	}
	if len(rest) == 0 {
		return nil
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", strings.Join(rest, ","), strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset (util-linux) for the suite: %v: %s", err, out)
	}
	return nil
}

// command is exec.Command(bin, args...), under `taskset -c cpus` when
// cpus is set.
func command(cpus, bin string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
}

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Report is a whole suite run: the machine, the command, every result and
// the targets checked.
type Report struct {
	Version string    `json:"version"` // the router binary's version (commit)
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	Results []Result  `json:"results"`
	Checks  []Check   `json:"checks"`
	Sweep   string    `json:"sweep,omitempty"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPUs      int     `json:"cpus"`
	Model     string  `json:"cpu_model"`
	MemGiB    float64 `json:"mem_gib"`
	Kernel    string  `json:"kernel"`
	GoVersion string  `json:"go"`
}

func numCPU() int { return runtime.NumCPU() }

// Run runs every scenario of o (for every value of the sweep) and returns
// the report. Setup failures of one scenario are reported in its result;
// Run fails only on bad options.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.setDefaults()
	if o.Bin == "" {
		return nil, fmt.Errorf("no logplex binary given")
	}
	base, err := parseKnobs(o.Knobs)
	if err != nil {
		return nil, err
	}
	sweepName, sweepVals, err := parseSweep(o.Sweep)
	if err != nil {
		return nil, err
	}
	if sweepName == "bin" {
		for _, b := range sweepVals {
			if _, err := os.Stat(b); err != nil {
				return nil, fmt.Errorf("--sweep bin=…: %w", err)
			}
		}
	}
	if o.RouterCPUs != "" {
		if err := pinSuite(o.RouterCPUs); err != nil {
			return nil, err
		}
	}
	var scns []Scenario
	for _, name := range o.Scenarios {
		s, err := LookupScenario(name, o.Quick)
		if err != nil {
			return nil, err
		}
		scns = append(scns, s)
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	work := o.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "logplex-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	raiseFileLimit()
	rep := &Report{Version: o.Version, Command: o.Command, Started: time.Now().UTC(), Machine: machine(), Sweep: o.Sweep}
	defaults := routerDefaults(o.Bin)
	if len(sweepVals) == 0 {
		sweepVals = []string{""}
	}
	versions := map[string]string{o.Bin: binVersion(o.Bin)}
	binDefaults := map[string]map[string]string{o.Bin: defaults}
	swept := map[string]int{} // runs of each sweep value so far
	for _, v := range sweepVals {
		ks := base
		tag := ""
		ro := o // the options of this value's runs
		switch {
		case sweepName == "bin":
			// an A/B of two builds: --sweep bin=A,B,A,B alternates them
			tag, ro.Bin = "bin="+v, v
			if _, ok := versions[v]; !ok {
				versions[v], binDefaults[v] = binVersion(v), routerDefaults(v)
			}
			defaults = binDefaults[v]
		case sweepName != "":
			tag = sweepName + "=" + v
			if ks, err = parseKnobs(append(append([]string(nil), o.Knobs...), tag)); err != nil {
				return nil, err
			}
		}
		// label names the value's runs in file names: a value swept again
		// (bin=A,B,A,B) gets a directory, and so a data dir, of its own
		label := fileTag(tag)
		if swept[tag]++; swept[tag] > 1 {
			label += fmt.Sprintf("-%d", swept[tag])
		}
		listed := map[string]int{} // runs of each scenario for this value so far
		for i, s := range scns {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			listed[s.Name]++
			dir := filepath.Join(work, fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(s.Name, "@", "_")))
			if label != "" {
				dir += "-" + label
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "bench: %s%s: %s\n", s.Name, tagSuffix(tag), s.Desc)
			}
			busy := waitQuiet(ctx, &o)
			before := calibrate()
			res := runScenario(ctx, &ro, s, ks, defaults, dir, profileName(label, s.Name, listed[s.Name]))
			res.RouterVersion = versions[ro.Bin]
			after := calibrate()
			res.MachineBefore, res.MachineAfter = &before, &after
			if busy > o.QuietCores {
				res.Notes = append(res.Notes, fmt.Sprintf("machine busy at the start: other processes used %.2f cores (waited %s)", busy, o.QuietWait))
			}
			res.Sweep = tag
			if res.Error != "" {
				res.Notes = append(res.Notes, "router log: "+tailFile(filepath.Join(dir, "router.log"), 5))
			}
			rep.Results = append(rep.Results, res)
		}
	}
	rep.Checks = Checks(rep.Results)
	return rep, nil
}

// profileName is the file name of a run's CPU profile: the sweep value's
// label, the scenario, and -N for its Nth run when the scenario is listed
// more than once.
func profileName(label, scenario string, nth int) string {
	name := strings.NewReplacer("@", "_at_", "/", "_", "=", "_").Replace(scenario)
	if nth > 1 {
		name += "-" + strconv.Itoa(nth)
	}
	if label != "" {
		name = label + "-" + name
	}
	return name + ".pprof"
}

// binVersion is what `bin version` prints after "logplex " (the commit it
// was built from), "" if it prints nothing of the kind.
func binVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "logplex ")
	if err != nil || !ok {
		return ""
	}
	return v
}

// fileTag makes a sweep's tag ("knob=value", "bin=/path/to/logplex") a
// part of a file name.
func fileTag(tag string) string {
	return strings.NewReplacer("=", "_", ",", "_", "/", "_").Replace(tag)
}

// waitQuiet waits (at most QuietWait) until the machine's busy CPU, with
// nothing of the suite running, is under QuietCores; it returns the last
// reading.
func waitQuiet(ctx context.Context, o *Options) float64 {
	if o.QuietWait < 0 {
		return 0
	}
	deadline := time.Now().Add(o.QuietWait)
	var said time.Time
	for {
		busy := busyCores(time.Second)
		if busy <= o.QuietCores || time.Now().After(deadline) || ctx.Err() != nil {
			return busy
		}
		if o.Progress != nil && time.Since(said) >= 10*time.Second {
			said = time.Now()
			fmt.Fprintf(o.Progress, "bench: the machine is busy (%.2f cores used by other processes); waiting up to %s\n",
				busy, time.Until(deadline).Round(time.Second))
		}
	}
}

func tagSuffix(tag string) string {
	if tag == "" {
		return ""
	}
	return " [" + tag + "]"
}

// tailFile returns the last n lines of a file, joined by " | ".
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(none)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// machine reads the CPU model, memory and kernel of this machine.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemGiB = float64(statusKB(b, "MemTotal:")) / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

var helpFlag = regexp.MustCompile(`^  --([a-z0-9-]+) \(default "([^"]*)"\)`)

// tuningFlag reports whether a router flag is a performance knob the
// report should list with its default.
func tuningFlag(name string) bool {
	switch name {
	case "event-loops", "read-buffer-cap", "http-drain-target-bytes", "http-drain-buffer-size",
		"tcp-drain-target-bytes", "tcp-drain-buffer-size", "redis-buffer-length", "max-inflight-logs-bytes",
		"http-drain-compression":
		return true
	}
	for _, s := range []string{"history-", "flush", "pipeline", "spool", "batch"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// routerDefaults runs `bin help` and returns the defaults of the tuning flags.
func routerDefaults(bin string) map[string]string {
	out, err := exec.Command(bin, "help").Output()
	m := map[string]string{}
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if g := helpFlag.FindStringSubmatch(sc.Text()); g != nil && tuningFlag(g[1]) {
			m[g[1]] = g[2]
		}
	}
	return m
}

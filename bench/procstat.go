package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// clockTicks is sysconf(_SC_CLK_TCK): 100 on every Linux architecture Go
// supports (the kernel's USER_HZ), which /proc/<pid>/stat counts in.
const clockTicks = 100

// ProcSample is one reading of a process's /proc files.
type ProcSample struct {
	CPU   time.Duration // utime + stime
	Sys   time.Duration // stime: the part spent in the kernel (system calls, network stack)
	RSS   int64         // VmRSS, bytes
	HWM   int64         // VmHWM (peak RSS), bytes
	Taken time.Time
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{Taken: time.Now()}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	if s.CPU, s.Sys, err = parseStatCPU(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, err
	}
	s.RSS = statusKB(status, "VmRSS:") * 1024
	s.HWM = statusKB(status, "VmHWM:") * 1024
	return s, nil
}

// parseStatCPU returns utime+stime, and stime, from a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may contain
// spaces, so fields are counted after the last ')': state is field 3, utime
// 14, stime 15.
func parseStatCPU(stat []byte) (cpu, sys time.Duration, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc stat: no ')' in %q", stat)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc stat: %d fields after the name", len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, nil
}

// statusKB returns the kB value of a /proc/<pid>/status line ("VmRSS:  123 kB").
func statusKB(status []byte, key string) int64 {
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return 0
	}
	line := status[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return v
}

// RSSWatch samples a process's RSS every interval and keeps the largest.
type RSSWatch struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

// WatchRSS starts sampling pid (0: nothing to watch).
func WatchRSS(pid int, every time.Duration) *RSSWatch {
	w := &RSSWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if pid <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if s, err := ReadProc(pid); err == nil {
				w.mu.Lock()
				w.peak = max(w.peak, s.RSS)
				w.mu.Unlock()
			}
			select {
			case <-t.C:
			case <-w.stop:
				return
			}
		}
	}()
	return w
}

// Stop ends sampling and returns the peak RSS seen, in bytes.
func (w *RSSWatch) Stop() int64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// raiseFileLimit lifts the soft open-file limit to the hard one, for the
// many-connections scenario (the Go runtime does this too since 1.19; the
// call is kept for clarity and older kernels' defaults).
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// SystemCPU reads the first line of /proc/stat: the CPU time every process
// (and the kernel) has used so far, busy (user, nice, system, irq, softirq,
// steal) and in all.
func SystemCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseSystemCPU(b)
}

func parseSystemCPU(stat []byte) (busy, total time.Duration, err error) {
	line := stat
	if i := bytes.IndexByte(stat, '\n'); i >= 0 {
		line = stat[:i]
	}
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks [10]int64 // user nice system idle iowait irq softirq steal guest guest_nice
	for i := 1; i < len(f) && i <= len(ticks); i++ {
		ticks[i-1], _ = strconv.ParseInt(string(f[i]), 10, 64)
	}
	b := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7] // guest time is inside user
	t := b + ticks[3] + ticks[4]
	return time.Duration(b) * time.Second / clockTicks, time.Duration(t) * time.Second / clockTicks, nil
}

// busyCores measures how many cores the whole machine keeps busy over d.
func busyCores(d time.Duration) float64 {
	b0, _, err := SystemCPU()
	if err != nil {
		return 0
	}
	t0 := time.Now()
	time.Sleep(d)
	b1, _, err := SystemCPU()
	if err != nil {
		return 0
	}
	return (b1 - b0).Seconds() / time.Since(t0).Seconds()
}

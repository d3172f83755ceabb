package bench

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"
)

// Calibration is what three fixed operations cost the suite's process on
// this machine, measured just before a scenario and just after it. The
// router's CPU per message follows the machine's speed: a virtual machine
// whose host is busy, or whose system calls exit to a hypervisor, runs the
// same binary at half the speed of a quiet one, and figures taken hours
// apart differ by more than any change under test. A result's calibration
// says which kind of machine (or phase of one) measured it:
//
//   - SyscallNs: one getppid(2), the cheapest system call: what entering
//     and leaving the kernel costs (~0.1 µs on bare metal, several times
//     more in a nested virtual machine). The router makes a few per HTTP
//     request, read and write.
//   - Loopback4KUs: a 4 KiB write on a loopback TCP connection and its
//     read at the other end, through Go's net package: what one request
//     or one ingest read costs beyond the router's own work.
//   - SHA256MBps: hashing speed of one core: the CPU's speed alone.
//
// Each figure is the median of calibrationRounds rounds of
// calibrationRound.
type Calibration struct {
	SyscallNs    float64 `json:"syscall_ns"`
	Loopback4KUs float64 `json:"loopback_4k_us"`
	SHA256MBps   float64 `json:"sha256_mb_per_s"`
}

const (
	calibrationRounds = 5
	calibrationRound  = 20 * time.Millisecond
)

// calibrate measures the machine (about 0.3 s). A figure that cannot be
// measured (no loopback socket) is left 0.
func calibrate() Calibration {
	var c Calibration
	c.SyscallNs = median(func() float64 {
		return perOp(func() { syscall.Getppid() }) * 1e9
	})
	c.Loopback4KUs = loopback4K()
	data := make([]byte, 64<<10)
	c.SHA256MBps = median(func() float64 {
		return float64(len(data)) / perOp(func() { sha256.Sum256(data) }) / 1e6
	})
	return c
}

// loopback4K is the median time, in µs, of a 4 KiB write on a loopback
// TCP connection and the read of it at the other end.
func loopback4K() float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0
	}
	defer w.Close()
	a := <-ch
	if a.err != nil {
		return 0
	}
	defer a.c.Close()
	buf := make([]byte, 4<<10)
	failed := false
	us := median(func() float64 {
		return perOp(func() {
			if _, err := w.Write(buf); err != nil {
				failed = true
				return
			}
			if _, err := io.ReadFull(a.c, buf); err != nil {
				failed = true
			}
		}) * 1e6
	})
	if failed {
		return 0
	}
	return us
}

// perOp runs op for calibrationRound and returns its mean time in seconds.
func perOp(op func()) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < calibrationRound {
		for range 16 {
			op()
		}
		n += 16
	}
	return time.Since(start).Seconds() / float64(n)
}

// median returns the median of calibrationRounds calls of f.
func median(f func() float64) float64 {
	v := make([]float64, calibrationRounds)
	for i := range v {
		v[i] = f()
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// String renders the calibration for a result's notes.
func (c Calibration) String() string {
	return fmt.Sprintf("syscall %.2f µs, loopback 4 KiB write+read %.1f µs, sha256 %.0f MB/s",
		c.SyscallNs/1e3, c.Loopback4KUs, c.SHA256MBps)
}

package bench

import (
	"bufio"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logplex/logplex/config"
)

// redisConn is a minimal RESP client for the platform scenario: it writes
// a large config straight into the config Redis in pipelines, which the
// API would take minutes to create. bench may not import the store (it
// drives the binary over sockets), so it speaks the protocol itself; the
// keys and hashes are config's (ChannelKey, TokenHash, …), which is what
// the control plane's store writes.
type redisConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	n  int // commands written and not yet read
}

func dialRedis(addr string) (*redisConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: c, br: bufio.NewReaderSize(c, 64<<10), bw: bufio.NewWriterSize(c, 256<<10)}, nil
}

func (rc *redisConn) Close() error { return rc.c.Close() }

// send queues one command.
func (rc *redisConn) send(args ...string) {
	rc.bw.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		rc.bw.WriteString("$" + strconv.Itoa(len(a)) + "\r\n")
		rc.bw.WriteString(a)
		rc.bw.WriteString("\r\n")
	}
	rc.n++
}

// flush writes the queued commands and reads (and checks) their replies.
func (rc *redisConn) flush() error {
	_ = rc.c.SetDeadline(time.Now().Add(60 * time.Second))
	if err := rc.bw.Flush(); err != nil {
		return err
	}
	for ; rc.n > 0; rc.n-- {
		if _, err := rc.reply(); err != nil {
			return err
		}
	}
	return nil
}

// do sends one command and returns its reply (bulk strings and simple
// strings as they are, integers in decimal).
func (rc *redisConn) do(args ...string) (string, error) {
	rc.send(args...)
	_ = rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := rc.bw.Flush(); err != nil {
		return "", err
	}
	rc.n--
	return rc.reply()
}

// reply reads one reply; arrays are not needed here and are refused.
func (rc *redisConn) reply() (string, error) {
	line, err := rc.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redis: empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := ioReadFull(rc.br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

func ioReadFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := br.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// usedMemory is INFO memory's used_memory in bytes.
func (rc *redisConn) usedMemory() (int64, error) {
	info, err := rc.do("INFO", "memory")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory: no used_memory")
}

// configWriter writes config hashes in pipelines of batch commands and
// counts what it wrote.
type configWriter struct {
	rc    *redisConn
	batch int
	keys  int
	bytes int64 // key, field and value bytes written
}

// hset queues HSET key with the hash's fields (sorted).
func (w *configWriter) hset(key string, h config.Hash) error {
	fs := make([]string, 0, len(h))
	for f := range h {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	args := make([]string, 0, 2+2*len(fs))
	args = append(args, "HSET", key)
	w.bytes += int64(len(key))
	for _, f := range fs {
		args = append(args, f, h[f])
		w.bytes += int64(len(f) + len(h[f]))
	}
	w.rc.send(args...)
	w.keys++
	if w.rc.n >= w.batch {
		return w.rc.flush()
	}
	return nil
}

package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// RedisError is an error reply ("-ERR ...").
type RedisError string

func (e RedisError) Error() string { return string(e) }

// roundTrip writes one RESP2 command and reads its reply.
func roundTrip(c net.Conn, args []string) (any, error) {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

// readReply parses one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("redistest: bad reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		return readBulk(r, body)
	case '*':
		return readArray(r, body)
	}
	return nil, fmt.Errorf("redistest: unknown reply type %q", kind)
}

func readBulk(r *bufio.Reader, size string) (any, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return nil, err // $-1: nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return string(buf[:n]), nil
}

func readArray(r *bufio.Reader, size string) (any, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return nil, err // *-1: nil
	}
	out := make([]any, n)
	for i := range out {
		v, err := readReply(r)
		var re RedisError
		if err != nil && !errors.As(err, &re) {
			return nil, err
		}
		if err != nil {
			v = re
		}
		out[i] = v
	}
	return out, nil
}

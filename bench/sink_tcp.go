package bench

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/logplex/logplex/frame"
)

// TCPSink is the syslog drain endpoint (and the relay baseline's far end):
// it reads octet-counted frames from every connection and feeds them to the
// recorder. A syslog drain is recognised by its drain token in the HOSTNAME
// field (docs/logplex.md §3.3); in raw mode every connection is endpoint 0.
type TCPSink struct {
	connServer
	rec *Recorder
	raw bool

	reads atomic.Int64 // reads that returned data: at most the router's writes

	mu     sync.Mutex
	tokens map[string]int // drain token → endpoint
}

// StartTCPSink listens on addr; raw selects the relay format.
func StartTCPSink(addr string, rec *Recorder, raw bool) (*TCPSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp sink: %w", err)
	}
	s := &TCPSink{rec: rec, raw: raw, tokens: map[string]int{}}
	s.start(ln, s.serve)
	return s, nil
}

// Addr is the listening address.
func (s *TCPSink) Addr() string { return s.ln.Addr().String() }

// Reads is how many reads returned data, over every connection.
func (s *TCPSink) Reads() int64 { return s.reads.Load() }

// SetDrainToken maps a syslog drain's token to its endpoint index.
func (s *TCPSink) SetDrainToken(token string, end int) {
	s.mu.Lock()
	s.tokens[token] = end
	s.mu.Unlock()
}

func (s *TCPSink) endFor(tok []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.tokens[string(tok)]; ok {
		return e
	}
	return -1
}

func (s *TCPSink) serve(c net.Conn) {
	r := &tcpStream{s: s, b: s.rec.NewBatch(), end: -1, buf: make([]byte, 256<<10)}
	if s.raw {
		r.end = 0
	}
	n := 0
	for {
		k, err := c.Read(r.buf[n:])
		if k > 0 {
			s.reads.Add(1)
			n += k
			used := r.consume(r.buf[:n], nowNs())
			n = copy(r.buf, r.buf[used:n])
		}
		if err != nil {
			return
		}
	}
}

// tcpStream is one connection's state: its endpoint (learnt from the first
// frame's drain token) and its read buffer.
type tcpStream struct {
	s    *TCPSink
	b    *Batch
	end  int
	tok  []byte
	buf  []byte
	open bool
}

// consume records every complete frame of buf and returns the bytes used.
// A syslog connection switching drain tokens mid-stream starts a new chunk.
func (r *tcpStream) consume(buf []byte, now int64) int {
	used := 0
	for used < len(buf) {
		msg, n, k := frame.Next(buf[used:])
		if k == frame.NeedMore {
			break
		}
		used += n
		if !r.s.raw {
			if tok := field(msg, 2); !bytes.Equal(tok, r.tok) {
				r.close()
				r.tok = append(r.tok[:0], tok...)
				r.end = r.s.endFor(tok)
			}
		}
		if !r.open {
			f := FormatSyslogDrain
			if r.s.raw {
				f = FormatRaw
			}
			if r.open = r.b.Start(r.end, f, now); !r.open {
				continue
			}
		}
		if k == frame.Message {
			r.b.Add(msg)
		} else {
			r.b.AddCorrupt()
		}
	}
	r.close()
	return used
}

func (r *tcpStream) close() {
	if r.open {
		r.b.Done()
		r.open = false
	}
}

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// GenOptions configure the load generator.
type GenOptions struct {
	Proto  string  // "tcp" (octet-counted syslog) or "http" (POST /logs)
	Addr   string  // host:port of the syslog listener or of /logs
	Auth   string  // HTTP: Authorization header value (credential with any_channel)
	Conns  int     // connections (default 4)
	Batch  int     // messages per write (TCP) or per request (HTTP); default 64 / 100
	Spread string  // "uniform" (default) or "zipf"
	ZipfS  float64 // Zipf exponent (> 1; default 1.1)
	Layout *Layout
	Tokens int // how many tokens the layout has
}

// Generator sends benchmark messages over its connections. Each connection
// numbers its messages; Run may be called again (warm-up, then the
// measured phase) and numbering continues.
type Generator struct {
	o       GenOptions
	conns   []*genConn
	workers [][]*genConn
}

// genConn is one connection and its sequence counter.
type genConn struct {
	idx uint32
	c   net.Conn
	br  *bufio.Reader // HTTP responses
	seq uint32
	bad bool
}

// GenStats are the results of one Run.
type GenStats struct {
	Sent     int64         // messages written (TCP) or accepted with 204 (HTTP)
	Bytes    int64         // wire bytes of those messages (frames; HTTP bodies)
	Rejected int64         // HTTP: messages in requests not answered 204
	Errors   int64         // failed writes, closed connections, bad answers
	Elapsed  time.Duration // first write to last
	PerToken []uint32      // messages sent per token index
}

// NewGenerator dials the connections.
func NewGenerator(ctx context.Context, o GenOptions) (*Generator, error) {
	if o.Conns <= 0 {
		o.Conns = 4
	}
	if o.Conns > maxConns {
		return nil, fmt.Errorf("at most %d connections", maxConns)
	}
	if o.Batch <= 0 {
		o.Batch = 64
		if o.Proto == "http" {
			o.Batch = 100
		}
	}
	if o.ZipfS <= 1 {
		o.ZipfS = 1.1
	}
	g := &Generator{o: o, conns: make([]*genConn, o.Conns)}
	err := parallel(ctx, o.Conns, 64, func(ctx context.Context, i int) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", o.Addr)
		if err != nil {
			return fmt.Errorf("load generator: dial %s: %w", o.Addr, err)
		}
		gc := &genConn{idx: uint32(i), c: c}
		if o.Proto == "http" {
			gc.br = bufio.NewReaderSize(c, 4096)
		}
		g.conns[i] = gc
		return nil
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	w := o.Conns // HTTP: one request in flight per connection
	if o.Proto != "http" {
		w = min(o.Conns, 8)
	}
	g.workers = make([][]*genConn, w)
	for i, c := range g.conns {
		g.workers[i%w] = append(g.workers[i%w], c)
	}
	return g, nil
}

// Close closes every connection.
func (g *Generator) Close() {
	for _, c := range g.conns {
		if c != nil {
			c.c.Close()
		}
	}
}

// maxRunMsgs bounds every Run in count as d bounds it in time (and keeps
// each connection's 32-bit sequence numbers from wrapping).
const maxRunMsgs = 1 << 30

// Run sends for at most d and at most maxMsgs messages (0: maxRunMsgs) at
// rate messages per second in total (0: as fast as possible).
func (g *Generator) Run(ctx context.Context, d time.Duration, maxMsgs int64, rate float64) GenStats {
	if maxMsgs <= 0 || maxMsgs > maxRunMsgs {
		maxMsgs = maxRunMsgs
	}
	return g.run(ctx, d, maxMsgs, rate, false)
}

// EachToken sends one message to every token (round robin over the
// connections), so that every drain connects and the config is known.
func (g *Generator) EachToken(ctx context.Context, d time.Duration) GenStats {
	return g.run(ctx, d, int64(g.o.Tokens), 0, true)
}

func (g *Generator) run(ctx context.Context, d time.Duration, maxMsgs int64, rate float64, each bool) GenStats {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total = GenStats{PerToken: make([]uint32, g.o.Tokens)}
		next  atomic.Int64 // EachToken: next token index
	)
	start := time.Now()
	nw := len(g.workers)
	for wi, conns := range g.workers {
		quota := int64(0)
		if maxMsgs > 0 {
			quota = maxMsgs / int64(nw)
			if int64(wi) < maxMsgs%int64(nw) {
				quota++
			}
			if quota == 0 {
				continue
			}
		}
		w := &genWorker{g: g, conns: conns, rate: rate / float64(nw), quota: quota, deadline: start.Add(d),
			per: make([]uint32, g.o.Tokens), rng: rand.New(rand.NewPCG(uint64(wi)+1, uint64(start.UnixNano())))}
		if each {
			w.pick = func() int { return int(next.Add(1)-1) % g.o.Tokens }
		} else if g.o.Spread == "zipf" && g.o.Tokens > 1 {
			z := rand.NewZipf(w.rng, g.o.ZipfS, 1, uint64(g.o.Tokens-1))
			w.pick = func() int { return int(z.Uint64()) }
		} else {
			n := g.o.Tokens
			w.pick = func() int { return w.rng.IntN(n) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, start)
			mu.Lock()
			total.Sent += w.st.Sent
			total.Bytes += w.st.Bytes
			total.Rejected += w.st.Rejected
			total.Errors += w.st.Errors
			for i, c := range w.per {
				total.PerToken[i] += c
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	return total
}

// genWorker owns some connections for one Run.
type genWorker struct {
	g        *Generator
	conns    []*genConn
	rate     float64 // messages per second, 0: unpaced
	quota    int64   // 0: unbounded
	deadline time.Time
	rng      *rand.Rand
	pick     func() int
	per      []uint32
	st       GenStats

	buf   []byte
	picks []int32
	hdr   []byte
}

func (w *genWorker) loop(ctx context.Context, start time.Time) {
	batch := int64(w.g.o.Batch)
	cur := 0
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(w.deadline) || (w.quota > 0 && w.st.Sent+w.st.Rejected >= w.quota) {
			return
		}
		n := batch
		if w.quota > 0 {
			n = min(n, w.quota-w.st.Sent-w.st.Rejected)
		}
		if w.rate > 0 {
			due := int64(w.rate*now.Sub(start).Seconds()) - w.st.Sent - w.st.Rejected
			if due < 1 {
				wait := time.Duration(float64(w.st.Sent+w.st.Rejected+1)/w.rate*float64(time.Second)) - now.Sub(start)
				time.Sleep(max(wait, 20*time.Microsecond))
				continue
			}
			n = min(n, due)
		}
		c := w.nextConn(&cur)
		if c == nil {
			return
		}
		w.send(c, int(n), now)
	}
}

// nextConn returns the next usable connection, round robin.
func (w *genWorker) nextConn(cur *int) *genConn {
	for range len(w.conns) {
		c := w.conns[*cur%len(w.conns)]
		*cur++
		if !c.bad {
			return c
		}
	}
	return nil
}

// send writes n messages on c (one write, or one HTTP request).
func (w *genWorker) send(c *genConn, n int, now time.Time) {
	var ts [16]byte
	HexTime(now.UnixNano(), &ts)
	w.buf, w.picks = w.buf[:0], w.picks[:0]
	for range n {
		k := w.pick()
		w.buf = w.g.o.Layout.Append(w.buf, k, &ts, c.idx, c.seq)
		c.seq++
		w.picks = append(w.picks, int32(k))
	}
	var err error
	if w.g.o.Proto == "http" {
		err = w.post(c, n)
	} else {
		_, err = c.c.Write(w.buf)
	}
	switch {
	case errors.Is(err, errRejected):
		w.st.Rejected += int64(n)
		return
	case err != nil:
		w.st.Errors++
		c.bad = true
		return
	}
	w.st.Sent += int64(n)
	w.st.Bytes += int64(len(w.buf))
	for _, k := range w.picks {
		w.per[k]++
	}
}

var errRejected = errors.New("request not accepted")

// post sends the batch as one POST /logs and reads the answer.
func (w *genWorker) post(c *genConn, n int) error {
	h := w.hdr[:0]
	h = append(h, "POST /logs HTTP/1.1\r\nHost: "...)
	h = append(h, w.g.o.Addr...)
	h = append(h, "\r\nAuthorization: "...)
	h = append(h, w.g.o.Auth...)
	h = append(h, "\r\nContent-Type: application/logplex-1\r\nLogplex-Msg-Count: "...)
	h = strconv.AppendInt(h, int64(n), 10)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(w.buf)), 10)
	h = append(h, "\r\n\r\n"...)
	w.hdr = h
	bufs := net.Buffers{h, w.buf}
	if _, err := bufs.WriteTo(c.c); err != nil {
		return err
	}
	status, err := readResponse(c.br)
	if err != nil {
		return err
	}
	if status != 204 {
		if status == 503 || status == 429 {
			time.Sleep(time.Millisecond) // Retry-After is in seconds; a short pause keeps the run moving
		}
		return errRejected
	}
	return nil
}

// readResponse reads one HTTP/1.1 response and skips its body.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	f := field(line, 1)
	status, err := strconv.Atoi(string(f))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := 0
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') {
			name, val, ok := cutHeader(line)
			if ok && equalFold(name, "Content-Length") {
				length, _ = strconv.Atoi(val)
			}
		}
	}
	if length > 0 {
		if _, err := br.Discard(length); err != nil {
			return 0, err
		}
	}
	return status, nil
}

func cutHeader(line []byte) (string, string, bool) {
	for i, c := range line {
		if c == ':' {
			v := line[i+1:]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			for len(v) > 0 && (v[len(v)-1] == '\n' || v[len(v)-1] == '\r' || v[len(v)-1] == ' ') {
				v = v[:len(v)-1]
			}
			return string(line[:i]), string(v), true
		}
	}
	return "", "", false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

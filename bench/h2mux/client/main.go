// Throwaway load client: N drains, each POSTing one request at a time on a 4ms grid.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	mode    = flag.String("mode", "h1", "h1 | h2 | null")
	nconns  = flag.Int("conns", 1, "h2: number of shared connections")
	ndrains = flag.Int("n", 2000, "drains")
	rate    = flag.Float64("rate", 30000, "aggregate req/s")
	addr    = flag.String("addr", "127.0.0.1:8080", "server")
	warm    = flag.Duration("warm", 2*time.Second, "warm-up")
	dur     = flag.Duration("dur", 10*time.Second, "measure window")
	spid    = flag.Int("spid", 0, "server pid (for CPU accounting)")
	echo    = flag.Bool("echo", false, "verify X-Path echo from server")
	yield   = flag.Bool("yield", true, "h2 writer: Gosched before collecting a batch")
	tick    = 4 * time.Millisecond
)

var (
	sent, completed atomic.Int64
	latSum          atomic.Int64 // ns
	stop            atomic.Bool
)

type drain struct {
	id      int
	path    string
	token   string
	frameID [32]byte
	ctr     uint64
	body    []byte
}

func (d *drain) nextFrameID() {
	d.ctr++
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(d.id >> (8 * i))
		b[8+i] = byte(d.ctr >> (8 * i))
	}
	hex.Encode(d.frameID[:], b[:])
}

func uuid(r *rand.Rand) string {
	var b [16]byte
	r.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func makeBody(id int) []byte {
	var buf bytes.Buffer
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("<190>1 2024-05-01T12:00:00.000000+00:00 host app web.%d - drain %d line %d lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor", i, id, i)
		fmt.Fprintf(&buf, "%d %s", len(msg), msg)
	}
	return buf.Bytes()
}

// schedule: sleep until the next 4ms tick at/after max(due, now).
func waitTurn(base time.Time, due time.Duration) {
	now := time.Since(base)
	t := due
	if t < now {
		t = now
	}
	t = ((t + tick - 1) / tick) * tick
	if t > now {
		time.Sleep(t - now)
	}
}

type sender interface {
	send(d *drain) // one request, blocks for response, fatal on error
}

// ---------------- HTTP/1.1: one keep-alive connection per drain ----------------

type h1conn struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func dialH1() *h1conn {
	c, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	return &h1conn{c: c, br: bufio.NewReaderSize(c, 4096), buf: make([]byte, 0, 1024)}
}

func (h *h1conn) send(d *drain) {
	b := h.buf[:0]
	b = append(b, "POST "...)
	b = append(b, d.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, *addr...)
	b = append(b, "\r\nContent-Type: application/logplex-1\r\nLogplex-Msg-Count: 3\r\nLogplex-Frame-Id: "...)
	b = append(b, d.frameID[:]...)
	b = append(b, "\r\nLogplex-Drain-Token: "...)
	b = append(b, d.token...)
	b = append(b, "\r\nUser-Agent: logplex\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(d.body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, d.body...)
	h.buf = b
	if _, err := h.c.Write(b); err != nil {
		log.Fatal(err)
	}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		log.Fatal(err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		log.Fatalf("bad status line %q", line)
	}
	cl := -1
	gotPath := ""
	for {
		line, err = h.br.ReadSlice('\n')
		if err != nil {
			log.Fatal(err)
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			log.Fatalf("bad header %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			cl, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			log.Fatal("server closed connection")
		case *echo && bytes.EqualFold(k, []byte("X-Path")):
			gotPath = string(v)
		}
	}
	if cl < 0 {
		log.Fatal("no content-length")
	}
	if _, err := h.br.Discard(cl); err != nil {
		log.Fatal(err)
	}
	if *echo && gotPath != d.path {
		log.Fatalf("h1 echo mismatch: %q vs %q", gotPath, d.path)
	}
}

type nullSender struct{}

func (nullSender) send(d *drain) {}

// ---------------- accounting ----------------

type snap struct {
	t         time.Time
	cpu       time.Duration // client user+sys
	srvTicks  int64
	done      int64
	flushes   int64
	h2written int64
}

func serverTicks() int64 {
	if *spid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", *spid))
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields after comm: state=0 ... utime = field 14 overall -> index 11 here
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func take() snap {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var fl, wr int64
	for _, c := range h2conns {
		fl += c.flushes.Load()
		wr += c.written.Load()
	}
	return snap{time.Now(), cpu, serverTicks(), completed.Load(), fl, wr}
}

func main() {
	flag.Parse()
	rnd := rand.New(rand.NewSource(1))
	drains := make([]*drain, *ndrains)
	senders := make([]sender, *ndrains)
	if *mode == "h2" {
		for i := 0; i < *nconns; i++ {
			h2conns = append(h2conns, dialH2())
		}
	}
	for i := range drains {
		drains[i] = &drain{id: i, path: "/d/" + strconv.Itoa(i), token: "d." + uuid(rnd), body: makeBody(i)}
		switch *mode {
		case "h1":
			senders[i] = dialH1()
		case "h2":
			senders[i] = newH2Stream(h2conns[i%*nconns])
		case "null":
			senders[i] = nullSender{}
		}
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		for range sig {
			fmt.Fprintf(os.Stderr, "progress %d %d\n", time.Now().UnixNano(), completed.Load())
		}
	}()

	period := time.Duration(float64(*ndrains) / *rate * float64(time.Second))
	base := time.Now()
	var wg sync.WaitGroup
	for i, d := range drains {
		wg.Add(1)
		s := senders[i]
		off := time.Duration(rnd.Int63n(int64(period)))
		go func() {
			defer wg.Done()
			due := off
			for !stop.Load() {
				waitTurn(base, due)
				if stop.Load() {
					return
				}
				d.nextFrameID()
				sent.Add(1)
				t0 := time.Now()
				s.send(d)
				latSum.Add(int64(time.Since(t0)))
				completed.Add(1)
				due += period
			}
		}()
	}
	time.Sleep(*warm)
	l0 := latSum.Load()
	a := take()
	time.Sleep(*dur)
	b := take()
	l1 := latSum.Load()
	stop.Store(true)
	wg.Wait()

	n := float64(b.done - a.done)
	el := b.t.Sub(a.t).Seconds()
	label := *mode
	if *mode == "h2" {
		label = fmt.Sprintf("h2x%d", *nconns)
	}
	fmt.Printf("RESULT mode=%s rps=%.0f client_us=%.2f server_us=%.2f lat_ms=%.3f",
		label, n/el, float64(b.cpu-a.cpu)/1e3/n, float64(b.srvTicks-a.srvTicks)*1e4/n, float64(l1-l0)/1e6/n)
	if *mode == "h2" {
		fmt.Printf(" req_per_flush=%.1f", float64(b.h2written-a.h2written)/float64(b.flushes-a.flushes))
	}
	fmt.Printf("\nTOTAL sent=%d completed=%d\n", sent.Load(), completed.Load())
}

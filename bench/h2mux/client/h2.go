// Minimal HTTP/2 prior-knowledge client multiplexing many drains over one connection,
// with a single writer goroutine that coalesces all queued requests into one flush.
package main

import (
	"bufio"
	"bytes"
	"log"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var h2conns []*h2conn

type h2req struct {
	d          *drain
	streamID   uint32 // set by writer
	respStream uint32 // set by reader
	status     int
	xpath      string
	done       chan struct{}
}

type h2conn struct {
	c    net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
	kick chan struct{}

	mu      sync.Mutex
	q       []*h2req // queued by drains
	ctrl    []func() // control frames queued by reader
	streams map[uint32]*h2req
	active  int
	maxConc int
	connWin int64 // our send window (connection level)
	nheld   int

	// writer-owned
	pend   []*h2req
	nextID uint32

	flushes, written atomic.Int64
}

func dialH2() *h2conn {
	c, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	h := &h2conn{c: c, bw: bufio.NewWriterSize(c, 64<<10), kick: make(chan struct{}, 1),
		streams: map[uint32]*h2req{}, maxConc: 1 << 30, connWin: 65535, nextID: 1}
	h.fr = http2.NewFramer(h.bw, bufio.NewReaderSize(c, 64<<10))
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.henc = hpack.NewEncoder(&h.hbuf)
	h.bw.WriteString(http2.ClientPreface)
	h.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	if err := h.bw.Flush(); err != nil {
		log.Fatal(err)
	}
	// First server frame must be SETTINGS; apply before sending any request.
	f, err := h.fr.ReadFrame()
	if err != nil {
		log.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		log.Fatalf("expected SETTINGS, got %v", f)
	}
	h.applySettings(sf)
	go h.writer()
	go h.reader()
	return h
}

func (h *h2conn) applySettings(sf *http2.SettingsFrame) {
	h.mu.Lock()
	sf.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			h.maxConc = int(s.Val)
		case http2.SettingInitialWindowSize:
			if s.Val < 1024 { // our bodies are ~400 bytes; stream windows never matter
				log.Fatalf("peer initial window too small: %d", s.Val)
			}
		case http2.SettingHeaderTableSize:
			if s.Val < 4096 {
				log.Fatalf("peer header table size %d unsupported", s.Val)
			}
		}
		return nil
	})
	h.ctrl = append(h.ctrl, func() { h.fr.WriteSettingsAck() })
	h.mu.Unlock()
	h.poke()
}

func (h *h2conn) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *h2conn) writer() {
	for range h.kick {
		if *yield {
			runtime.Gosched() // let other runnable drains enqueue first -> bigger batches
		}
		h.mu.Lock()
		h.pend = append(h.pend, h.q...)
		h.q = h.q[:0]
		ctrl := h.ctrl
		h.ctrl = nil
		k := 0
		for k < len(h.pend) && h.active < h.maxConc && h.connWin >= int64(len(h.pend[k].d.body)) {
			r := h.pend[k]
			h.active++
			h.connWin -= int64(len(r.d.body))
			r.streamID = h.nextID
			h.nextID += 2
			h.streams[r.streamID] = r
			k++
		}
		h.nheld = len(h.pend) - k
		h.mu.Unlock()
		for _, f := range ctrl {
			f()
		}
		for _, r := range h.pend[:k] {
			h.writeReq(r)
		}
		n := copy(h.pend, h.pend[k:])
		clear(h.pend[n:])
		h.pend = h.pend[:n]
		if h.bw.Buffered() > 0 {
			if err := h.bw.Flush(); err != nil {
				log.Fatal(err)
			}
			h.flushes.Add(1)
			h.written.Add(int64(k))
		}
	}
}

func (h *h2conn) writeReq(r *h2req) {
	d := r.d
	h.hbuf.Reset()
	e := h.henc
	e.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
	e.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
	e.WriteField(hpack.HeaderField{Name: ":authority", Value: *addr})
	e.WriteField(hpack.HeaderField{Name: ":path", Value: d.path})
	e.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/logplex-1"})
	e.WriteField(hpack.HeaderField{Name: "logplex-msg-count", Value: "3"})
	// unique per request: never-indexed so it does not churn the dynamic table
	e.WriteField(hpack.HeaderField{Name: "logplex-frame-id", Value: string(d.frameID[:]), Sensitive: true})
	e.WriteField(hpack.HeaderField{Name: "logplex-drain-token", Value: d.token})
	e.WriteField(hpack.HeaderField{Name: "user-agent", Value: "logplex"})
	e.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(d.body))})
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: r.streamID, BlockFragment: h.hbuf.Bytes(), EndHeaders: true}); err != nil {
		log.Fatal(err)
	}
	if err := h.fr.WriteData(r.streamID, true, d.body); err != nil {
		log.Fatal(err)
	}
}

func (h *h2conn) lookup(id uint32) *h2req {
	h.mu.Lock()
	r := h.streams[id]
	h.mu.Unlock()
	if r == nil {
		log.Fatalf("frame for unknown stream %d", id)
	}
	return r
}

func (h *h2conn) complete(id uint32) {
	h.mu.Lock()
	r := h.streams[id]
	delete(h.streams, id)
	h.active--
	held := h.nheld > 0
	h.mu.Unlock()
	if held {
		h.poke()
	}
	r.respStream = id
	r.done <- struct{}{}
}

func (h *h2conn) reader() {
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			if stop.Load() {
				return
			}
			log.Fatal("h2 read: ", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.applySettings(f)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				h.mu.Lock()
				h.ctrl = append(h.ctrl, func() { h.fr.WritePing(true, data) })
				h.mu.Unlock()
				h.poke()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				h.mu.Lock()
				h.connWin += int64(f.Increment)
				held := h.nheld > 0
				h.mu.Unlock()
				if held {
					h.poke()
				}
			}
		case *http2.MetaHeadersFrame:
			r := h.lookup(f.StreamID)
			r.status, _ = strconv.Atoi(f.PseudoValue("status"))
			if *echo {
				for _, hf := range f.RegularFields() {
					if hf.Name == "x-path" {
						r.xpath = hf.Value
					}
				}
			}
			if f.StreamEnded() {
				h.complete(f.StreamID)
			}
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 {
				h.mu.Lock()
				h.ctrl = append(h.ctrl, func() { h.fr.WriteWindowUpdate(0, uint32(n)) })
				h.mu.Unlock()
				h.poke()
			}
			if f.StreamEnded() {
				h.complete(f.StreamID)
			}
		case *http2.RSTStreamFrame:
			log.Fatalf("RST_STREAM %d %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			log.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// per-drain stream handle
type h2stream struct {
	h *h2conn
	r h2req
}

func newH2Stream(h *h2conn) *h2stream {
	return &h2stream{h: h, r: h2req{done: make(chan struct{}, 1)}}
}

func (s *h2stream) send(d *drain) {
	r := &s.r
	r.d = d
	h := s.h
	h.mu.Lock()
	h.q = append(h.q, r)
	h.mu.Unlock()
	h.poke()
	<-r.done
	if r.status != 200 {
		log.Fatalf("drain %d: status %d", d.id, r.status)
	}
	if r.respStream != r.streamID {
		log.Fatalf("drain %d: response stream %d != request stream %d", d.id, r.respStream, r.streamID)
	}
	if *echo && r.xpath != d.path {
		log.Fatalf("drain %d: echo %q != %q", d.id, r.xpath, d.path)
	}
}

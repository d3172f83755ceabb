package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The HTTP sink's cleartext HTTP/2 (prior knowledge: the connection starts
// with the client preface) on the HTTP/1.1 listener, for a router that
// multiplexes many drains' POSTs on one connection. Like the HTTP/1.1 path
// it is hand-written, on http2.Framer and hpack, after the prototype that
// measured HTTP/2 before the router had it (bench/RESULTS.md, "what one
// shared HTTP/2 connection would cost"): one reader goroutine per
// connection decodes frames, collects each stream's body and, at
// END_STREAM, hands the request to the connection's sinkScratch, as the
// HTTP/1.1 path does. Frames are
// written into a bufio.Writer under a lock and flushed when the read side
// holds no whole frame, so answers to requests that arrived together leave
// in one write. With a per-answer delay (the platform scenario) answers wait
// in a queue that a second goroutine writes when due, so a slow answer holds
// up only its own stream. Unlike the prototype it keeps each stream's state
// until the stream ends (at most h2MaxStreams at a time), returns both
// flow-control windows as data arrives, and ends the connection with GOAWAY
// on a protocol error.

// HTTP/2 limits and settings of the sink.
const (
	h2MaxStreams    = 1000     // SETTINGS_MAX_CONCURRENT_STREAMS; more streams are refused
	h2StreamWindow  = 1 << 20  // SETTINGS_INITIAL_WINDOW_SIZE
	h2ConnWindow    = 16 << 20 // the connection's receive window (raised by a WINDOW_UPDATE)
	h2MaxHeaderList = 64 << 10 // SETTINGS_MAX_HEADER_LIST_SIZE
	h2MaxFrame      = 16 << 10 // the default SETTINGS_MAX_FRAME_SIZE, which we keep
	h2FreeStreams   = 64       // stream records (and their body buffers) kept for reuse
)

// hpack blocks of the answers: ":status" 200 and 400 are entries of the
// static table, so a block is one byte and needs no encoder state.
var (
	h2Status200 = hpackStatus("200")
	h2Status400 = hpackStatus("400")
)

// hpackStatus is the header block of an answer with status code.
func hpackStatus(code string) []byte {
	var b bytes.Buffer
	hpack.NewEncoder(&b).WriteField(hpack.HeaderField{Name: ":status", Value: code})
	return b.Bytes()
}

// isH2Preface reports whether the connection starts with the HTTP/2 client
// preface, peeking (not consuming) only as many bytes as it takes to tell:
// an HTTP/1.1 request differs at its second byte.
func isH2Preface(br *bufio.Reader) (bool, error) {
	for n := 1; ; {
		if _, err := br.Peek(n); err != nil {
			return false, err
		}
		p, _ := br.Peek(min(br.Buffered(), len(http2.ClientPreface)))
		if http2.ClientPreface[:len(p)] != string(p) {
			return false, nil
		}
		if len(p) == len(http2.ClientPreface) {
			return true, nil
		}
		n = len(p) + 1
	}
}

// frameBuffered reports whether br holds a whole frame, so that reading it
// does not wait for the network (the reader flushes before it would).
func frameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < 9 {
		return false
	}
	h, _ := br.Peek(9)
	return n >= 9+(int(h[0])<<16|int(h[1])<<8|int(h[2]))
}

// h2Conn is one HTTP/2 connection. Its fields above wmu belong to the
// reader goroutine (but c, which the answerer closes when a write fails);
// the write side (bw, fw) is shared with the answerer under wmu.
type h2Conn struct {
	s  *HTTPSink
	c  net.Conn
	br *bufio.Reader
	fr *http2.Framer // reads
	sc *sinkScratch

	streams map[uint32]*h2Stream // open streams (receiving their body)
	free    []*h2Stream
	lastID  uint32 // highest stream id the client opened
	window  int    // connection receive window left
	settled bool   // the client's first SETTINGS arrived

	wmu sync.Mutex
	bw  *bufio.Writer
	fw  *http2.Framer // writes

	// Delayed answers (s.delay > 0): the reader queues them, the answerer
	// writes them when due. Since the delay is the same for every answer,
	// the queue is in due order.
	pending atomic.Int32 // queued answers: their streams still count as open
	qmu     sync.Mutex
	queue   []h2Answer
	wake    chan struct{} // the queue became non-empty
	done    chan struct{} // the reader is done
}

// h2Stream is one request being received.
type h2Stream struct {
	req    httpReq
	want   int // content-length, -1 when absent
	body   []byte
	window int // stream receive window left
}

// h2Answer is a delayed answer: HEADERS with block for stream id, due then.
type h2Answer struct {
	id    uint32
	block []byte
	due   time.Time
}

// errH2 is a connection error: GOAWAY with code, then close.
type errH2 struct {
	code   http2.ErrCode
	reason string
}

// Error says what the client did wrong.
func (e errH2) Error() string { return "http2: " + e.code.String() + ": " + e.reason }

// serveH2 serves one HTTP/2 connection whose preface is buffered in br.
func (s *HTTPSink) serveH2(c net.Conn, br *bufio.Reader) {
	if _, err := br.Discard(len(http2.ClientPreface)); err != nil {
		return
	}
	bw := bufio.NewWriterSize(c, 64<<10)
	cn := &h2Conn{s: s, c: c, br: br, bw: bw, fw: http2.NewFramer(bw, nil),
		fr: http2.NewFramer(nil, br), sc: &sinkScratch{b: s.rec.NewBatch(), otlp: s.otlp},
		streams: map[uint32]*h2Stream{}, window: h2ConnWindow}
	cn.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cn.fr.MaxHeaderListSize = h2MaxHeaderList
	cn.fr.SetMaxReadFrameSize(h2MaxFrame)
	cn.fr.SetReuseFrames()
	cn.fw.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList})
	cn.fw.WriteWindowUpdate(0, h2ConnWindow-65535)
	if s.delay > 0 {
		cn.wake, cn.done = make(chan struct{}, 1), make(chan struct{})
		answered := make(chan struct{})
		go func() { cn.answerer(); close(answered) }()
		defer func() {
			close(cn.done)
			c.Close() // unblocks an answerer stuck writing to a client that does not read
			<-answered
		}()
	}
	err := cn.read()
	var pe errH2
	switch {
	case errors.As(err, &pe):
		s.count(true)
		cn.wmu.Lock()
		cn.fw.WriteGoAway(cn.lastID, pe.code, []byte(pe.reason))
		cn.bw.Flush()
		cn.wmu.Unlock()
		lingerClose(c, br)
	case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
		s.count(true)
	}
}

// lingerClose ends our side after a GOAWAY and reads what the client still
// sends, for up to a second: closing with unread input would reset the
// connection, and the client might lose the GOAWAY.
func lingerClose(c net.Conn, br *bufio.Reader) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, br)
}

// read is the reader loop: it returns the error that ends the connection,
// an errH2 for a protocol error.
func (cn *h2Conn) read() error {
	for {
		if !frameBuffered(cn.br) {
			if err := cn.flush(); err != nil {
				return err
			}
		}
		f, err := cn.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &se): // a malformed request's headers, a zero WINDOW_UPDATE
				cn.opened(se.StreamID)
				if st := cn.streams[se.StreamID]; st != nil {
					cn.drop(se.StreamID, st)
				}
				cn.reset(se.StreamID, se.Code)
				cn.s.count(true)
				continue
			case errors.As(err, &ce):
				reason := "frame"
				if d := cn.fr.ErrorDetail(); d != nil {
					reason = d.Error()
				}
				return errH2{http2.ErrCode(ce), reason}
			case errors.Is(err, http2.ErrFrameTooLarge):
				return errH2{http2.ErrCodeFrameSize, "frame too large"}
			}
			return err
		}
		if _, ok := f.(*http2.SettingsFrame); !ok && !cn.settled {
			return errH2{http2.ErrCodeProtocol, "first frame is not SETTINGS"}
		}
		if err := cn.frame(f); err != nil {
			return err
		}
	}
}

// frame handles one frame.
func (cn *h2Conn) frame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
			code := http2.ErrCodeProtocol
			if ce, ok := err.(http2.ConnectionError); ok {
				code = http2.ErrCode(ce)
			}
			return errH2{code, "bad SETTINGS value"}
		}
		cn.settled = true
		cn.wmu.Lock()
		cn.fw.WriteSettingsAck()
		cn.wmu.Unlock()
	case *http2.PingFrame:
		if !f.IsAck() {
			cn.wmu.Lock()
			cn.fw.WritePing(true, f.Data)
			cn.wmu.Unlock()
		}
	case *http2.MetaHeadersFrame:
		return cn.headers(f)
	case *http2.DataFrame:
		return cn.data(f)
	case *http2.RSTStreamFrame:
		if f.StreamID > cn.lastID {
			return errH2{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
		}
		if st := cn.streams[f.StreamID]; st != nil {
			cn.drop(f.StreamID, st)
		}
	case *http2.PushPromiseFrame:
		return errH2{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	}
	// WINDOW_UPDATE (we send no DATA), PRIORITY, GOAWAY (the client
	// closes when its streams are done) and unknown frames are ignored.
	return nil
}

// opened notes that the client used stream id.
func (cn *h2Conn) opened(id uint32) {
	if id > cn.lastID {
		cn.lastID = id
	}
}

// headers starts a request, or ends one with trailers.
func (cn *h2Conn) headers(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if st := cn.streams[id]; st != nil { // trailers
		if !f.StreamEnded() {
			cn.drop(id, st)
			cn.reset(id, http2.ErrCodeProtocol)
			cn.s.count(true)
			return nil
		}
		cn.end(id, st)
		return nil
	}
	if id%2 == 0 {
		return errH2{http2.ErrCodeProtocol, "even stream id from a client"}
	}
	if id <= cn.lastID {
		return nil // a stream already closed or reset: its late trailers
	}
	cn.lastID = id
	if len(cn.streams)+int(cn.pending.Load()) >= h2MaxStreams {
		cn.reset(id, http2.ErrCodeRefusedStream)
		return nil
	}
	req := httpReq{end: -1, msgCount: -1}
	want := -1
	bad := f.Truncated
	for _, hf := range f.Fields {
		switch hf.Name {
		case ":path":
			if p, ok := strings.CutPrefix(hf.Value, "/d/"); ok {
				if i, err := strconv.Atoi(p); err == nil {
					req.end = i
				}
			}
		case "content-length":
			n, err := strconv.Atoi(hf.Value)
			bad = bad || err != nil || n < 0 || n > maxSinkBody
			want = n
		case "content-encoding":
			req.gzip = strings.EqualFold(hf.Value, "gzip")
		case "logplex-msg-count":
			req.msgCount, _ = strconv.Atoi(hf.Value)
		}
	}
	if bad {
		cn.reset(id, http2.ErrCodeProtocol)
		cn.s.count(true)
		return nil
	}
	st := cn.stream()
	st.req, st.want = req, want
	if want > 0 {
		st.body = growCap(st.body, min(want, h2StreamWindow))
	}
	if f.StreamEnded() {
		cn.end(id, st)
		return nil
	}
	cn.streams[id] = st
	return nil
}

// growCap returns b emptied with room for n bytes.
func growCap(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, 0, n)
	}
	return b[:0]
}

// data adds a DATA frame to its stream's body and keeps both receive
// windows open: a window is topped up once half of it is used, so a client
// never waits for one unless it sends faster than the reader reads.
func (cn *h2Conn) data(f *http2.DataFrame) error {
	id, n := f.StreamID, int(f.Length) // Length counts padding, which flow control does too
	if cn.window -= n; cn.window < 0 {
		return errH2{http2.ErrCodeFlowControl, "connection window exceeded"}
	}
	if cn.window <= h2ConnWindow/2 {
		cn.windowUpdate(0, h2ConnWindow-cn.window)
		cn.window = h2ConnWindow
	}
	st := cn.streams[id]
	if st == nil {
		if id > cn.lastID {
			return errH2{http2.ErrCodeProtocol, "DATA on an idle stream"}
		}
		return nil // a stream closed or reset: data in flight
	}
	if st.window -= n; st.window < 0 {
		cn.drop(id, st)
		cn.reset(id, http2.ErrCodeFlowControl)
		cn.s.count(true)
		return nil
	}
	data := f.Data()
	if len(st.body)+len(data) > maxSinkBody {
		cn.drop(id, st)
		cn.reset(id, http2.ErrCodeEnhanceYourCalm)
		cn.s.count(true)
		return nil
	}
	st.body = append(st.body, data...)
	if f.StreamEnded() {
		cn.end(id, st)
	} else if st.window <= h2StreamWindow/2 {
		cn.windowUpdate(id, h2StreamWindow-st.window)
		st.window = h2StreamWindow
	}
	return nil
}

// end handles a complete request: the recorder gets its body, the client
// its answer (now or, with a delay, from the queue). The stream is freed.
func (cn *h2Conn) end(id uint32, st *h2Stream) {
	delete(cn.streams, id)
	block := h2Status200
	st.req.length = len(st.body)
	cn.sc.body = st.body
	if st.want >= 0 && st.want != len(st.body) {
		block = h2Status400
		cn.s.count(true)
	} else if err := cn.sc.handle(st.req); err != nil {
		block = h2Status400
		cn.s.count(true)
	} else {
		cn.s.count(false)
	}
	cn.sc.body = nil
	cn.recycle(st)
	if cn.s.delay <= 0 {
		cn.wmu.Lock()
		cn.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true})
		cn.wmu.Unlock()
		return
	}
	cn.pending.Add(1)
	cn.qmu.Lock()
	cn.queue = append(cn.queue, h2Answer{id: id, block: block, due: time.Now().Add(cn.s.delay)})
	first := len(cn.queue) == 1
	cn.qmu.Unlock()
	if first {
		select {
		case cn.wake <- struct{}{}:
		default:
		}
	}
}

// answerer writes the queued answers when they are due, those due together
// in one write, until the reader is done.
func (cn *h2Conn) answerer() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []h2Answer
	for {
		cn.qmu.Lock()
		var next time.Time
		if len(cn.queue) > 0 {
			next = cn.queue[0].due
		}
		cn.qmu.Unlock()
		if next.IsZero() {
			select {
			case <-cn.wake:
				continue
			case <-cn.done:
				return
			}
		}
		if d := time.Until(next); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-cn.done:
				return
			}
		}
		now := time.Now()
		cn.qmu.Lock()
		n := 0
		for n < len(cn.queue) && !cn.queue[n].due.After(now) {
			n++
		}
		due = append(due[:0], cn.queue[:n]...)
		cn.queue = append(cn.queue[:0], cn.queue[n:]...)
		cn.qmu.Unlock()
		cn.wmu.Lock()
		for _, a := range due {
			cn.fw.WriteHeaders(http2.HeadersFrameParam{StreamID: a.id, BlockFragment: a.block, EndHeaders: true, EndStream: true})
		}
		cn.pending.Add(-int32(len(due))) // before the client can see the streams end
		err := cn.bw.Flush()
		cn.wmu.Unlock()
		if err != nil {
			cn.c.Close() // the reader ends too
			return
		}
	}
}

// stream returns a stream record, reused if one is free.
func (cn *h2Conn) stream() *h2Stream {
	if n := len(cn.free); n > 0 {
		st := cn.free[n-1]
		cn.free = cn.free[:n-1]
		st.window = h2StreamWindow
		return st
	}
	return &h2Stream{window: h2StreamWindow}
}

// recycle keeps st for reuse unless enough are kept or its buffer is large.
func (cn *h2Conn) recycle(st *h2Stream) {
	if len(cn.free) < h2FreeStreams && cap(st.body) <= h2StreamWindow {
		st.body = st.body[:0]
		cn.free = append(cn.free, st)
	}
}

// drop frees an open stream that will not complete.
func (cn *h2Conn) drop(id uint32, st *h2Stream) {
	delete(cn.streams, id)
	cn.recycle(st)
}

// reset writes RST_STREAM.
func (cn *h2Conn) reset(id uint32, code http2.ErrCode) {
	cn.wmu.Lock()
	cn.fw.WriteRSTStream(id, code)
	cn.wmu.Unlock()
}

// windowUpdate writes WINDOW_UPDATE (stream 0: the connection's).
func (cn *h2Conn) windowUpdate(id uint32, n int) {
	cn.wmu.Lock()
	cn.fw.WriteWindowUpdate(id, uint32(n))
	cn.wmu.Unlock()
}

// flush sends what the reader (and an answer written inline) wrote.
func (cn *h2Conn) flush() error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.bw.Buffered() == 0 {
		return nil
	}
	return cn.bw.Flush()
}

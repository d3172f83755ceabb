package main

// Minimal hand-written h2c (prior knowledge) server: one goroutine per connection,
// responds 200 with END_STREAM, flushes only when no more input is buffered.

import (
	"bufio"
	"io"
	"log"
	"net"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func serveH2Raw(addr string, echo bool, count *atomic.Int64) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go h2rawConn(c, echo, count)
	}
}

func h2rawConn(c net.Conn, echo bool, count *atomic.Int64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(c, 64<<10)
	pre := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, pre); err != nil || string(pre) != http2.ClientPreface {
		log.Print("bad preface")
		return
	}
	fr := http2.NewFramer(bw, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var hb bytesBuf
	enc := hpack.NewEncoder(&hb)
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 250},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	fr.WriteWindowUpdate(0, 1<<20-65535)
	paths := map[uint32]string{}
	unacked := 0
	respond := func(id uint32) {
		count.Add(1)
		hb = hb[:0]
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		if echo {
			enc.WriteField(hpack.HeaderField{Name: "x-path", Value: paths[id]})
			delete(paths, id)
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb, EndHeaders: true, EndStream: true})
	}
	for {
		if br.Buffered() == 0 && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			if echo {
				paths[f.StreamID] = f.PseudoValue("path")
			}
			if f.StreamEnded() {
				respond(f.StreamID)
			}
		case *http2.DataFrame:
			unacked += int(f.Length)
			if unacked >= 64<<10 {
				fr.WriteWindowUpdate(0, uint32(unacked))
				unacked = 0
			}
			if f.StreamEnded() {
				respond(f.StreamID)
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}

type bytesBuf []byte

func (b *bytesBuf) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

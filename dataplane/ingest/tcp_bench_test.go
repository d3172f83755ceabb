package ingest

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store/embedded"
)

// benchConn is the part of a gnet.Conn that OnTraffic uses: one buffered
// read, handed out again after each Discard.
type benchConn struct {
	gnet.Conn
	buf []byte
	ctx any
}

func (c *benchConn) Peek(int) ([]byte, error)   { return c.buf, nil }
func (c *benchConn) Discard(n int) (int, error) { return n, nil }
func (c *benchConn) Context() any               { return c.ctx }
func (c *benchConn) SetContext(v any)           { c.ctx = v }
func (c *benchConn) InboundBuffered() int       { return 0 }

func benchTCP(b *testing.B) (*TCP, *benchConn) {
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
	}, false, "1-0")
	router := route.New(func() *config.Snapshot { return snap }, embedded.NewSpool(100, 0), nil)
	s := NewTCP(TCPOptions{}, router, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var buf strings.Builder
	for i := 0; buf.Len() < 60<<10; i++ {
		buf.WriteString(octet(msg(i)))
	}
	c := &benchConn{buf: []byte(buf.String())}
	s.OnOpen(c)
	b.Cleanup(func() { s.OnClose(c, nil) })
	return s, c
}

// BenchmarkTCPOnTraffic is one readable event of the syslog listener: a
// 60 KiB read of ~600 frames split and routed (history only), with the
// connection's bookkeeping.
func BenchmarkTCPOnTraffic(b *testing.B) {
	s, c := benchTCP(b)
	b.SetBytes(int64(len(c.buf)))
	b.ReportAllocs()
	for b.Loop() {
		s.OnTraffic(c)
	}
}

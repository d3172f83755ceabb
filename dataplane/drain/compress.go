package drain

import (
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Content codings an HTTP drain may use (config.Drain.Compression, or
// Options.DefaultCompression for drains without one).
const (
	codingGzip = "gzip"
	codingZstd = "zstd"
)

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// gzipEncoder is a pooled gzip writer (about 800 KB of state each: never
// create one per batch) with the sink it writes to.
type gzipEncoder struct {
	w   *gzip.Writer
	out appendWriter
}

var gzipPool = sync.Pool{New: func() any {
	e := &gzipEncoder{}
	e.w, _ = gzip.NewWriterLevel(&e.out, gzip.BestSpeed) // the level is valid: no error
	return e
}}

func getGzipEncoder() *gzipEncoder { return gzipPool.Get().(*gzipEncoder) }

// putGzipEncoder returns e to the pool without a reference to its output.
func putGzipEncoder(e *gzipEncoder) {
	e.out.b = nil
	gzipPool.Put(e)
}

// appendGzip appends the gzip stream (BestSpeed) of src to dst and returns
// the extended slice.
func appendGzip(dst, src []byte) []byte {
	e := getGzipEncoder()
	e.out.b = dst
	e.w.Reset(&e.out)
	_, _ = e.w.Write(src) // appendWriter never fails
	_ = e.w.Close()
	dst = e.out.b
	putGzipEncoder(e)
	return dst
}

// zstdEncoder is the one shared zstd encoder: EncodeAll is safe for
// concurrent use and runs at most GOMAXPROCS encodes at once.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		panic("drain: zstd encoder: " + err.Error()) // only on invalid options
	}
	return e
})

// appendZstd appends one zstd frame holding src to dst and returns the
// extended slice.
func appendZstd(dst, src []byte) []byte { return zstdEncoder().EncodeAll(src, dst) }

// appendCompressed appends src encoded with coding ("gzip" or "zstd") to dst.
func appendCompressed(dst, src []byte, coding string) []byte {
	if coding == codingZstd {
		return appendZstd(dst, src)
	}
	return appendGzip(dst, src)
}

package ringbuf

import "sync"

// Buf is a pooled byte buffer. The holder of a *Buf is its only owner until
// it calls PutBuf; after that neither the Buf nor B may be touched.
type Buf struct {
	B []byte
}

// MaxPooled is the largest buffer PutBuf keeps; larger ones are dropped so a
// rare huge batch does not pin memory in the pool.
const MaxPooled = 1 << 20

var bufPool = sync.Pool{New: func() any { return &Buf{B: make([]byte, 0, 4096)} }}

// GetBuf returns an empty buffer from the pool.
func GetBuf() *Buf { return bufPool.Get().(*Buf) }

// PutBuf returns b to the pool.
func PutBuf(b *Buf) {
	if cap(b.B) > MaxPooled {
		return
	}
	b.B = b.B[:0]
	bufPool.Put(b)
}

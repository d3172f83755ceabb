package store

import "sync"

var batchPool = sync.Pool{New: func() any { return &HistoryBatch{} }}

// maxPooledBatch is the largest batch buffer kept in the pool.
const maxPooledBatch = 1 << 20

// GetHistoryBatch returns an empty batch; the caller owns it.
func GetHistoryBatch() *HistoryBatch { return batchPool.Get().(*HistoryBatch) }

// PutHistoryBatch recycles b; the caller must not touch it afterwards.
func PutHistoryBatch(b *HistoryBatch) {
	if cap(b.Buf) > maxPooledBatch || cap(b.Msgs) > maxPooledBatch/16 {
		return
	}
	b.Reset()
	batchPool.Put(b)
}

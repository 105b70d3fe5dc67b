package replica

// bufferPool is the node's free list of the buffers fetches read records
// into and encode their responses in, so that a busy consumer does not make
// the collector sweep a fresh megabyte per fetch. It belongs to the node and
// is used under the node's serialization, like everything else of it, so it
// needs no lock and behaves the same in every run.
type bufferPool struct {
	free [][]byte
	// freeBytes is the capacity held in free.
	freeBytes int
}

// Bounds of the free list: small buffers are cheap to allocate, huge ones
// too costly to pin, and what is kept at all is bounded in count and bytes.
const (
	fetchBufferKeptMin       = 64 << 10
	fetchBufferKeptMax       = 16 << 20
	fetchBuffersKeptMax      = 32
	fetchBuffersKeptBytesMax = 64 << 20
)

// take returns an empty buffer of at least capacity bytes: the most
// recently released one that is large enough, or a new one.
func (p *bufferPool) take(capacity int) []byte {
	for i := len(p.free) - 1; i >= 0; i-- {
		b := p.free[i]
		if cap(b) < capacity {
			continue
		}
		last := len(p.free) - 1
		p.free[i] = p.free[last]
		p.free[last] = nil
		p.free = p.free[:last]
		p.freeBytes -= cap(b)
		return b[:0]
	}
	return make([]byte, 0, capacity)
}

// release keeps b for a later take, unless it is outside the kept sizes or
// the list is full. The caller must not touch b again.
func (p *bufferPool) release(b []byte) {
	if cap(b) < fetchBufferKeptMin || cap(b) > fetchBufferKeptMax ||
		len(p.free) >= fetchBuffersKeptMax || p.freeBytes+cap(b) > fetchBuffersKeptBytesMax {
		return
	}
	p.free = append(p.free, b[:0])
	p.freeBytes += cap(b)
}

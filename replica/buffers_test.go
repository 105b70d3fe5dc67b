package replica

import "testing"

// TestBufferPool: a released buffer comes back for a request it can hold,
// and the pool keeps nothing outside its bounds.
func TestBufferPool(t *testing.T) {
	var p bufferPool
	b := make([]byte, 10, fetchBufferKeptMin)
	p.release(b)
	got := p.take(fetchBufferKeptMin / 2)
	if len(got) != 0 || cap(got) != fetchBufferKeptMin || &got[:1][0] != &b[:1][0] {
		t.Fatalf("take after release: len %d cap %d; want the released buffer, emptied", len(got), cap(got))
	}
	if fresh := p.take(fetchBufferKeptMin); cap(fresh) < fetchBufferKeptMin || len(p.free) != 0 {
		t.Fatalf("an empty pool gave a buffer of cap %d and holds %d", cap(fresh), len(p.free))
	}
	p.release(make([]byte, 0, fetchBufferKeptMin-1))
	p.release(make([]byte, 0, fetchBufferKeptMax+1))
	if len(p.free) != 0 {
		t.Fatalf("kept %d buffers outside the kept sizes", len(p.free))
	}
	p.release(make([]byte, 0, fetchBufferKeptMin))
	if small := p.take(fetchBufferKeptMin + 1); cap(small) < fetchBufferKeptMin+1 || len(p.free) != 1 {
		t.Fatalf("a request larger than every kept buffer: cap %d, %d kept", cap(small), len(p.free))
	}
	for i := 0; i < 2*fetchBuffersKeptMax; i++ {
		p.release(make([]byte, 0, fetchBufferKeptMax))
	}
	if len(p.free) > fetchBuffersKeptMax || p.freeBytes > fetchBuffersKeptBytesMax {
		t.Fatalf("kept %d buffers, %d bytes; bounds %d, %d", len(p.free), p.freeBytes, fetchBuffersKeptMax, fetchBuffersKeptBytesMax)
	}
}

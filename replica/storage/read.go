package storage

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"cairn/core/batch"
	"cairn/core/mutant"
	"cairn/diskfault"
)

// windowBytesMin keeps the header window at least a page, so that a walk
// over small batches costs one read.
const windowBytesMin = 4096

// Chunk is a run of whole batches, contiguous in one segment file. File is
// the segment's own handle (a diskfault.FdFile on the OS, for sendfile); it
// stays valid until Truncate removes that segment or the log closes.
type Chunk struct {
	File     diskfault.File
	Position int64
	Bytes    int64
}

// ReadResult describes the batches a Read selected, without their bytes.
// FirstOffset is the base offset of the first batch (at or below the offset
// asked for) and NextOffset the offset after the last; both equal the
// offset asked for when nothing was selected.
type ReadResult struct {
	Chunks      []Chunk
	Bytes       int64
	FirstOffset int64
	NextOffset  int64
}

// headerWindow caches one read of a segment file, so that a walk over batch
// headers costs one ReadAt per IndexIntervalBytes rather than one per batch.
// It never describes bytes past the segment's size when it was filled, and
// is dropped whenever those bytes may change.
type headerWindow struct {
	segment  *segment
	position int64
	buffer   []byte
}

// Read selects whole batches from the one that holds offset: each must end
// at or below limitOffset (the high watermark), and together they stay
// within bytesMax, except that the first is returned however large it is.
// Offset equal to limitOffset or NextOffset gives an empty result; offsets
// outside [StartOffset, NextOffset] give ErrOffsetOutOfRange. Read does not
// scan: it binary-searches the segments and the sparse index, then walks at
// most IndexIntervalBytes of batch headers. On a failed log it serves only
// durable offsets. A header that disagrees with the index is an
// ErrCorruptBatch; the first time in a segment, the segment's index is
// rebuilt from its headers and the read tried again.
func (l *Log) Read(offset, bytesMax, limitOffset int64) (ReadResult, error) {
	result, err := l.read(offset, bytesMax, limitOffset)
	if errors.Is(err, ErrCorruptBatch) && l.repairIndexes(l.segments[l.segmentFor(offset)]) {
		result, err = l.read(offset, bytesMax, limitOffset)
	}
	return result, err
}

func (l *Log) read(offset, bytesMax, limitOffset int64) (ReadResult, error) {
	if l.closed {
		return ReadResult{}, ErrClosed
	}
	if offset < l.StartOffset() || offset > l.nextOffset {
		return ReadResult{}, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.StartOffset(), l.nextOffset)
	}
	limitOffset = min(limitOffset, l.nextOffset)
	if l.failure != nil {
		limitOffset = min(limitOffset, l.durableOffset)
	}
	empty := ReadResult{FirstOffset: offset, NextOffset: offset}
	if offset >= limitOffset {
		return empty, nil
	}
	i := l.segmentFor(offset)
	position, baseOffset, err := l.locate(l.segments[i], offset)
	if err != nil {
		return empty, err
	}
	result, err := l.gather(i, position, baseOffset, bytesMax, limitOffset)
	if result.Bytes == 0 {
		return empty, err
	}
	return result, nil
}

// gather collects chunks from segment i on, starting at the batch boundary
// position (offset baseOffset). An error after some batches were selected
// is dropped: the caller serves those, and its next read meets the error.
func (l *Log) gather(i int, position, baseOffset, bytesMax, limitOffset int64) (ReadResult, error) {
	result := ReadResult{FirstOffset: baseOffset, NextOffset: baseOffset}
	budget := bytesMax
	for ; i < len(l.segments); i, position = i+1, 0 {
		s := l.segments[i]
		end, next, err := l.extend(s, position, result.NextOffset, budget, limitOffset, result.Bytes == 0)
		if end > position {
			result.Chunks = append(result.Chunks, Chunk{File: s.file, Position: position, Bytes: end - position})
			result.Bytes += end - position
			budget -= end - position
			result.NextOffset = next
			l.rememberPosition(s, next, end)
		}
		if err != nil {
			return result, err
		}
		if next >= limitOffset || end < s.sizeBytes || budget <= 0 {
			break
		}
	}
	return result, nil
}

// extend returns the end of the run of whole batches that starts at
// position in s, fits in budget bytes and ends by limitOffset. With first
// set, the first batch is taken whatever its size.
func (l *Log) extend(s *segment, position, baseOffset, budget, limitOffset int64, first bool) (end, next int64, err error) {
	if s.sizeBytes-position <= budget && s.nextOffset <= limitOffset {
		return s.sizeBytes, s.nextOffset, nil
	}
	end, next = position, baseOffset
	if first {
		h, err := l.headerAt(s, position, baseOffset)
		if err != nil || h.NextOffset() > limitOffset {
			return end, next, err
		}
		end, next = position+h.TotalBytes(), h.NextOffset()
	}
	// Jump to the furthest indexed boundary within both limits; from there
	// the walk is bounded by the next index entry, which breaks a limit.
	if p, o, found := s.lastBoundary(position+budget, limitOffset); found && p > end {
		end, next = p, o
	}
	for end < s.sizeBytes {
		h, err := l.headerAt(s, end, next)
		if err != nil {
			return end, next, err
		}
		if end+h.TotalBytes()-position > budget || h.NextOffset() > limitOffset {
			break
		}
		end, next = end+h.TotalBytes(), h.NextOffset()
	}
	return end, next, nil
}

// locate returns the position and base offset of the batch in s that holds
// offset.
func (l *Log) locate(s *segment, offset int64) (position, baseOffset int64, err error) {
	if p, found := l.recalledPosition(s, offset); found {
		return p, offset, nil
	}
	position, baseOffset = s.floorEntry(offset)
	for {
		h, err := l.headerAt(s, position, baseOffset)
		if err != nil {
			return 0, 0, err
		}
		if h.NextOffset() > offset {
			return position, baseOffset, nil
		}
		position, baseOffset = position+h.TotalBytes(), h.NextOffset()
	}
}

// headerAt reads the header of the batch at position in s and checks it
// against what the log believes: it carries expectedBaseOffset and ends
// within the segment. A mismatch means a damaged index or segment, and is
// an ErrCorruptBatch, never a wrong answer.
func (l *Log) headerAt(s *segment, position, expectedBaseOffset int64) (batch.Header, error) {
	if position < 0 || position+batch.HeaderBytes > s.sizeBytes {
		return batch.Header{}, fmt.Errorf("%w: segment %d: no batch header at position %d of %d bytes",
			ErrCorruptBatch, s.baseOffset, position, s.sizeBytes)
	}
	w := &l.window
	if w.segment != s || position < w.position || position+batch.HeaderBytes > w.position+int64(len(w.buffer)) {
		if err := l.fillWindow(s, position); err != nil {
			return batch.Header{}, err
		}
	}
	h, err := batch.ParseHeader(w.buffer[position-w.position:])
	if err == nil {
		err = checkHeader(&h, expectedBaseOffset)
	}
	if err == nil && (position+h.TotalBytes() > s.sizeBytes || h.NextOffset() > s.nextOffset) {
		err = errIncomplete
	}
	if err != nil {
		w.segment = nil // it may hold a bad read; do not serve it again
		return h, fmt.Errorf("%w: segment %d position %d: %w", ErrCorruptBatch, s.baseOffset, position, err)
	}
	return h, nil
}

// fillWindow reads from position in s as much as the window holds.
func (l *Log) fillWindow(s *segment, position int64) error {
	w := &l.window
	w.segment = nil
	buffer := w.buffer[:min(int64(cap(w.buffer)), s.sizeBytes-position)]
	n, err := s.file.ReadAt(buffer, position)
	if n < len(buffer) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("storage: read segment %d at %d: %w", s.baseOffset, position, err)
	}
	w.segment, w.position, w.buffer = s, position, buffer
	return nil
}

// ReadInto appends the bytes of r's chunks to dst, checking every batch's
// framing, offsets and CRC-32C. A corrupt batch is never returned: the
// result holds the good batches before it, and the error wraps
// ErrCorruptBatch (or the read error, if reading failed).
func ReadInto(dst []byte, r ReadResult) ([]byte, error) {
	next := r.FirstOffset
	for _, c := range r.Chunks {
		start := len(dst)
		dst = slices.Grow(dst, int(c.Bytes))[:start+int(c.Bytes)]
		n, readErr := c.File.ReadAt(dst[start:], c.Position)
		goodBytes, nextOffset, err := checkBatches(dst[start:start+n], next)
		if mutant.Active(mutant.ServeCorruptBatch) && err != nil {
			goodBytes, nextOffset, err = frameWithoutCRC(dst[start:start+n], next)
		}
		dst = dst[:start+int(goodBytes)]
		if n < int(c.Bytes) {
			if readErr == nil {
				readErr = io.ErrUnexpectedEOF
			}
			return dst, fmt.Errorf("storage: read %d bytes at %d: %w", c.Bytes, c.Position, readErr)
		}
		if err != nil {
			return dst, err
		}
		next = nextOffset
	}
	if len(r.Chunks) > 0 && next != r.NextOffset {
		return dst, fmt.Errorf("%w: chunks end at offset %d, not %d", ErrCorruptBatch, next, r.NextOffset)
	}
	return dst, nil
}

// frameWithoutCRC is the serve-corrupt-batch mutant: it walks batches by
// their length fields alone, trusting bytes the CRC would have refused.
func frameWithoutCRC(b []byte, next int64) (goodBytes int64, nextOffset int64, err error) {
	for goodBytes < int64(len(b)) {
		total, complete, frameErr := batch.Frame(b[goodBytes:])
		if frameErr != nil || !complete {
			return goodBytes, next, ErrCorruptBatch
		}
		h, _ := batch.ParseHeader(b[goodBytes:])
		goodBytes += total
		next = h.NextOffset()
	}
	return goodBytes, next, nil
}

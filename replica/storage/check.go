package storage

import (
	"errors"
	"fmt"

	"cairn/core/batch"
)

// Attribute bits the log reads itself.
const (
	compressionMask  = 0x07
	logAppendTimeBit = 0x08
)

var (
	errMagic      = errors.New("magic is not 2")
	errLength     = errors.New("length shorter than a header")
	errOffset     = errors.New("base offset does not follow the previous batch")
	errCount      = errors.New("record count disagrees with the last offset delta")
	errIncomplete = errors.New("batch runs past the end")
)

// checkHeader checks what the log relies on in a batch header: magic 2, a
// length that covers the header, the base offset where the log expects it,
// and a record count the offset range can hold. Compaction may one day leave
// fewer records than offsets, so the count may be smaller, never larger.
func checkHeader(h *batch.Header, expectedBaseOffset int64) error {
	switch {
	case h.Magic != batch.MagicV2:
		return errMagic
	case h.TotalBytes() < batch.HeaderBytes:
		return errLength
	case h.BaseOffset != expectedBaseOffset:
		return fmt.Errorf("%w: %d, expected %d", errOffset, h.BaseOffset, expectedBaseOffset)
	case h.LastOffsetDelta < 0 || h.RecordCount <= 0 || int64(h.RecordCount) > int64(h.LastOffsetDelta)+1:
		return errCount
	}
	return nil
}

// checkBatchAt checks the batch at the start of b, which may hold more
// bytes after it: whole, header sane, CRC-32C right. It returns the header
// and the batch's size, and does not allocate unless it fails.
func checkBatchAt(b []byte, expectedBaseOffset int64) (batch.Header, int64, error) {
	total, complete, err := batch.Frame(b)
	if err != nil {
		return batch.Header{}, 0, err
	}
	if !complete {
		return batch.Header{}, 0, errIncomplete
	}
	h, err := batch.ParseHeader(b)
	if err != nil {
		return h, 0, err
	}
	if err := checkHeader(&h, expectedBaseOffset); err != nil {
		return h, 0, err
	}
	if err := batch.CheckCRC(b[:total]); err != nil {
		return h, 0, err
	}
	return h, total, nil
}

// checkBatches checks every batch in b, which must hold whole batches from
// expectedBaseOffset on. It returns how many leading bytes are good and the
// offset after them; err is nil only if all of b is good.
func checkBatches(b []byte, expectedBaseOffset int64) (goodBytes int64, nextOffset int64, err error) {
	nextOffset = expectedBaseOffset
	for goodBytes < int64(len(b)) {
		h, total, err := checkBatchAt(b[goodBytes:], nextOffset)
		if err != nil {
			return goodBytes, nextOffset, fmt.Errorf("%w: at offset %d: %w", ErrCorruptBatch, nextOffset, err)
		}
		goodBytes += total
		nextOffset = h.NextOffset()
	}
	return goodBytes, nextOffset, nil
}

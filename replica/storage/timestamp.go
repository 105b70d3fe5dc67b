package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"cairn/core/batch"
)

var errRecords = errors.New("records do not parse")

// OffsetForTimestamp finds the first record whose timestamp is at least
// timestamp (Kafka's ListOffsets by time). For an uncompressed batch it is
// the exact record, found by walking the records' timestamp deltas; for a
// compressed batch it is the batch's base offset, with its first timestamp
// if that qualifies and its max timestamp otherwise; for LogAppendTime
// batches every record carries the max timestamp. found is false when no
// record is that late. The time index narrows the search to a start in
// each segment; the walk from there reads batch headers only.
func (l *Log) OffsetForTimestamp(timestamp int64) (offset, recordTimestamp int64, found bool, err error) {
	if l.closed {
		return 0, 0, false, ErrClosed
	}
	for _, s := range l.segments {
		if s.sizeBytes == 0 || s.maxTimestamp < timestamp {
			continue
		}
		offset, recordTimestamp, found, err = l.searchSegment(s, timestamp)
		if errors.Is(err, ErrCorruptBatch) && l.repairIndexes(s) {
			offset, recordTimestamp, found, err = l.searchSegment(s, timestamp)
		}
		if err != nil || found {
			return offset, recordTimestamp, found, err
		}
	}
	return 0, 0, false, nil
}

// searchSegment walks s from the batch that its time index says is the
// last one too early.
func (l *Log) searchSegment(s *segment, timestamp int64) (offset, recordTimestamp int64, found bool, err error) {
	position, next, err := l.locate(s, s.timeFloor(timestamp))
	if err != nil {
		return 0, 0, false, err
	}
	for position < s.sizeBytes {
		h, err := l.headerAt(s, position, next)
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp >= timestamp {
			offset, recordTimestamp, found, err = l.recordForTimestamp(s, position, &h, timestamp)
			if err != nil || found {
				return offset, recordTimestamp, found, err
			}
		}
		position, next = position+h.TotalBytes(), h.NextOffset()
	}
	return 0, 0, false, nil
}

// recordForTimestamp finds the first record at or after timestamp in the
// batch at position, whose max timestamp qualifies. found is false only if
// the records disagree with the header's max timestamp.
func (l *Log) recordForTimestamp(s *segment, position int64, h *batch.Header, timestamp int64) (int64, int64, bool, error) {
	switch {
	case h.Attributes&logAppendTimeBit != 0:
		return h.BaseOffset, h.MaxTimestamp, true, nil
	case h.Attributes&compressionMask != 0 && h.FirstTimestamp >= timestamp:
		return h.BaseOffset, h.FirstTimestamp, true, nil
	case h.Attributes&compressionMask != 0:
		return h.BaseOffset, h.MaxTimestamp, true, nil
	}
	b := make([]byte, h.TotalBytes())
	if n, err := s.file.ReadAt(b, position); n != len(b) {
		return 0, 0, false, fmt.Errorf("storage: read batch at %d: %w", h.BaseOffset, errors.Join(err, io.ErrUnexpectedEOF))
	}
	if _, _, err := checkBatchAt(b, h.BaseOffset); err != nil {
		return 0, 0, false, fmt.Errorf("%w: at offset %d: %w", ErrCorruptBatch, h.BaseOffset, err)
	}
	offset, recordTimestamp, found, err := firstRecordAtOrAfter(b[batch.HeaderBytes:], h, timestamp)
	if err != nil {
		return 0, 0, false, fmt.Errorf("%w: at offset %d: %w", ErrCorruptBatch, h.BaseOffset, err)
	}
	return offset, recordTimestamp, found, nil
}

// firstRecordAtOrAfter walks uncompressed records: each is a varint length,
// then attributes (int8), timestamp delta (varint), offset delta (varint).
func firstRecordAtOrAfter(records []byte, h *batch.Header, timestamp int64) (int64, int64, bool, error) {
	for i := int32(0); i < h.RecordCount; i++ {
		length, n := binary.Varint(records)
		if n <= 0 || length < 1 || length > int64(len(records)-n) {
			return 0, 0, false, errRecords
		}
		record := records[n : n+int(length)]
		records = records[n+int(length):]
		timestampDelta, m := binary.Varint(record[1:])
		if m <= 0 {
			return 0, 0, false, errRecords
		}
		offsetDelta, k := binary.Varint(record[1+m:])
		if k <= 0 || offsetDelta < 0 || offsetDelta > int64(h.LastOffsetDelta) {
			return 0, 0, false, errRecords
		}
		if recordTimestamp := h.FirstTimestamp + timestampDelta; recordTimestamp >= timestamp {
			return h.BaseOffset + offsetDelta, recordTimestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

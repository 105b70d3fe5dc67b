// Package batch reads and checks Kafka record batches (message format v2) in
// place, without decoding records into objects.
//
// A batch is kept on disk and served to consumers exactly as the producer
// wrote it; the broker only stamps the base offset and the partition leader
// epoch, which both lie outside the CRC-32C. Everything here is pure: no I/O,
// no allocation on the hot path, no clock.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte layout of a v2 record batch header. The CRC covers every byte from
// attributesOffset to the end of the batch.
const (
	baseOffsetOffset      = 0
	batchLengthOffset     = 8
	leaderEpochOffset     = 12
	magicOffset           = 16
	crcOffset             = 17
	attributesOffset      = 21
	lastOffsetDeltaOffset = 23
	firstTimestampOffset  = 27
	maxTimestampOffset    = 35
	producerIDOffset      = 43
	producerEpochOffset   = 51
	baseSequenceOffset    = 53
	recordCountOffset     = 57

	// HeaderBytes is the size of a v2 batch header, records excluded.
	HeaderBytes = 61
	// LengthPrefixBytes is the part of the header not counted by batchLength:
	// the base offset and the length field itself.
	LengthPrefixBytes = 12
	// MagicV2 is the only message format Cairn stores.
	MagicV2 = 2
)

// Attribute bits.
const (
	compressionMask     = 0x07
	timestampTypeBit    = 0x08
	transactionalBit    = 0x10
	controlBit          = 0x20
	recordsWalkBytesMax = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Validate. Callers map them to Kafka error codes at the
// protocol edge: ErrCorrupt and ErrTruncated to CORRUPT_MESSAGE, the rest to
// INVALID_RECORD.
var (
	ErrTruncated   = errors.New("batch: truncated")
	ErrCorrupt     = errors.New("batch: CRC-32C mismatch")
	ErrBadMagic    = errors.New("batch: magic is not 2")
	ErrBadLength   = errors.New("batch: length field disagrees with the bytes present")
	ErrBadCount    = errors.New("batch: record count disagrees with offset deltas")
	ErrBadRecords  = errors.New("batch: records do not parse")
	ErrControl     = errors.New("batch: control batch from a client")
	ErrTrailing    = errors.New("batch: bytes after the batch")
	ErrEmptyRecord = errors.New("batch: no records")
)

// Header is a decoded view of a batch header.
type Header struct {
	BaseOffset      int64
	BatchLength     int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// TotalBytes is the size of the whole batch on the wire and on disk.
func (h *Header) TotalBytes() int64 { return int64(h.BatchLength) + LengthPrefixBytes }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset that follows the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec number (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h *Header) Compression() int8 { return int8(h.Attributes & compressionMask) }

// IsControl reports whether the batch holds transaction markers.
func (h *Header) IsControl() bool { return h.Attributes&controlBit != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&transactionalBit != 0 }

// ParseHeader decodes the header at the start of b. It checks only that the
// header bytes are present; use Validate before trusting the batch.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderBytes {
		return Header{}, ErrTruncated
	}
	return Header{
		BaseOffset:      int64(binary.BigEndian.Uint64(b[baseOffsetOffset:])),
		BatchLength:     int32(binary.BigEndian.Uint32(b[batchLengthOffset:])),
		LeaderEpoch:     int32(binary.BigEndian.Uint32(b[leaderEpochOffset:])),
		Magic:           int8(b[magicOffset]),
		CRC:             binary.BigEndian.Uint32(b[crcOffset:]),
		Attributes:      int16(binary.BigEndian.Uint16(b[attributesOffset:])),
		LastOffsetDelta: int32(binary.BigEndian.Uint32(b[lastOffsetDeltaOffset:])),
		FirstTimestamp:  int64(binary.BigEndian.Uint64(b[firstTimestampOffset:])),
		MaxTimestamp:    int64(binary.BigEndian.Uint64(b[maxTimestampOffset:])),
		ProducerID:      int64(binary.BigEndian.Uint64(b[producerIDOffset:])),
		ProducerEpoch:   int16(binary.BigEndian.Uint16(b[producerEpochOffset:])),
		BaseSequence:    int32(binary.BigEndian.Uint32(b[baseSequenceOffset:])),
		RecordCount:     int32(binary.BigEndian.Uint32(b[recordCountOffset:])),
	}, nil
}

// Frame reports the size of the batch at the start of b, from its length
// field alone, and whether b holds all of it. It is how recovery and readers
// walk a segment batch by batch.
func Frame(b []byte) (totalBytes int64, complete bool, err error) {
	if len(b) < LengthPrefixBytes {
		return 0, false, nil
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthOffset:]))
	if length < HeaderBytes-LengthPrefixBytes {
		return 0, false, ErrBadLength
	}
	totalBytes = int64(length) + LengthPrefixBytes
	return totalBytes, int64(len(b)) >= totalBytes, nil
}

// CheckCRC verifies the CRC-32C of the single batch that fills b exactly.
func CheckCRC(b []byte) error {
	if len(b) < HeaderBytes {
		return ErrTruncated
	}
	if crc32.Checksum(b[attributesOffset:], castagnoli) != binary.BigEndian.Uint32(b[crcOffset:]) {
		return ErrCorrupt
	}
	return nil
}

// Validate checks one batch that fills b exactly: length, magic, CRC, and
// that the record count agrees with the last offset delta. For uncompressed
// batches it also walks every record's framing, so a batch whose records
// would not parse is refused at the door rather than handed to consumers.
// It does not allocate.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Magic != MagicV2 {
		return h, ErrBadMagic
	}
	total, complete, err := Frame(b)
	if err != nil {
		return h, err
	}
	if !complete {
		return h, ErrTruncated
	}
	if total != int64(len(b)) {
		return h, ErrTrailing
	}
	if err := CheckCRC(b); err != nil {
		return h, err
	}
	if h.RecordCount <= 0 {
		return h, ErrEmptyRecord
	}
	if h.LastOffsetDelta != h.RecordCount-1 {
		return h, ErrBadCount
	}
	if h.Compression() == 0 {
		if err := walkRecords(b[HeaderBytes:], h.RecordCount); err != nil {
			return h, err
		}
	}
	return h, nil
}

// walkRecords checks the framing of count uncompressed records: each record
// is a varint length followed by that many bytes, and its offset delta (the
// third field) counts up from zero.
func walkRecords(b []byte, count int32) error {
	if len(b) > recordsWalkBytesMax {
		return ErrBadRecords
	}
	for i := int32(0); i < count; i++ {
		length, n := binary.Varint(b)
		if n <= 0 || length < 0 || int64(len(b)-n) < length {
			return fmt.Errorf("%w: record %d length", ErrBadRecords, i)
		}
		record := b[n : n+int(length)]
		b = b[n+int(length):]
		// attributes int8, timestampDelta varint, offsetDelta varint.
		if len(record) < 1 {
			return fmt.Errorf("%w: record %d empty", ErrBadRecords, i)
		}
		_, m := binary.Varint(record[1:])
		if m <= 0 {
			return fmt.Errorf("%w: record %d timestamp", ErrBadRecords, i)
		}
		delta, k := binary.Varint(record[1+m:])
		if k <= 0 {
			return fmt.Errorf("%w: record %d offset delta", ErrBadRecords, i)
		}
		if delta != int64(i) {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrBadCount, i, delta)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", ErrBadRecords, len(b))
	}
	return nil
}

// SetBaseOffset stamps the broker-assigned base offset. The CRC does not
// cover it, so the batch stays valid.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[baseOffsetOffset:], uint64(offset))
}

// SetLeaderEpoch stamps the partition leader epoch, also outside the CRC.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[leaderEpochOffset:], uint32(epoch))
}

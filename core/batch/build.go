package batch

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record to put in a batch built by Build.
type Record struct {
	Key, Value []byte
	Headers    []kmsg.Header
}

// BuildOptions describe the batch header that Build writes.
type BuildOptions struct {
	BaseOffset     int64
	FirstTimestamp int64 // milliseconds since the epoch
	ProducerID     int64 // -1 when not idempotent
	ProducerEpoch  int16
	BaseSequence   int32
}

// Build encodes an uncompressed v2 batch with a valid CRC, as a producer
// would. The simulator's clients and the tests use it; the broker itself
// never builds batches.
func Build(options BuildOptions, records []Record) []byte {
	var body []byte
	for i := range records {
		r := kmsg.Record{
			OffsetDelta: int32(i),
			Key:         records[i].Key,
			Value:       records[i].Value,
			Headers:     records[i].Headers,
		}
		// The length prefix counts everything after itself: encode once
		// without it to learn the size.
		probe := r.AppendTo(nil)
		_, n := binary.Varint(probe)
		r.Length = int32(len(probe) - n)
		body = r.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          options.BaseOffset,
		Length:               int32(HeaderBytes - LengthPrefixBytes + len(body)),
		PartitionLeaderEpoch: -1,
		Magic:                MagicV2,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       options.FirstTimestamp,
		MaxTimestamp:         options.FirstTimestamp,
		ProducerID:           options.ProducerID,
		ProducerEpoch:        options.ProducerEpoch,
		FirstSequence:        options.BaseSequence,
		NumRecords:           int32(len(records)),
		Records:              body,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[crcOffset:], crc32.Checksum(out[attributesOffset:], castagnoli))
	return out
}

// Records decodes the records of an uncompressed batch. It allocates, and is
// for tests, tools and the simulator's consumers, never the broker's hot path.
func Records(b []byte) ([]kmsg.Record, error) {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		return nil, err
	}
	if rb.Attributes&compressionMask != 0 {
		return nil, ErrBadRecords
	}
	out := make([]kmsg.Record, 0, rb.NumRecords)
	rest := rb.Records
	for len(rest) > 0 {
		var r kmsg.Record
		length, n := binary.Varint(rest)
		if n <= 0 || int64(len(rest)-n) < length || length < 0 {
			return nil, ErrBadRecords
		}
		if err := r.ReadFrom(rest[:n+int(length)]); err != nil {
			return nil, err
		}
		out = append(out, r)
		rest = rest[n+int(length):]
	}
	return out, nil
}

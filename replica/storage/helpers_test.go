package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"time"

	"cairn/core/batch"
	"cairn/diskfault"
)

// tester is what the helpers need of *testing.T, *testing.B and *rapid.T.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// testDir is where tests keep their log on a Mem.
const testDir = "data/topic-0"

var testEpoch = time.Unix(1_700_000_000, 0)

// batchSpec describes a test batch.
type batchSpec struct {
	records        int
	valueBytes     int
	firstTimestamp int64
	timestampStep  int64 // between consecutive records; may be negative
	attributes     int16 // compression and timestamp-type bits
	tag            uint64
}

// buildBatch encodes a v2 batch with a valid CRC. Values are derived from
// the tag, so batches written at the same offset by different steps of a
// test differ.
func buildBatch(baseOffset int64, spec batchSpec) []byte {
	var body []byte
	maxTimestamp := spec.firstTimestamp
	for i := 0; i < spec.records; i++ {
		delta := int64(i) * spec.timestampStep
		maxTimestamp = max(maxTimestamp, spec.firstTimestamp+delta)
		record := []byte{0}
		record = binary.AppendVarint(record, delta)
		record = binary.AppendVarint(record, int64(i))
		record = binary.AppendVarint(record, -1) // null key
		record = binary.AppendVarint(record, int64(spec.valueBytes))
		for j := 0; j < spec.valueBytes; j++ {
			record = append(record, byte(spec.tag>>(8*(j%8)))+byte(i)+byte(j))
		}
		record = binary.AppendVarint(record, 0) // no headers
		body = binary.AppendVarint(body, int64(len(record)))
		body = append(body, record...)
	}
	b := make([]byte, batch.HeaderBytes, batch.HeaderBytes+len(body))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(baseOffset))
	be.PutUint32(b[8:], uint32(batch.HeaderBytes-batch.LengthPrefixBytes+len(body)))
	be.PutUint32(b[12:], 0)
	b[16] = batch.MagicV2
	be.PutUint16(b[21:], uint16(spec.attributes))
	be.PutUint32(b[23:], uint32(spec.records-1))
	be.PutUint64(b[27:], uint64(spec.firstTimestamp))
	be.PutUint64(b[35:], uint64(maxTimestamp))
	be.PutUint64(b[43:], ^uint64(0))
	be.PutUint16(b[51:], ^uint16(0))
	be.PutUint32(b[53:], ^uint32(0))
	be.PutUint32(b[57:], uint32(spec.records))
	b = append(b, body...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// simpleBatch is an uncompressed batch whose records are timestamped from
// firstTimestamp one millisecond apart.
func simpleBatch(baseOffset int64, records, valueBytes int, firstTimestamp int64) []byte {
	return buildBatch(baseOffset, batchSpec{records: records, valueBytes: valueBytes,
		firstTimestamp: firstTimestamp, timestampStep: 1, tag: uint64(baseOffset)})
}

func nextOffsetOf(b []byte) int64 {
	h, _ := batch.ParseHeader(b)
	return h.NextOffset()
}

// history is the test's model of the log: the batches it holds, in order.
type history struct {
	batches [][]byte
}

func (h *history) nextOffset(start int64) int64 {
	if len(h.batches) == 0 {
		return start
	}
	return nextOffsetOf(h.batches[len(h.batches)-1])
}

// countBelow is how many batches end at or below offset.
func (h *history) countBelow(offset int64) int {
	n := 0
	for n < len(h.batches) && nextOffsetOf(h.batches[n]) <= offset {
		n++
	}
	return n
}

// expectedRead is what Read followed by ReadInto must return.
func (h *history) expectedRead(offset, bytesMax, limitOffset int64) []byte {
	var out []byte
	for _, b := range h.batches {
		if nextOffsetOf(b) <= offset {
			continue
		}
		if nextOffsetOf(b) > limitOffset || (len(out) > 0 && int64(len(out)+len(b)) > bytesMax) {
			break
		}
		out = append(out, b...)
	}
	return out
}

// expectedTimestampLookup is the first record at or after timestamp, for
// uncompressed CreateTime batches.
func (h *history) expectedTimestampLookup(timestamp int64) (int64, int64, bool) {
	for _, b := range h.batches {
		hd, _ := batch.ParseHeader(b)
		records := b[batch.HeaderBytes:]
		for i := int32(0); i < hd.RecordCount; i++ {
			length, n := binary.Varint(records)
			record := records[n : n+int(length)]
			records = records[n+int(length):]
			delta, m := binary.Varint(record[1:])
			offsetDelta, _ := binary.Varint(record[1+m:])
			if hd.FirstTimestamp+delta >= timestamp {
				return hd.BaseOffset + offsetDelta, hd.FirstTimestamp + delta, true
			}
		}
	}
	return 0, 0, false
}

// splitBatches splits bytes that ReadInto returned into batches.
func splitBatches(t tester, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		total, complete, err := batch.Frame(b)
		if err != nil || !complete {
			t.Fatalf("ReadInto returned a partial batch: %v", err)
		}
		if _, err := batch.Validate(b[:total]); err != nil {
			t.Fatalf("ReadInto returned an invalid batch: %v", err)
		}
		out = append(out, b[:total])
		b = b[total:]
	}
	return out
}

// readAll reads the whole log through Read and ReadInto.
func readAll(t tester, l *Log, bytesMax int64) [][]byte {
	t.Helper()
	var out [][]byte
	for offset := l.StartOffset(); offset < l.NextOffset(); {
		r, err := l.Read(offset, bytesMax, l.NextOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		b, err := ReadInto(nil, r)
		if err != nil {
			t.Fatalf("ReadInto at %d: %v", offset, err)
		}
		if len(b) == 0 || r.NextOffset <= offset {
			t.Fatalf("read at %d made no progress: %+v", offset, r)
		}
		out = append(out, splitBatches(t, b)...)
		offset = r.NextOffset
	}
	return out
}

func sameBatches(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func mustOpen(t tester, fsys diskfault.FS, config Config) *Log {
	t.Helper()
	l, err := Open(fsys, testDir, config, testEpoch)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func mustAppend(t tester, l *Log, b []byte) {
	t.Helper()
	if err := l.Append(b, testEpoch); err != nil {
		t.Fatalf("append at %d: %v", l.NextOffset(), err)
	}
}

// syncNow runs a whole sync round on this goroutine.
func syncNow(t tester, l *Log) {
	t.Helper()
	if j := l.PrepareSync(); j != nil {
		err := j.Run()
		l.CompleteSync(j, err)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
}

// appendBatches appends n batches of the given shape and returns them.
func appendBatches(t tester, l *Log, n, records, valueBytes int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := simpleBatch(l.NextOffset(), records, valueBytes, 1000*l.NextOffset())
		mustAppend(t, l, b)
		out = append(out, b)
	}
	return out
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func isErr(err, target error) bool { return errors.Is(err, target) }

func frame(b []byte) (int64, bool, error) { return batch.Frame(b) }

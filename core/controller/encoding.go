package controller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The encoding, version 0 of every record:
//
//	record = type:u8 version:u8 fields...
//	batch  = format:u8(=1) count:uvarint (length:uvarint record)*
//
// Fields are written in declaration order: int32 and int64 as zigzag
// varints, bool as one byte 0 or 1, string as uvarint length then bytes,
// []int32 as uvarint count then varints, TopicID as 16 raw bytes, and a
// config map as uvarint count then key/value string pairs sorted by key.
// The encoding is canonical: Decode refuses anything Encode would not have
// written (unsorted keys, a bool of 2, trailing bytes), so that
// Encode(Decode(b)) == b for every b Decode accepts.

// Version 1 of RegisterBroker, PartitionRecord and PartitionChange appends
// one field: the directory ID (16 raw bytes), or the ELR ([]int32). Encode
// writes version 1 only when that field is set (a non-zero ID, a non-empty
// ELR) and version 0 otherwise, so logs written before the field existed
// decode to the same records, and Decode refuses a version 1 whose field is
// unset, which Encode never writes.
const (
	recordVersion0 = 0
	recordVersion1 = 1
)

// batchFormat is the first byte of an encoded batch.
const batchFormat = 1

// ErrCorrupt is wrapped by every decoding failure.
var ErrCorrupt = errors.New("controller: corrupt metadata record")

// Encode returns the record's canonical encoding.
func Encode(r Record) []byte {
	return appendRecord(nil, r)
}

// EncodeBatch encodes records as one batch: one entry of the metadata log,
// applied all or nothing.
func EncodeBatch(records []Record) []byte {
	b := []byte{batchFormat}
	b = binary.AppendUvarint(b, uint64(len(records)))
	for _, r := range records {
		encoded := Encode(r)
		b = binary.AppendUvarint(b, uint64(len(encoded)))
		b = append(b, encoded...)
	}
	return b
}

// Decode decodes one record. It returns an error wrapping ErrCorrupt, and
// never panics, on any input that Encode did not produce.
func Decode(data []byte) (Record, error) {
	if len(data) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	recordType, version := RecordType(data[0]), data[1]
	if version != recordVersion0 && (version != recordVersion1 || !hasVersion1(recordType)) {
		return nil, fmt.Errorf("%w: %s version %d", ErrCorrupt, recordType, version)
	}
	d := &decoder{data: data[2:]}
	r := d.record(recordType, version)
	if d.err == nil && len(d.data) != 0 {
		d.fail("%d trailing bytes", len(d.data))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, recordType, d.err)
	}
	return r, nil
}

// DecodeBatch decodes a batch written by EncodeBatch. Like Decode, it never
// panics.
func DecodeBatch(data []byte) ([]Record, error) {
	if len(data) < 1 || data[0] != batchFormat {
		return nil, fmt.Errorf("%w: not a batch", ErrCorrupt)
	}
	d := &decoder{data: data[1:]}
	count := d.count()
	records := make([]Record, 0, count)
	for i := 0; i < count && d.err == nil; i++ {
		encoded := d.bytes()
		if d.err != nil {
			break
		}
		r, err := Decode(encoded)
		if err != nil {
			return nil, fmt.Errorf("record %d of batch: %w", i, err)
		}
		records = append(records, r)
	}
	if d.err == nil && len(d.data) != 0 {
		d.fail("%d trailing bytes", len(d.data))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: batch: %v", ErrCorrupt, d.err)
	}
	return records, nil
}

// hasVersion1 reports whether a record type has a version 1.
func hasVersion1(t RecordType) bool {
	return t == TypeRegisterBroker || t == TypePartitionRecord || t == TypePartitionChange
}

// versionOf returns the version Encode writes for r.
func versionOf(r Record) byte {
	switch r := r.(type) {
	case RegisterBroker:
		if !r.DirectoryID.IsZero() {
			return recordVersion1
		}
	case PartitionRecord:
		if len(r.ELR) > 0 {
			return recordVersion1
		}
	case PartitionChange:
		if len(r.ELR) > 0 {
			return recordVersion1
		}
	}
	return recordVersion0
}

func appendRecord(b []byte, r Record) []byte {
	version := versionOf(r)
	b = append(b, byte(r.Type()), version)
	switch r := r.(type) {
	case RegisterBroker:
		b = appendInt32(b, r.ID)
		b = appendString(b, r.Host)
		b = appendInt32(b, r.Port)
		b = appendString(b, r.Rack)
		b = binary.AppendVarint(b, r.Incarnation)
		b = appendBool(b, r.CleanShutdown)
		if version == recordVersion1 {
			b = append(b, r.DirectoryID[:]...)
		}
	case FenceBroker:
		b = appendInt32(b, r.ID)
	case UnfenceBroker:
		b = appendInt32(b, r.ID)
	case CreateTopic:
		b = appendString(b, r.Name)
		b = append(b, r.ID[:]...)
		b = appendConfigs(b, r.Configs)
	case PartitionRecord:
		b = appendString(b, r.Topic)
		b = append(b, r.TopicID[:]...)
		b = appendInt32(b, r.Partition)
		b = appendIDs(b, r.Replicas)
		b = appendIDs(b, r.ISR)
		b = appendInt32(b, r.Leader)
		b = appendInt32(b, r.LeaderEpoch)
		b = appendInt32(b, r.PartitionEpoch)
		if version == recordVersion1 {
			b = appendIDs(b, r.ELR)
		}
	case PartitionChange:
		b = appendString(b, r.Topic)
		b = append(b, r.TopicID[:]...)
		b = appendInt32(b, r.Partition)
		b = appendInt32(b, r.Leader)
		b = appendBool(b, r.LeaderUnchanged)
		b = appendIDs(b, r.ISR)
		b = appendInt32(b, r.LeaderEpoch)
		b = appendInt32(b, r.PartitionEpoch)
		if version == recordVersion1 {
			b = appendIDs(b, r.ELR)
		}
	case DeleteTopic:
		b = appendString(b, r.Name)
		b = append(b, r.ID[:]...)
	case AllocateProducerIDs:
		b = appendInt32(b, r.Broker)
		b = binary.AppendVarint(b, r.First)
		b = binary.AppendVarint(b, r.Count)
	default:
		// Record is sealed: only this package's types implement it.
		panic(fmt.Sprintf("controller: encode unknown record %T", r))
	}
	return b
}

func appendInt32(b []byte, v int32) []byte { return binary.AppendVarint(b, int64(v)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendIDs(b []byte, ids []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendInt32(b, id)
	}
	return b
}

func appendConfigs(b []byte, configs map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(configs)))
	for _, key := range sortedKeys(configs) {
		b = appendString(b, key)
		b = appendString(b, configs[key])
	}
	return b
}

// decoder reads fields from data. The first failure sticks: later reads
// return zero values, and the caller checks err once at the end.
type decoder struct {
	data []byte
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.data = nil
}

func (d *decoder) record(t RecordType, version byte) Record {
	switch t {
	case TypeRegisterBroker:
		r := RegisterBroker{ID: d.int32(), Host: d.string(), Port: d.int32(), Rack: d.string(),
			Incarnation: d.int64(), CleanShutdown: d.bool()}
		if version == recordVersion1 {
			r.DirectoryID = DirectoryID(d.topicID())
			if r.DirectoryID.IsZero() {
				d.fail("version 1 with a zero directory id")
			}
		}
		return r
	case TypeFenceBroker:
		return FenceBroker{ID: d.int32()}
	case TypeUnfenceBroker:
		return UnfenceBroker{ID: d.int32()}
	case TypeCreateTopic:
		return CreateTopic{Name: d.string(), ID: d.topicID(), Configs: d.configs()}
	case TypePartitionRecord:
		r := PartitionRecord{Topic: d.string(), TopicID: d.topicID(), Partition: d.int32(),
			Replicas: d.ids(), ISR: d.ids(), Leader: d.int32(), LeaderEpoch: d.int32(), PartitionEpoch: d.int32()}
		if version == recordVersion1 {
			r.ELR = d.elr()
		}
		return r
	case TypePartitionChange:
		r := PartitionChange{Topic: d.string(), TopicID: d.topicID(), Partition: d.int32(),
			Leader: d.int32(), LeaderUnchanged: d.bool(), ISR: d.ids(), LeaderEpoch: d.int32(), PartitionEpoch: d.int32()}
		if version == recordVersion1 {
			r.ELR = d.elr()
		}
		return r
	case TypeDeleteTopic:
		return DeleteTopic{Name: d.string(), ID: d.topicID()}
	case TypeAllocateProducerIDs:
		return AllocateProducerIDs{Broker: d.int32(), First: d.int64(), Count: d.int64()}
	}
	d.fail("unknown record type")
	return nil
}

func (d *decoder) int64() int64 {
	v, n := binary.Varint(d.data)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	// A varint with redundant continuation bytes decodes, but is not what
	// Encode writes; refusing it keeps the encoding canonical.
	if n != len(binary.AppendVarint(nil, v)) {
		d.fail("non-minimal varint")
		return 0
	}
	d.data = d.data[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.int64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("int32 out of range: %d", v)
		return 0
	}
	return int32(v)
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("bad uvarint")
		return 0
	}
	d.data = d.data[n:]
	return v
}

// count reads a length that announces at least one byte per element, so
// garbage can never make the decoder allocate more than the input's size.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.data)) {
		d.fail("count %d exceeds the %d bytes left", v, len(d.data))
		return 0
	}
	return int(v)
}

func (d *decoder) bool() bool {
	if len(d.data) < 1 || d.data[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.data[0] == 1
	d.data = d.data[1:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.count()
	v := d.data[:n:n]
	d.data = d.data[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) topicID() TopicID {
	var id TopicID
	if len(d.data) < len(id) {
		d.fail("short topic id")
		return id
	}
	copy(id[:], d.data)
	d.data = d.data[len(id):]
	return id
}

func (d *decoder) ids() []int32 {
	n := d.count()
	if n == 0 {
		return nil
	}
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = d.int32()
	}
	return ids
}

// elr reads the ELR of a version 1 record, which is never empty.
func (d *decoder) elr() []int32 {
	ids := d.ids()
	if len(ids) == 0 {
		d.fail("version 1 with an empty elr")
	}
	return ids
}

func (d *decoder) configs() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	configs := make(map[string]string, n)
	previous := ""
	for i := 0; i < n && d.err == nil; i++ {
		key, value := d.string(), d.string()
		if i > 0 && key <= previous {
			d.fail("config keys not strictly sorted")
		}
		configs[key], previous = value, key
	}
	return configs
}

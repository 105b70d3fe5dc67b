package controller

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sampleRecords holds one record of every type, with every field set.
func sampleRecords() []Record {
	id := TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []Record{
		RegisterBroker{ID: 3, Host: "broker-3.example", Port: 9092, Rack: "east", Incarnation: 1 << 40, CleanShutdown: true},
		FenceBroker{ID: 3},
		UnfenceBroker{ID: 2147483647},
		CreateTopic{Name: "orders", ID: id, Configs: map[string]string{"retention.ms": "-1", "cleanup.policy": "compact"}},
		PartitionRecord{Topic: "orders", TopicID: id, Partition: 7, Replicas: []int32{3, 1, 2}, ISR: []int32{3, 1},
			Leader: 3, LeaderEpoch: 12, PartitionEpoch: 40},
		PartitionChange{Topic: "orders", TopicID: id, Partition: 7, Leader: -1, ISR: []int32{3}, LeaderEpoch: 13, PartitionEpoch: 41},
		PartitionChange{Topic: "orders", TopicID: id, Partition: 7, Leader: 5, LeaderUnchanged: true, LeaderEpoch: 13, PartitionEpoch: 42},
		DeleteTopic{Name: "orders", ID: id},
		AllocateProducerIDs{Broker: 1, First: 1 << 50, Count: 1000},
	}
}

func TestEncodingRoundTrips(t *testing.T) {
	for _, r := range sampleRecords() {
		encoded := Encode(r)
		decoded, err := Decode(encoded)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if !reflect.DeepEqual(decoded, r) {
			t.Fatalf("round trip changed\n%#v\ninto\n%#v", r, decoded)
		}
		if !bytes.Equal(Encode(decoded), encoded) {
			t.Fatalf("%s: encoding not stable", r)
		}
	}
	batch := EncodeBatch(sampleRecords())
	records, err := DecodeBatch(batch)
	if err != nil || !reflect.DeepEqual(records, sampleRecords()) {
		t.Fatalf("batch round trip: %v\n%v", err, records)
	}
}

// TestEncodingIsPinned fails when the bytes of a record change: logs already
// written must keep decoding, so a change needs a new record version.
func TestEncodingIsPinned(t *testing.T) {
	got := Encode(PartitionChange{Topic: "t", Partition: 1, Leader: 2, ISR: []int32{2, 3}, LeaderEpoch: 4, PartitionEpoch: 5})
	want := []byte{6, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 0, 2, 4, 6, 8, 10}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n got %v\nwant %v", got, want)
	}
}

func TestDecodeRefusesNonCanonical(t *testing.T) {
	unsorted := []byte{byte(TypeCreateTopic), 0, 1, 't'}
	unsorted = append(unsorted, make([]byte, 16)...)
	unsorted = append(unsorted, 2, 1, 'b', 0, 1, 'a', 0)
	for name, data := range map[string][]byte{
		"empty":           {},
		"unknown type":    {99, 0},
		"unknown version": {byte(TypeFenceBroker), 1, 2},
		"trailing bytes":  append(Encode(FenceBroker{ID: 1}), 0),
		"bool of two":     {byte(TypeRegisterBroker), 0, 2, 1, 'h', 2, 0, 2, 2},
		"padded varint":   {byte(TypeFenceBroker), 0, 0x82, 0x00},
		"int32 overflow":  {byte(TypeFenceBroker), 0, 0x80, 0x80, 0x80, 0x80, 0x10},
		"huge count":      {byte(TypeDeleteTopic), 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unsorted keys":   unsorted,
	} {
		if _, err := Decode(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decoded %v, err %v", name, data, err)
		}
	}
	if _, err := DecodeBatch([]byte{batchFormat, 1}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated batch decoded: %v", err)
	}
}

// TestDecodeNeverPanics feeds mutations of valid encodings to the decoders.
// Whatever they accept must re-encode to the same bytes.
func TestDecodeNeverPanics(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{EncodeBatch(sampleRecords())}
	for _, r := range sampleRecords() {
		seeds = append(seeds, Encode(r))
	}
	for i := 0; i < 200000; i++ {
		data := bytes.Clone(seeds[random.IntN(len(seeds))])
		for range 1 + random.IntN(4) {
			switch random.IntN(3) {
			case 0:
				data[random.IntN(len(data))] = byte(random.Uint32())
			case 1:
				data = data[:random.IntN(len(data))]
			case 2:
				data = append(data, byte(random.Uint32()))
			}
			if len(data) == 0 {
				break
			}
		}
		checkDecoders(t, data)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(EncodeBatch(sampleRecords()))
	for _, r := range sampleRecords() {
		f.Add(Encode(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoders(t, data) })
}

func checkDecoders(t *testing.T, data []byte) {
	if r, err := Decode(data); err == nil && !bytes.Equal(Encode(r), data) {
		t.Fatalf("accepted non-canonical record %v as %s", data, r)
	}
	if records, err := DecodeBatch(data); err == nil && !bytes.Equal(EncodeBatch(records), data) {
		t.Fatalf("accepted non-canonical batch %v", data)
	}
}

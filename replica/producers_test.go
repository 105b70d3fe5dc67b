package replica

import (
	"path"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
)

func idempotentProduce(topic string, id int64, epoch int16, sequence int32, values ...string) *kmsg.ProduceRequest {
	req := produceRequest(topic, 0, -1, values)
	records := make([]batch.Record, len(values))
	for i, v := range values {
		records[i] = batch.Record{Value: []byte(v)}
	}
	req.Topics[0].Partitions[0].Records = batch.Build(batch.BuildOptions{ProducerID: id, ProducerEpoch: epoch,
		BaseSequence: sequence, FirstTimestamp: 1000}, records)
	return req
}

func produced(t *testing.T, resp kmsg.Response) (int64, int16) {
	t.Helper()
	p := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	return p.BaseOffset, p.ErrorCode
}

func TestIdempotentProduce(t *testing.T) {
	h := newHarness(t)
	h.createTopic("t", 1, nil)
	init := h.request(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	for init.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
		init = h.request(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	}
	if init.ErrorCode != 0 || init.ProducerID < 0 || init.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId: %+v", init)
	}
	second := h.request(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if second.ProducerID == init.ProducerID {
		t.Fatalf("two producers got id %d", init.ProducerID)
	}
	id := init.ProducerID
	if off, code := produced(t, h.request(idempotentProduce("t", id, 0, 0, "a", "b"))); off != 0 || code != 0 {
		t.Fatalf("first batch: offset %d code %d", off, code)
	}
	if off, code := produced(t, h.request(idempotentProduce("t", id, 0, 2, "c"))); off != 2 || code != 0 {
		t.Fatalf("second batch: offset %d code %d", off, code)
	}
	expectDuplicate := func(when string) {
		t.Helper()
		if off, code := produced(t, h.request(idempotentProduce("t", id, 0, 0, "a", "b"))); off != 0 || code != 0 {
			t.Fatalf("%s: retry of the first batch: offset %d code %d", when, off, code)
		}
		if _, code := produced(t, h.request(idempotentProduce("t", id, 0, 4, "x"))); code != kerr.OutOfOrderSequenceNumber.Code {
			t.Fatalf("%s: a gap: code %d", when, code)
		}
		if end := h.node.partition("t", 0).core.EndOffset(); end != 3 {
			t.Fatalf("%s: log end %d, want 3: a retry was written", when, end)
		}
	}
	expectDuplicate("live")

	// A clean restart restores the snapshot; a crash rescans the log.
	if err := h.node.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	h.tick(0)
	if _, ok := readProducerSnapshotAt(h); !ok {
		t.Fatalf("no producer snapshot after a clean close")
	}
	expectDuplicate("after a clean restart")
	h.crash()
	h.tick(0)
	expectDuplicate("after a crash")

	// A snapshot that fails its checksum is ignored, not trusted.
	name := path.Join(h.node.partition("t", 0).dir, producerSnapshotName)
	if err := writeFileAtomic(h.mem, path.Dir(name), producerSnapshotName, []byte("garbage that is long enough")); err != nil {
		t.Fatal(err)
	}
	h.crash()
	h.tick(0)
	expectDuplicate("with a corrupt snapshot")

	// An epoch bump starts again at 0; the old epoch is then fenced.
	if _, code := produced(t, h.request(idempotentProduce("t", id, 1, 0, "d"))); code != 0 {
		t.Fatalf("bumped epoch: code %d", code)
	}
	if _, code := produced(t, h.request(idempotentProduce("t", id, 0, 3, "e"))); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale epoch: code %d", code)
	}
}

// TestProducerSnapshotPastTheLogEndIsRemoved: a snapshot written before a
// crash took the batches it describes must not survive until new batches
// fill those offsets, or it would answer retries as duplicates of records
// that are not there (found by simulator seed 5807: an acknowledged retry
// pointed at another producer's records).
func TestProducerSnapshotPastTheLogEndIsRemoved(t *testing.T) {
	h := newHarness(t)
	h.createTopic("t", 1, nil)
	if _, code := produced(t, h.request(produceRequest("t", 0, -1, []string{"a", "b", "c"}))); code != 0 {
		t.Fatalf("produce: code %d", code)
	}
	// A snapshot claiming producer 7's batch 0..4 at offsets 50..54.
	dir := h.node.partition("t", 0).dir
	ghost := []core.ProducerSnapshotEntry{{ProducerID: 7, LastSeen: h.now,
		Batches: []core.ProducerSnapshotBatch{{FirstSequence: 0, LastSequence: 4, FirstOffset: 50, LastOffset: 54}}}}
	if err := writeFileAtomic(h.mem, dir, producerSnapshotName, encodeProducerSnapshot(55, ghost)); err != nil {
		t.Fatal(err)
	}
	h.crash()
	h.tick(0)
	if _, ok := readProducerSnapshotAt(h); ok {
		t.Fatal("a snapshot past the log end survived recovery")
	}
	// Fill the offsets it claimed, restart, and retry producer 7's batch:
	// it is new, not a duplicate at offset 50.
	values := make([]string, 60)
	for i := range values {
		values[i] = "filler"
	}
	if _, code := produced(t, h.request(produceRequest("t", 0, -1, values))); code != 0 {
		t.Fatalf("filler produce: code %d", code)
	}
	h.crash()
	h.tick(0)
	if off, code := produced(t, h.request(idempotentProduce("t", 7, 0, 0, "v", "w", "x", "y", "z"))); code != 0 || off == 50 {
		t.Fatalf("producer 7's first batch: offset %d code %d, want a new append", off, code)
	}
}

func readProducerSnapshotAt(h *harness) (int, bool) {
	entries, _, ok := readProducerSnapshot(h.mem, h.node.partition("t", 0).dir)
	return len(entries), ok
}

func TestProducerSnapshotEncoding(t *testing.T) {
	p := core.NewProducers(0)
	p.Append(core.ProducerBatch{ProducerID: 5, ProducerEpoch: 2, FirstSequence: 10, Records: 3}, 40, 42, time.Unix(1_700_000_000, 0))
	p.Append(core.ProducerBatch{ProducerID: 9, ProducerEpoch: 0, FirstSequence: 0, Records: 1}, 43, 43, time.Unix(1_700_000_000, 0))
	b := encodeProducerSnapshot(44, p.Snapshot())
	entries, at, err := decodeProducerSnapshot(b)
	if err != nil || at != 44 || len(entries) != 2 || entries[0].ProducerID != 5 || entries[0].Batches[0].LastOffset != 42 {
		t.Fatalf("round trip: %v %d %+v", err, at, entries)
	}
	for i := range b {
		flipped := append([]byte(nil), b...)
		flipped[i] ^= 0x10
		if _, _, err := decodeProducerSnapshot(flipped); err == nil {
			t.Fatalf("a bit flipped at byte %d was accepted", i)
		}
	}
	if _, _, err := decodeProducerSnapshot(b[:len(b)-1]); err == nil {
		t.Fatal("a truncated snapshot was accepted")
	}
}

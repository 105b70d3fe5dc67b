package core

import (
	"cairn/core/errcode"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Unix(1_700_000_000, 0)

func batchOf(id int64, epoch int16, first, records int32) ProducerBatch {
	return ProducerBatch{ProducerID: id, ProducerEpoch: epoch, FirstSequence: first, Records: records}
}

func TestProducerRules(t *testing.T) {
	p := NewProducers(time.Minute)
	// An unknown producer may start anywhere (Kafka 2.5+).
	if c := p.Check(batchOf(7, 0, 40, 2)); c != (ProducerCheck{}) {
		t.Fatalf("unknown producer: %+v", c)
	}
	p.Append(batchOf(7, 0, 40, 2), 100, 101, t0)
	cases := []struct {
		name string
		b    ProducerBatch
		want ProducerCheck
	}{
		{"duplicate of the last batch", batchOf(7, 0, 40, 2), ProducerCheck{Duplicate: true, FirstOffset: 100, LastOffset: 101}},
		{"in sequence", batchOf(7, 0, 42, 1), ProducerCheck{}},
		{"gap", batchOf(7, 0, 43, 1), ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}},
		{"overlapping, not a duplicate", batchOf(7, 0, 41, 2), ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}},
		{"bump must start at 0", batchOf(7, 1, 42, 1), ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}},
		{"bump at 0", batchOf(7, 1, 0, 3), ProducerCheck{}},
		{"negative sequence", batchOf(7, 0, -1, 1), ProducerCheck{Code: errcode.InvalidRecord}},
		{"not idempotent", batchOf(-1, -1, -1, 1), ProducerCheck{}},
	}
	for _, c := range cases {
		if got := p.Check(c.b); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	p.Append(batchOf(7, 1, 0, 3), 102, 104, t0)
	if got := p.Check(batchOf(7, 0, 42, 1)); got.Code != errcode.InvalidProducerEpoch {
		t.Errorf("old epoch after a bump: %+v", got)
	}
	if got := p.Check(batchOf(7, 0, 40, 2)); got.Code != errcode.InvalidProducerEpoch {
		t.Errorf("duplicate from an old epoch: %+v", got)
	}
}

func TestProducerSequenceWraps(t *testing.T) {
	p := NewProducers(0)
	b := batchOf(1, 0, math.MaxInt32-1, 3) // MaxInt32-1, MaxInt32, 0
	if b.LastSequence() != 0 {
		t.Fatalf("last sequence %d", b.LastSequence())
	}
	p.Append(b, 0, 2, t0)
	if got := p.Check(batchOf(1, 0, 1, 1)); got != (ProducerCheck{}) {
		t.Errorf("after the wrap: %+v", got)
	}
	if got := p.Check(batchOf(1, 0, math.MaxInt32-1, 3)); !got.Duplicate {
		t.Errorf("duplicate across the wrap: %+v", got)
	}
	p2 := NewProducers(0)
	p2.Append(batchOf(1, 0, math.MaxInt32, 1), 0, 0, t0)
	if got := p2.Check(batchOf(1, 0, 0, 1)); got != (ProducerCheck{}) {
		t.Errorf("0 follows MaxInt32: %+v", got)
	}
}

func TestProducerExpiry(t *testing.T) {
	p := NewProducers(time.Minute)
	p.Append(batchOf(1, 0, 0, 1), 0, 0, t0)
	p.Append(batchOf(2, 0, 0, 1), 1, 1, t0.Add(30*time.Second))
	if n := p.Expire(t0.Add(59 * time.Second)); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := p.Expire(t0.Add(time.Minute)); n != 1 || p.Len() != 1 {
		t.Fatalf("expired %d, %d left", n, p.Len())
	}
	// A retry from the expired producer is accepted as from a new one.
	if got := p.Check(batchOf(1, 0, 0, 1)); got.Duplicate || got.Code != 0 {
		t.Fatalf("expired producer: %+v", got)
	}
}

// TestProducerWindowProperty drives one producer through appends and
// retries of any of its batches and checks Check against a model that
// remembers every batch: a retry of one of the last five is a duplicate
// with its offsets, an older one is out of order, the next is accepted.
// Snapshot and Restore keep every verdict.
func TestProducerWindowProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := NewProducers(0)
		type sent struct {
			b           ProducerBatch
			first, last int64
		}
		var log []sent
		next := rapid.Int32Range(0, math.MaxInt32).Draw(t, "start")
		offset := int64(0)
		for step := 0; step < 40; step++ {
			if len(log) > 0 && rapid.Bool().Draw(t, "retry") {
				k := rapid.IntRange(0, len(log)-1).Draw(t, "which")
				got := p.Check(log[k].b)
				recent := k >= len(log)-ProducerBatchesMax
				switch {
				case recent && (!got.Duplicate || got.FirstOffset != log[k].first || got.LastOffset != log[k].last):
					t.Fatalf("retry of batch %d of %d: %+v", k, len(log), got)
				case !recent && got.Code != errcode.OutOfOrderSequenceNumber:
					t.Fatalf("retry of old batch %d of %d: %+v", k, len(log), got)
				}
				continue
			}
			records := rapid.Int32Range(1, 5).Draw(t, "records")
			b := batchOf(3, 0, next, records)
			if got := p.Check(b); got != (ProducerCheck{}) {
				t.Fatalf("next batch refused: %+v", got)
			}
			last := offset + int64(records) - 1
			p.Append(b, offset, last, t0)
			log = append(log, sent{b, offset, last})
			offset = last + 1 + int64(rapid.IntRange(0, 3).Draw(t, "others"))
			next = sequenceAdd(b.LastSequence(), 1)
			if rapid.Bool().Draw(t, "snapshot") {
				q := NewProducers(0)
				q.Restore(p.Snapshot())
				p = q
			}
		}
	})
}

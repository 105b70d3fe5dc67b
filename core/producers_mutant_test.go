//go:build cairn_mutants

package core

import (
	"cairn/core/errcode"
	"testing"
	"time"

	"cairn/core/mutant"
)

// TestMutantDuplicateAsOutOfOrder: the mutant's site is in DecideProduce,
// so the core's own produce decision must show it: a retry of the last
// batch is no longer answered with its original offsets.
func TestMutantDuplicateAsOutOfOrder(t *testing.T) {
	defer mutant.Set(mutant.None)
	p := readLeader(t)
	producers := NewProducers(0)
	producers.Append(batchOf(9, 0, 0, 3), 0, 2, t0)
	retry := batchOf(9, 0, 0, 3)
	if got := p.DecideProduce(1, producers, retry); !got.Duplicate {
		t.Fatalf("without the mutant a retry is not a duplicate: %+v", got)
	}
	if err := mutant.Set(mutant.DuplicateAsOutOfOrder); err != nil {
		t.Fatal(err)
	}
	if got := p.DecideProduce(1, producers, retry); got.Duplicate || got.Code != errcode.OutOfOrderSequenceNumber {
		t.Fatalf("mutant %s: retry answered %+v, want OUT_OF_ORDER_SEQUENCE_NUMBER", mutant.DuplicateAsOutOfOrder, got)
	}
}

// TestMutantDuplicateCheckLastBatchOnly: a retry of an older one of the
// five remembered batches is a duplicate; with the mutant it is judged out
// of order.
func TestMutantDuplicateCheckLastBatchOnly(t *testing.T) {
	defer mutant.Set(mutant.None)
	producers := NewProducers(0)
	producers.Append(batchOf(9, 0, 0, 3), 0, 2, t0)
	producers.Append(batchOf(9, 0, 3, 2), 3, 4, t0)
	older := batchOf(9, 0, 0, 3)
	if got := producers.Check(older); !got.Duplicate || got.FirstOffset != 0 || got.LastOffset != 2 {
		t.Fatalf("without the mutant a retry of the older batch is %+v", got)
	}
	if err := mutant.Set(mutant.DuplicateCheckLastBatchOnly); err != nil {
		t.Fatal(err)
	}
	if got := producers.Check(older); got.Duplicate || got.Code != errcode.OutOfOrderSequenceNumber {
		t.Fatalf("mutant %s: retry of the older batch is %+v, want OUT_OF_ORDER_SEQUENCE_NUMBER", mutant.DuplicateCheckLastBatchOnly, got)
	}
}

// TestMutantProducerExpiryFromFirstAppend: a producer that appends every
// second is never idle for the ten seconds of its expiry; with the mutant
// it is forgotten ten seconds after its first append.
func TestMutantProducerExpiryFromFirstAppend(t *testing.T) {
	defer mutant.Set(mutant.None)
	run := func() int {
		producers := NewProducers(10 * time.Second)
		dropped := 0
		for i := int32(0); i < 30; i++ {
			now := t0.Add(time.Duration(i) * time.Second)
			producers.Append(batchOf(9, 0, i, 1), int64(i), int64(i), now)
			dropped += producers.Expire(now)
		}
		return dropped
	}
	if dropped := run(); dropped != 0 {
		t.Fatalf("without the mutant an active producer expired %d times", dropped)
	}
	if err := mutant.Set(mutant.ProducerExpiryFromFirstAppend); err != nil {
		t.Fatal(err)
	}
	if dropped := run(); dropped == 0 {
		t.Fatalf("mutant %s: the active producer never expired", mutant.ProducerExpiryFromFirstAppend)
	}
}

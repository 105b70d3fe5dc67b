//go:build cairn_mutants

package core

import (
	"testing"

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
	if got := p.DecideProduce(1, producers, retry); got.Duplicate || got.Code != ErrOutOfOrderSequence {
		t.Fatalf("mutant %s: retry answered %+v, want OUT_OF_ORDER_SEQUENCE_NUMBER", mutant.DuplicateAsOutOfOrder, got)
	}
}

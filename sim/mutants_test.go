//go:build cairn_mutants

package sim

import (
	"strings"
	"testing"

	"cairn/core/mutant"
)

// mutantSeedsMax is the sweep within which every mutant must be caught.
const mutantSeedsMax = 1000

// simulatedMutants are the mutants the simulator must catch, and whether
// its end-of-run checks (final read, Porcupine, consumer checks, log
// matching) must catch each one without the per-event predicates too.
var simulatedMutants = []struct {
	id          mutant.ID
	historyOnly bool
}{
	{mutant.AckBeforeFsync, true},
	{mutant.HighWatermarkPastDurable, true},
	{mutant.KeepTornTail, true},
	{mutant.ServeCorruptBatch, true},
	{mutant.TruncateToHighWatermark, false},
	{mutant.ElectOutsideISR, true},
	{mutant.DuplicateAsOutOfOrder, true},
	{mutant.ForgetProducersOnLeaderChange, true},
	// Both need the failure budget's lossy faults: a lost disk, or a
	// crash in the replication mode.
	{mutant.AcksAllBelowMinISR, true},
	{mutant.LastReplicaStanding, true},
	// Serving a fetch that names a stale leader epoch finds nothing wrong
	// to serve in this design; the fence check (fence.go) sees the rule
	// itself broken.
	{mutant.UnfencedFetch, false},
	// Ignoring the epoch of an OffsetForLeaderEpoch answer (KIP-279) needs
	// a follower holding acks=1 records of an epoch its new leader never
	// had: the cut-leader and crash-successor faults with a workload heavy
	// in acks=1. The follower's own check of batch epochs then refuses the
	// leader's older batches, so the run fails its liveness bound.
	{mutant.IgnoreResponseEpoch, true},
	// A duplicate check that sees only the producer's last batch needs a
	// retry of an older one: producers with several batches in flight.
	{mutant.DuplicateCheckLastBatchOnly, true},
	// Expiry from the first append needs producer.id.expiration.ms within
	// the run (drawTimers) and a retry of a written batch after it.
	{mutant.ProducerExpiryFromFirstAppend, true},
}

// TestMutants re-introduces each known bug and sweeps seeds until the
// simulator catches it. A mutant that survives means the simulator needs a
// better workload or fault — never a weaker mutant. make mutants runs this
// and prints seeds-to-detection per mutant.
func TestMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, m := range simulatedMutants {
		id := m.id
		if err := mutant.Set(id); err != nil {
			t.Fatal(err)
		}
		detected := false
		for seed := uint64(1); seed <= mutantSeedsMax; seed++ {
			r := Run(Scenario(seed), nil)
			if r.Failed() {
				t.Logf("mutant %-22s detected at seed %d (seeds-to-detection %d): %s", id, seed, seed, truncate(r.Violations[0].String(), 160))
				detected = true
				break
			}
		}
		if !detected {
			t.Errorf("mutant %s survived %d seeds", id, mutantSeedsMax)
		}
		if !m.historyOnly {
			continue
		}
		// The same mutant must be caught by the end-of-run checks alone.
		detected = false
		for seed := uint64(1); seed <= mutantSeedsMax; seed++ {
			options := Scenario(seed)
			options.SpecChecksOff = true
			if r := Run(options, nil); r.Failed() {
				t.Logf("mutant %-22s detected by history checks alone at seed %d: %s", id, seed, truncate(r.Violations[0].String(), 160))
				detected = true
				break
			}
		}
		if !detected {
			t.Errorf("mutant %s survived %d seeds without the per-event predicates", id, mutantSeedsMax)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TestMutantLivenessReportNamesTheStuckPartition: a run that does not
// finish says what holds it back. With KIP-279's epoch ignored, seed 831's
// follower keeps divergent records and refuses its leader's batches, so
// the ISR stays below min.insync.replicas and a producer hears
// NOT_ENOUGH_REPLICAS: the report must name the partition and what each
// replica of it says, not only that a producer has records left.
func TestMutantLivenessReportNamesTheStuckPartition(t *testing.T) {
	defer mutant.Set(mutant.None)
	if err := mutant.Set(mutant.IgnoreResponseEpoch); err != nil {
		t.Fatal(err)
	}
	r := Run(Scenario(831), nil)
	if !r.Failed() {
		t.Fatal("seed 831 with ignore-response-epoch passed; the test needs another seed")
	}
	v := r.Violations[0]
	if v.Kind != "liveness" {
		t.Fatalf("seed 831: %v, want a liveness failure", v)
	}
	for _, want := range []string{"NOT_ENOUGH_REPLICAS for t0-", "leader (leader ", "follower (leader ", "isr ["} {
		if !strings.Contains(v.Detail, want) {
			t.Errorf("liveness report %q does not say %q", v.Detail, want)
		}
	}
}

// TestMutantDuplicateCheckNeedsPipelining: a duplicate check that sees
// only the last batch is invisible to producers with one batch in flight
// per partition, and caught once they pipeline.
func TestMutantDuplicateCheckNeedsPipelining(t *testing.T) {
	defer mutant.Set(mutant.None)
	if err := mutant.Set(mutant.DuplicateCheckLastBatchOnly); err != nil {
		t.Fatal(err)
	}
	const caught = 37 // the first seed that catches it, with its drawn max.in.flight
	options := Scenario(caught)
	if options.ProducerInFlightMax < 2 {
		t.Fatalf("seed %d draws max.in.flight %d", caught, options.ProducerInFlightMax)
	}
	if r := Run(options, nil); !r.Failed() {
		t.Fatalf("seed %d passed with the mutant", caught)
	}
	for seed := uint64(1); seed <= 100; seed++ {
		options := Scenario(seed)
		options.ProducerInFlightMax = 1
		if r := Run(options, nil); r.Failed() {
			t.Fatalf("seed=%d with max.in.flight 1: %v", seed, r.Violations[0])
		}
	}
}

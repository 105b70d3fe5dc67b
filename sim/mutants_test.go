//go:build cairn_mutants

package sim

import (
	"testing"

	"cairn/core/mutant"
)

// mutantSeedsMax is the sweep within which every mutant must be caught.
const mutantSeedsMax = 500

// simulatedMutants are the mutants the simulator must catch. The last
// replica standing (KIP-966) needs the replication durability mode with a
// bound on concurrent crashes, which the simulator does not run yet.
var simulatedMutants = []mutant.ID{
	mutant.AckBeforeFsync, mutant.HighWatermarkPastDurable, mutant.KeepTornTail, mutant.ServeCorruptBatch,
	mutant.TruncateToHighWatermark, mutant.IgnoreResponseEpoch, mutant.UnfencedFetch,
	mutant.AcksAllBelowMinISR, mutant.ElectOutsideISR,
}

// TestMutants re-introduces each known bug and sweeps seeds until the
// simulator catches it. A mutant that survives means the simulator needs a
// better workload or fault — never a weaker mutant. make mutants runs this
// and prints seeds-to-detection per mutant.
func TestMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range simulatedMutants {
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
		// The same mutant must be caught by the history checks alone:
		// the final read, Porcupine and the consumer checks.
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

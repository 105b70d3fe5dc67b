//go:build cairn_mutants

package sim

import (
	"testing"

	"cairn/core/mutant"
)

// mutantSeedsMax is the sweep within which every mutant must be caught.
const mutantSeedsMax = 500

// singleBrokerMutants are the mutants a one-broker cluster can show; the
// replication mutants join when the simulator runs several brokers.
var singleBrokerMutants = []mutant.ID{
	mutant.AckBeforeFsync, mutant.HighWatermarkPastDurable, mutant.KeepTornTail, mutant.ServeCorruptBatch,
}

// TestMutants re-introduces each known bug and sweeps seeds until the
// simulator catches it. A mutant that survives means the simulator needs a
// better workload or fault — never a weaker mutant. make mutants runs this
// and prints seeds-to-detection per mutant.
func TestMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range singleBrokerMutants {
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

//go:build cairn_mutants

package sim

import (
	"testing"

	"cairn/core/mutant"
)

// groupMutantSeedsMax is the sweep within which the group workload must
// catch each group mutant.
const groupMutantSeedsMax = 300

// TestGroupMutants re-introduces each consumer group bug and sweeps seeds
// of the group workload (RunGroups) until its checks catch it.
func TestGroupMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range []mutant.ID{mutant.CommitFromStaleGeneration, mutant.StableBeforeAllSynced} {
		if err := mutant.Set(id); err != nil {
			t.Fatal(err)
		}
		detected := false
		for seed := uint64(1); seed <= groupMutantSeedsMax; seed++ {
			if r := RunGroups(Scenario(seed), 3, nil); r.Failed() {
				t.Logf("mutant %-28s detected at seed %d: %s", id, seed, truncate(r.Violations[0].String(), 200))
				detected = true
				break
			}
		}
		if !detected {
			t.Errorf("mutant %s survived %d seeds of the group workload", id, groupMutantSeedsMax)
		}
	}
}

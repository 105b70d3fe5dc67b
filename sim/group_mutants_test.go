//go:build cairn_mutants

package sim

import (
	"testing"

	"cairn/core/mutant"
)

// groupMutantSeedsMax is the sweep within which the group workload must
// catch each group mutant.
const groupMutantSeedsMax = 300

// groupMutants are the consumer group bugs the group workload must catch.
// The first two the coordinator's own checks of generations and
// ownership catch; offset-fetch-past-commit breaks no rule the coordinator
// could see, and only the members' real consumption shows it: the record
// at the committed offset, which nobody processed, is skipped.
// commit-fetched-position is a client's bug (the simulated members'), which
// the check that a commit never passes what was processed catches.
var groupMutants = []mutant.ID{mutant.CommitFromStaleGeneration, mutant.StableBeforeAllSynced, mutant.OffsetFetchPastCommit,
	mutant.CommitFetchedPosition}

// TestGroupMutants re-introduces each consumer group bug and sweeps seeds
// of the group workload (RunGroups) until its checks catch it.
func TestGroupMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range groupMutants {
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
		if id != mutant.OffsetFetchPastCommit {
			continue
		}
		// The end-of-run check that the members' processing covers
		// every committed offset must catch it on its own (it does
		// commit-fetched-position too, from seed 49: longer than this
		// test's share of make test allows).
		detected = false
		for seed := uint64(1); seed <= groupMutantSeedsMax; seed++ {
			options := Scenario(seed)
			options.SpecChecksOff = true
			if r := RunGroups(options, 3, nil); r.Failed() {
				t.Logf("mutant %-28s detected by end-of-run checks alone at seed %d: %s", id, seed, truncate(r.Violations[0].String(), 200))
				detected = true
				break
			}
		}
		if !detected {
			t.Errorf("mutant %s survived %d seeds of the group workload without the checks as it consumes", id, groupMutantSeedsMax)
		}
	}
}

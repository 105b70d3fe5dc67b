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
// of the group workload (RunGroups) until its checks catch it, with every
// check on and then with the history checks alone (Options.SpecChecksOff,
// which also switches off the checks of each member's consumption as it
// happens; the checks of the coordinator's answers, ownership per
// generation and stale commits, stay on, as the fence check does).
func TestGroupMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range groupMutants {
		if err := mutant.Set(id); err != nil {
			t.Fatal(err)
		}
		all, v := firstCaught(groupMutantSeedsMax, func(seed uint64) Result { return RunGroups(Scenario(seed), 3, nil) })
		history, hv := firstCaught(historySeedsMax, func(seed uint64) Result {
			options := Scenario(seed)
			options.SpecChecksOff = true
			return RunGroups(options, 3, nil)
		})
		t.Logf("mutant %-34s all checks: %-16s history checks only: %s (--group 3)", id, caughtAt(all, groupMutantSeedsMax), caughtAt(history, historySeedsMax))
		if all != 0 {
			t.Logf("    seed=%d: %s", all, truncate(v.String(), 200))
		}
		if history != 0 && history != all {
			t.Logf("    seed=%d (history only): %s", history, truncate(hv.String(), 200))
		}
		if all == 0 {
			t.Errorf("mutant %s survived %d seeds of the group workload", id, groupMutantSeedsMax)
		}
		if history == 0 {
			t.Errorf("mutant %s survived %d seeds of the group workload without the checks as it consumes", id, historySeedsMax)
		}
	}
}

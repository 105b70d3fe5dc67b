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
		sweepBothWays(t, id, groupMutantSeedsMax, " (--group 3)", func(o Options) Result { return RunGroups(o, 3, nil) })
	}
}

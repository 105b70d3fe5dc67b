//go:build cairn_mutants

package sim

import (
	"strings"
	"testing"

	"cairn/core/mutant"
)

// consumerGroupMutantSeedsMax is the sweep within which the consumer
// group workload must catch each mutant.
const consumerGroupMutantSeedsMax = 300

// TestConsumerGroupMutants re-introduces the KIP-848 coordinator's bugs
// and sweeps seeds of the consumer group workload (RunConsumerGroups)
// until its checks catch each. assign-before-revoke hands a member its
// whole target before the previous owners revoked: the previous owner's
// next heartbeat is answered as a member's (the ownership check), or its
// commit of a partition it was about to revoke is accepted although
// another member already owns it (the stale-commit check); with the
// stale-commit check off, the ownership check must catch it on its own.
// commit-from-stale-generation accepts an
// OffsetCommit with a stale member epoch: a zombie commit of partitions
// revoked or lost is accepted, moving the offset back or committing a
// partition another member owns. stale-commit-owned-now accepts a commit
// with an older epoch for a partition the member owns now but lost and
// got back since that epoch: the delayed commit from before it revoked the
// partition moves the offset back.
func TestConsumerGroupMutants(t *testing.T) {
	defer mutant.Set(mutant.None)
	defer func() { consumerStaleCommitCheckOff = false }()
	cases := []struct {
		id             mutant.ID
		staleCheckOff  bool
		wantKindPrefix string
	}{
		{mutant.AssignBeforeRevoke, false, "consumer-group-"},
		{mutant.AssignBeforeRevoke, true, "consumer-group-ownership"},
		{mutant.CommitFromStaleGeneration, false, "consumer-group-"},
		{mutant.StaleCommitOwnedNow, false, "consumer-group-"},
	}
	for _, c := range cases {
		if err := mutant.Set(c.id); err != nil {
			t.Fatal(err)
		}
		consumerStaleCommitCheckOff = c.staleCheckOff
		detected := false
		for seed := uint64(1); seed <= consumerGroupMutantSeedsMax; seed++ {
			r := RunConsumerGroups(Scenario(seed), 3, nil)
			if !r.Failed() {
				continue
			}
			v := r.Violations[0]
			if !strings.HasPrefix(v.Kind, c.wantKindPrefix) {
				t.Errorf("mutant %s (stale-commit check off: %v): seed=%d broke %s, not a %s check: %s", c.id, c.staleCheckOff, seed, v.Kind, c.wantKindPrefix, v)
			}
			t.Logf("    %s (stale-commit check off: %-5v) detected at seed %d: %s", c.id, c.staleCheckOff, seed, truncate(v.String(), 200))
			detected = true
			break
		}
		if !detected {
			t.Errorf("mutant %s survived %d seeds of the consumer group workload (stale-commit check off: %v)", c.id, consumerGroupMutantSeedsMax, c.staleCheckOff)
		}
		if c.staleCheckOff {
			continue
		}
		// The history checks alone: Options.SpecChecksOff switches off
		// the per-event predicates and the checks of the members'
		// consumption as it happens; the checks of the coordinator's
		// answers (ownership, stale commits, epochs) stay on.
		sweepBothWays(t, c.id, consumerGroupMutantSeedsMax, " (--group 3 --group-protocol consumer)",
			func(o Options) Result { return RunConsumerGroups(o, 3, nil) })
	}
}

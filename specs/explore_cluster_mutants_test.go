//go:build cairn_mutants

package specs

import (
	"testing"

	"cairn/core/mutant"
)

// replicationMutants are the replication mutants of make mutants: each must
// be found by the replication explorer in one of its configurations, not
// only by simulator sweeps.
var replicationMutants = []mutant.ID{
	mutant.AckBeforeFsync, mutant.HighWatermarkPastDurable,
	mutant.TruncateToHighWatermark, mutant.IgnoreResponseEpoch, mutant.UnfencedFetch,
	mutant.AcksAllBelowMinISR, mutant.ElectOutsideISR, mutant.LastReplicaStanding,
}

func TestMutantsReplicationExplorer(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range replicationMutants {
		if err := mutant.Set(id); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range replicationExplorations {
			if _, err := ExploreReplication(e.config); err != nil {
				t.Logf("mutant %s found by the replication explorer (%s): %v", id, e.name, err)
				found = true
				break
			}
		}
		if !found {
			t.Errorf("mutant %s survived the replication explorer", id)
		}
	}
}

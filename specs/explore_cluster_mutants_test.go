//go:build cairn_mutants

package specs

import (
	"errors"
	"testing"

	"cairn/core/mutant"
)

// replicationMutants are the replication mutants of make mutants whose
// site is in core.Partition or core/controller: each must be found by the
// replication explorer in one of its configurations, not only by simulator
// sweeps. (The storage, producer-state and group mutants live outside the
// harness's reach: replica/storage, replica/producers.go, core/group.)
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
		if !exploreFindsMutant(t, id) {
			t.Errorf("mutant %s survived the replication explorer", id)
		}
	}
}

// exploreFindsMutant runs the configurations until one breaks a predicate,
// and checks that the violation replays.
func exploreFindsMutant(t *testing.T, id mutant.ID) bool {
	for _, e := range replicationExplorations {
		_, err := ExploreReplication(e.config)
		if err == nil {
			continue
		}
		var v *ClusterViolation
		if !errors.As(err, &v) {
			t.Errorf("mutant %s (%s): %v", id, e.name, err)
			return true
		}
		if replayed := v.Replay(); replayed == nil || replayed.Error() != v.Err.Error() {
			t.Errorf("mutant %s (%s): explorer found %v, replay gives %v", id, e.name, v, replayed)
		}
		t.Logf("mutant %s found by the replication explorer (%s) in %d events: %v", id, e.name, len(v.Events), v)
		return true
	}
	return false
}

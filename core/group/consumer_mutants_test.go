//go:build cairn_mutants

package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"cairn/core/mutant"
)

// TestConsumerStaleCommitMutant: commit-from-stale-generation also lifts
// the fencing of OffsetCommit v9 by member epoch. A owns every partition
// of t, C joins and A revokes half of them; a commit of a revoked
// partition with A's old epoch must be STALE_MEMBER_EPOCH, and the mutant
// accepts it. (The simulator's consumer group workload catches the same
// mutant: TestConsumerGroupMutants in sim.)
func TestConsumerStaleCommitMutant(t *testing.T) {
	defer mutant.Set(mutant.None)
	story := func() (int16, bool) {
		m := newConsumerModel()
		m.heartbeat("A", true)
		m.appends(true)
		a := m.clients["A"]
		oldEpoch, before := a.epoch, append(partitionSet(nil), a.owned...)
		m.heartbeat("C", true)
		m.appends(true)
		for i := 0; i < 3; i++ {
			m.heartbeat("A", false)
			m.appends(true)
			m.heartbeat("C", false)
			m.appends(true)
		}
		var revoked *topicPartitionID
		for i := range before {
			if !containsPartition(a.owned, before[i]) {
				revoked = &before[i]
				break
			}
		}
		if revoked == nil || a.epoch == oldEpoch {
			return 0, false
		}
		return commitAnswer(t, m, a.id, oldEpoch, *revoked), true
	}
	code, ok := story()
	if !ok {
		t.Fatal("the story did not make A revoke a partition and move to a new epoch")
	}
	if code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("a commit of a revoked partition with A's old epoch: %s, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	if err := mutant.Set(mutant.CommitFromStaleGeneration); err != nil {
		t.Fatal(err)
	}
	if code, _ := story(); code != 0 {
		t.Fatalf("with mutant %s the stale commit was refused (%s): the mutant does not reach OffsetCommit v9", mutant.CommitFromStaleGeneration, kerr.ErrorForCode(code))
	}
}

// TestConsumerCommitOwnedNowMutant: KIP-1251 accepts a commit with an
// older member epoch for partitions the member owned since that epoch. A
// owns every partition of t, C joins and A revokes half of them, C leaves
// and A gets them back at a newer epoch; a commit of one of them with the
// epoch A had before revoking it must be STALE_MEMBER_EPOCH (A owns it
// now, but not since then). Mutant stale-commit-owned-now accepts it.
func TestConsumerCommitOwnedNowMutant(t *testing.T) {
	defer mutant.Set(mutant.None)
	story := func() (int16, bool) {
		m := newConsumerModel()
		m.heartbeat("A", true)
		m.appends(true)
		a := m.clients["A"]
		oldEpoch, before := a.epoch, append(partitionSet(nil), a.owned...)
		rounds := func() {
			for i := 0; i < 3; i++ {
				m.heartbeat("A", false)
				m.appends(true)
				if c := m.clients["C"]; c.id != "" && !c.left {
					m.heartbeat("C", false)
					m.appends(true)
				}
			}
		}
		m.heartbeat("C", true)
		m.appends(true)
		rounds()
		var revoked *topicPartitionID
		for i := range before {
			if !containsPartition(a.owned, before[i]) {
				revoked = &before[i]
				break
			}
		}
		if revoked == nil {
			return 0, false
		}
		m.leave("C")
		m.appends(true)
		rounds()
		if !containsPartition(a.owned, *revoked) || a.epoch <= oldEpoch {
			return 0, false
		}
		return commitAnswer(t, m, a.id, oldEpoch, *revoked), true
	}
	code, ok := story()
	if !ok {
		t.Fatal("the story did not make A revoke a partition and get it back at a newer epoch")
	}
	if code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("a commit with the epoch from before A revoked the partition: %s, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	if err := mutant.Set(mutant.StaleCommitOwnedNow); err != nil {
		t.Fatal(err)
	}
	if code, _ := story(); code != 0 {
		t.Fatalf("with mutant %s the commit was refused (%s)", mutant.StaleCommitOwnedNow, kerr.ErrorForCode(code))
	}
}

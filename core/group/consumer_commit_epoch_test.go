package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerCommitAfterRevokeAndRegain: a member asked to revoke a
// partition that, by the time it reports the revocation done, the target
// gives back to it, gets the partition again at its new epoch, not at the
// epoch it first had it: a commit of the partition with the epoch from
// before the revocation (a client's commit delayed from then) is
// STALE_MEMBER_EPOCH (KIP-1251 accepts an older epoch only for
// partitions owned since it). The simulator's consumer group workload
// found this (seed 3541 of cairn sim --group 3 --group-protocol
// consumer): the released and regained partition kept its first epoch,
// and the delayed commit moved the group's offset back.
func TestConsumerCommitAfterRevokeAndRegain(t *testing.T) {
	m := newConsumerModel()
	m.heartbeat("A", true)
	m.appends(true)
	a := m.clients["A"]
	before := append(partitionSet(nil), a.owned...)
	m.heartbeat("C", true)
	m.appends(true)
	m.heartbeat("A", false)
	m.appends(true)
	revokeEpoch := a.epoch
	var revoked *topicPartitionID
	for i := range before {
		if !containsPartition(a.owned, before[i]) {
			revoked = &before[i]
			break
		}
	}
	if revoked == nil {
		t.Fatalf("A was not asked to revoke anything: owns %v, had %v", a.owned, before)
	}
	// C leaves before A reports the revocation done: the target gives
	// A everything again.
	m.leave("C")
	m.appends(true)
	m.heartbeat("A", false)
	m.appends(true)
	if !containsPartition(a.owned, *revoked) || a.epoch <= revokeEpoch {
		t.Fatalf("A did not get %v back at a newer epoch: owns %v at epoch %d (revoked at %d)", *revoked, a.owned, a.epoch, revokeEpoch)
	}
	if code := commitAnswer(t, m, a.id, revokeEpoch, *revoked); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("a commit of %v with epoch %d, from before A released it and got it back at %d: %v, want STALE_MEMBER_EPOCH",
			*revoked, revokeEpoch, a.epoch, kerr.ErrorForCode(code))
	}
	// A commit of it with the current epoch is A's.
	if code := commitAnswer(t, m, a.id, a.epoch, *revoked); code != 0 {
		t.Fatalf("a commit with A's current epoch: %v", kerr.ErrorForCode(code))
	}
}

// commitAnswer sends an OffsetCommit v9 of one partition and returns the
// partition's error code once the coordinator answers.
func commitAnswer(t *testing.T, m *consumerModel, memberID string, epoch int32, p topicPartitionID) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(9)
	req.Group, req.MemberID, req.Generation = "g", memberID, epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = m.c.topicIDs[p.topic]
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = p.partition, 7
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	const token = Token(1 << 40)
	m.c.OffsetCommit(m.now, token, req, func(string, int32) bool { return true })
	for round := 0; round < 10; round++ {
		for m.c.HasReady() {
			rd := m.c.Ready()
			m.c.Advance()
			for _, ap := range rd.Appends {
				m.c.AppendDone(m.now, ap.ID, 0)
			}
			for _, r := range rd.Responses {
				if r.Token == token {
					return r.Body.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
				}
			}
		}
	}
	t.Fatal("the commit was never answered")
	return 0
}

func containsPartition(set partitionSet, p topicPartitionID) bool {
	for _, q := range set {
		if q == p {
			return true
		}
	}
	return false
}

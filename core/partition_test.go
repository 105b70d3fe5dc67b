package core

import (
	"cairn/core/errcode"
	"testing"
	"time"
)

// TestHighWatermarkStandsStillBelowMinInsync shows the rule the controller's
// eligible leader replicas rest on (KIP-966): while the ISR is smaller than
// min.insync.replicas the leader commits nothing, so the members that left
// the ISR still hold every committed record. acks=1 records are appended and
// acknowledged, but become readable only once the ISR is whole again.
func TestHighWatermarkStandsStillBelowMinInsync(t *testing.T) {
	now := time.Unix(0, 0)
	p := NewPartition(PartitionConfig{Topic: "t", ReplicaID: 1, Durability: ReplicationAcks,
		MinInsyncReplicas: 2, ReplicaLagMax: time.Second}, LogState{}, nil)
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})

	appendOne := func(token Token, acks Acks) {
		t.Helper()
		base, _, code := p.CheckProduce(acks)
		if code != errcode.None {
			t.Fatalf("produce acks=%d refused: %v", acks, code)
		}
		p.Appended(token, acks, base, base)
	}
	appendOne(1, -1)
	if code := p.FetchFromFollower(now, 2, 1, 1); code != errcode.None {
		t.Fatalf("follower fetch: %v", code)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d with the whole ISR at 1, want 1", hw)
	}

	// The ISR shrinks to the leader alone.
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1}})
	if _, _, code := p.CheckProduce(-1); code != errcode.NotEnoughReplicas {
		t.Fatalf("acks=all below min.insync.replicas: got %v, want NOT_ENOUGH_REPLICAS", code)
	}
	p.Advance()
	appendOne(2, 1)
	if acks := p.Ready().Acks; len(acks) != 1 || acks[0].Token != 2 || acks[0].Error != errcode.None {
		t.Fatalf("acks=1 below min.insync.replicas: got %+v, want one plain acknowledgment", acks)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark moved to %d with the ISR below min.insync.replicas, want 1", hw)
	}

	// The follower catches up and rejoins: the high watermark moves on.
	if code := p.FetchFromFollower(now, 2, 2, 1); code != errcode.None {
		t.Fatalf("follower fetch: %v", code)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark moved to %d before the ISR grew back, want 1", hw)
	}
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d once the ISR is whole again, want 2", hw)
	}
}

// TestFollowerDropsEmptyEpochsAtItsEnd: a replica that led an epoch without
// writing anything, and then follows a leader that never had that epoch,
// must forget it even though no record is cut (found by simulator seed 1193:
// the stale epoch made the leader's older batches look impossible, and the
// follower never caught up).
func TestFollowerDropsEmptyEpochsAtItsEnd(t *testing.T) {
	now := time.Unix(0, 0)
	p := NewPartition(PartitionConfig{Topic: "t", ReplicaID: 2, Durability: ReplicationAcks,
		MinInsyncReplicas: 1, ReplicaLagMax: time.Second}, LogState{}, nil)
	replicas := []int32{1, 2}
	p.SetLeadership(now, Leadership{Leader: 2, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: replicas, ISR: replicas})
	base, _, code := p.CheckProduce(1)
	if code != errcode.None {
		t.Fatalf("produce refused: %v", code)
	}
	p.Appended(1, 1, base, base)
	// A leadership that writes nothing: epoch 1 begins at the log end.
	p.SetLeadership(now, Leadership{Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: replicas, ISR: []int32{2}})
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: replicas, ISR: []int32{1}})
	query, ok := p.NextEpochQuery()
	if !ok || query.Epoch != 1 {
		t.Fatalf("epoch query %+v, %t: want one about epoch 1", query, ok)
	}
	// The new leader never had epoch 1; its epoch 0 runs to offset 3.
	p.EpochQueryAnswered(query.Seq, 0, 3, errcode.None)
	if end := p.EndOffset(); end != 1 {
		t.Fatalf("log end %d after the answer, want 1 (nothing to cut)", end)
	}
	if epochs := p.Epochs(); len(epochs) != 1 || epochs[0].Epoch != 0 {
		t.Fatalf("epochs %+v after following a leader without epoch 1, want only epoch 0", epochs)
	}
	if _, ok := p.NextFetch(); !ok {
		t.Fatal("no fetch after the truncation point was settled")
	}
}

package core

import (
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
		if code != ErrNone {
			t.Fatalf("produce acks=%d refused: %v", acks, code)
		}
		p.Appended(token, acks, base, base)
	}
	appendOne(1, -1)
	if code := p.FetchFromFollower(now, 2, 1, 1); code != ErrNone {
		t.Fatalf("follower fetch: %v", code)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d with the whole ISR at 1, want 1", hw)
	}

	// The ISR shrinks to the leader alone.
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1}})
	if _, _, code := p.CheckProduce(-1); code != ErrNotEnoughReplicas {
		t.Fatalf("acks=all below min.insync.replicas: got %v, want NOT_ENOUGH_REPLICAS", code)
	}
	p.Advance()
	appendOne(2, 1)
	if acks := p.Ready().Acks; len(acks) != 1 || acks[0].Token != 2 || acks[0].Error != ErrNone {
		t.Fatalf("acks=1 below min.insync.replicas: got %+v, want one plain acknowledgment", acks)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark moved to %d with the ISR below min.insync.replicas, want 1", hw)
	}

	// The follower catches up and rejoins: the high watermark moves on.
	if code := p.FetchFromFollower(now, 2, 2, 1); code != ErrNone {
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

package core

import (
	"cairn/core/errcode"
	"testing"
	"time"
)

// followerAt returns a follower of leader 2 in epoch 3 whose log holds
// [0, 5), all written in epoch 1, past its truncation round.
func followerAt(t *testing.T) *Partition {
	t.Helper()
	p := NewPartition(PartitionConfig{Topic: "t", ReplicaID: 1, Durability: ReplicationAcks, MinInsyncReplicas: 1},
		LogState{EndOffset: 5, DurableOffset: 5}, []EpochEntry{{Epoch: 1, StartOffset: 0}})
	p.SetLeadership(time.Unix(0, 0), Leadership{Leader: 2, LeaderEpoch: 3, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	q, ok := p.NextEpochQuery()
	if !ok {
		t.Fatal("a new follower sends no epoch query")
	}
	p.EpochQueryAnswered(q.Seq, 1, 5, errcode.None)
	if p.EndOffset() != 5 || !p.CheckReplicate(5) {
		t.Fatalf("setup: end %d, may replicate at 5: %v", p.EndOffset(), p.CheckReplicate(5))
	}
	return p
}

func TestAcceptFetched(t *testing.T) {
	p := followerAt(t)
	for _, c := range []struct {
		name   string
		batch  FetchedBatch
		action ReplicateAction
		code   errcode.Code
		reason bool
	}{
		{"bad CRC, whatever the header says", FetchedBatch{BaseOffset: 5, LastOffset: 5, LeaderEpoch: 3}, ReplicateStop, errcode.None, true},
		{"held already", FetchedBatch{BaseOffset: 2, LastOffset: 4, LeaderEpoch: 1, CRCValid: true}, ReplicateSkip, errcode.None, false},
		{"epoch older than the log's", FetchedBatch{BaseOffset: 5, LastOffset: 6, LeaderEpoch: 0, CRCValid: true}, ReplicateReject, errcode.KafkaStorageError, true},
		{"epoch newer than the leader's", FetchedBatch{BaseOffset: 5, LastOffset: 6, LeaderEpoch: 4, CRCValid: true}, ReplicateReject, errcode.KafkaStorageError, true},
		{"a gap", FetchedBatch{BaseOffset: 6, LastOffset: 7, LeaderEpoch: 3, CRCValid: true}, ReplicateReject, errcode.OffsetOutOfRange, false},
		{"overlapping the log end", FetchedBatch{BaseOffset: 3, LastOffset: 7, LeaderEpoch: 3, CRCValid: true}, ReplicateReject, errcode.OffsetOutOfRange, false},
		{"the next batch, older epoch", FetchedBatch{BaseOffset: 5, LastOffset: 6, LeaderEpoch: 1, CRCValid: true}, ReplicateAppend, errcode.None, false},
		{"the next batch", FetchedBatch{BaseOffset: 5, LastOffset: 6, LeaderEpoch: 3, CRCValid: true}, ReplicateAppend, errcode.None, false},
	} {
		d := p.AcceptFetched(c.batch)
		if d.Action != c.action || d.Code != c.code || (d.Reason != "") != c.reason {
			t.Errorf("%s: %s code %d reason %q; want %s code %d (reason: %v)", c.name, d.Action, d.Code, d.Reason, c.action, c.code, c.reason)
		}
	}
	p.Replicated(5, 6, 3)
	if d := p.AcceptFetched(FetchedBatch{BaseOffset: 7, LastOffset: 7, LeaderEpoch: 1, CRCValid: true}); d.Action != ReplicateReject || d.Code != errcode.KafkaStorageError {
		t.Errorf("epoch 1 after epoch 3 is in the log: %+v, want a KAFKA_STORAGE_ERROR rejection", d)
	}
}

// TestAcceptFetchedTruncatesFirst: a follower whose leader changed must
// find its divergence before it appends anything, even at its log end.
func TestAcceptFetchedTruncatesFirst(t *testing.T) {
	p := followerAt(t)
	p.SetLeadership(time.Unix(0, 0), Leadership{Leader: 3, LeaderEpoch: 4, PartitionEpoch: 2, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}})
	d := p.AcceptFetched(FetchedBatch{BaseOffset: 5, LastOffset: 5, LeaderEpoch: 4, CRCValid: true})
	if d.Action != ReplicateReject || d.Code != errcode.OffsetOutOfRange {
		t.Fatalf("batch at the log end while truncating: %+v, want an OFFSET_OUT_OF_RANGE rejection", d)
	}
}

// TestEpochQueryLoopsUntilEpochsMatch: a follower that does not hold the
// epoch the leader answered with truncates to where its own older epoch
// ends and asks again about that epoch, until the leader names one both
// hold (KIP-279). Its log [0, 4) holds epoch 0 in [0, 3) and epoch 2 at 3;
// the leader holds epoch 0 in [0, 1) and epoch 1 in [1, 2).
func TestEpochQueryLoopsUntilEpochsMatch(t *testing.T) {
	p := NewPartition(PartitionConfig{Topic: "t", ReplicaID: 2, Durability: ReplicationAcks, MinInsyncReplicas: 1},
		LogState{EndOffset: 4, DurableOffset: 4}, []EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 2, StartOffset: 3}})
	p.SetLeadership(time.Unix(0, 0), Leadership{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 5, Replicas: []int32{0, 1, 2}, ISR: []int32{1}})

	answer := func(wantEpoch, epoch int32, end, wantTruncate int64) {
		t.Helper()
		q, ok := p.NextEpochQuery()
		if !ok || q.Epoch != wantEpoch {
			t.Fatalf("query %+v (sent %v), want one about epoch %d", q, ok, wantEpoch)
		}
		p.EpochQueryAnswered(q.Seq, epoch, end, errcode.None)
		if got := p.Ready().Truncate; got != wantTruncate {
			t.Fatalf("answer (%d, %d): Ready.Truncate %d, want %d", epoch, end, got, wantTruncate)
		}
		if _, ok := p.NextEpochQuery(); ok {
			t.Fatal("a query went out before the truncation was executed")
		}
		if _, ok := p.NextFetch(); ok {
			t.Fatal("a fetch went out before the truncation was executed")
		}
		p.Advance()
		p.TruncatedTo(wantTruncate)
	}
	// Epoch 2 is unknown to the leader, which answers epoch 1 ending at 2.
	// This log has no epoch 1: its epoch 0 ends at 3, so it cuts to 2 and
	// asks again about epoch 0, which the leader says ends at 1.
	answer(2, 1, 2, 2)
	answer(0, 0, 1, 1)
	if _, ok := p.NextEpochQuery(); ok {
		t.Fatal("a third query after the leader named an epoch both hold")
	}
	f, ok := p.NextFetch()
	if !ok || f.FetchOffset != 1 {
		t.Fatalf("fetch %+v (sent %v), want one at offset 1", f, ok)
	}
}

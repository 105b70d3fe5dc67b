package core

import (
	"cairn/core/errcode"
	"testing"
	"time"
)

// readLeader returns a leader of epoch 3 whose log holds [0, 3), of which
// [0, 2) is committed: the follower fetched from 2.
func readLeader(t *testing.T) *Partition {
	t.Helper()
	now := time.Unix(0, 0)
	p := NewPartition(PartitionConfig{Topic: "t", ReplicaID: 1, Durability: ReplicationAcks,
		MinInsyncReplicas: 1, ReplicaLagMax: time.Second}, LogState{}, nil)
	p.SetLeadership(now, Leadership{Leader: 1, LeaderEpoch: 3, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	base, _, code := p.CheckProduce(1)
	if code != errcode.None {
		t.Fatalf("produce refused: %v", code)
	}
	p.Appended(1, 1, base, base+2)
	if code := p.FetchFromFollower(now, 2, 2, 3); code != errcode.None {
		t.Fatalf("follower fetch: %v", code)
	}
	if p.HighWatermark() != 2 || p.EndOffset() != 3 {
		t.Fatalf("setup: high watermark %d, end %d; want 2, 3", p.HighWatermark(), p.EndOffset())
	}
	return p
}

func TestReadBoundPerReader(t *testing.T) {
	p := readLeader(t)
	for _, c := range []struct {
		reader Reader
		epoch  int32
		offset int64
		limit  int64
		code   errcode.Code
	}{
		{ReaderUncommitted, -1, 0, 2, errcode.None},
		{ReaderCommitted, -1, 1, 2, errcode.None},
		{ReaderFollower, 3, 2, 3, errcode.None},
		// A consumer may ask at the log end: in range, nothing to read yet.
		{ReaderUncommitted, 3, 3, 2, errcode.None},
		{ReaderFollower, 3, 3, 3, errcode.None},
		{ReaderUncommitted, -1, 4, 2, errcode.OffsetOutOfRange},
		{ReaderFollower, -1, -1, 3, errcode.OffsetOutOfRange},
		{ReaderUncommitted, 2, 0, 0, errcode.FencedLeaderEpoch},
		{ReaderFollower, 4, 0, 0, errcode.UnknownLeaderEpoch},
	} {
		bound, code := p.ReadBound(c.reader, c.epoch, c.offset)
		if code != c.code || bound.Limit != c.limit {
			t.Errorf("%s epoch %d offset %d: limit %d code %d, want limit %d code %d",
				c.reader, c.epoch, c.offset, bound.Limit, code, c.limit, c.code)
		}
		if code == errcode.None || code == errcode.OffsetOutOfRange {
			if bound.HighWatermark != 2 || bound.LastStableOffset != 2 || bound.LogStartOffset != 0 {
				t.Errorf("%s offset %d: offsets %+v, want high watermark 2, last stable 2, start 0", c.reader, c.offset, bound)
			}
		}
	}
}

func TestReadBoundRefusesOffLeader(t *testing.T) {
	p := readLeader(t)
	p.SetLeadership(time.Unix(0, 0), Leadership{Leader: 2, LeaderEpoch: 4, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}})
	for _, reader := range []Reader{ReaderUncommitted, ReaderCommitted, ReaderFollower} {
		if bound, code := p.ReadBound(reader, -1, 0); code != errcode.NotLeaderOrFollower || bound != (ReadBound{}) {
			t.Errorf("%s on a follower: %+v code %d, want NOT_LEADER_OR_FOLLOWER and no bound", reader, bound, code)
		}
	}
}

func TestReaderForFetch(t *testing.T) {
	for _, c := range []struct {
		replica   int32
		isolation int8
		want      Reader
	}{{-1, 0, ReaderUncommitted}, {-1, 1, ReaderCommitted}, {-1, 7, ReaderUncommitted}, {0, 1, ReaderFollower}, {3, 0, ReaderFollower}} {
		if got := ReaderForFetch(c.replica, c.isolation); got != c.want {
			t.Errorf("replica %d isolation %d: %s, want %s", c.replica, c.isolation, got, c.want)
		}
	}
}

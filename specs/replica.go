package specs

import (
	"fmt"
	"sort"

	"cairn/core"
)

// CheckOffsets checks guarantee 1 on one replica.
func CheckOffsets(s core.PartitionStatus) error {
	if s.StartOffset < 0 || s.StartOffset > s.HighWatermark || s.HighWatermark > s.EndOffset {
		return fmt.Errorf("%s: offsets out of order: start=%d hw=%d end=%d", name(s), s.StartOffset, s.HighWatermark, s.EndOffset)
	}
	if s.DurableOffset > s.EndOffset {
		return fmt.Errorf("%s: durable offset %d past log end %d", name(s), s.DurableOffset, s.EndOffset)
	}
	if s.Durability == core.DurableAcks && s.HighWatermark > s.DurableOffset {
		return fmt.Errorf("%s: high watermark %d past durable offset %d: consumers may read what a crash takes back",
			name(s), s.HighWatermark, s.DurableOffset)
	}
	return nil
}

// CheckLogAgrees checks guarantee 2: the core and the storage under it agree
// on the log end and on what is durable.
func CheckLogAgrees(s core.PartitionStatus, logEnd, logDurable int64) error {
	if s.EndOffset != logEnd {
		return fmt.Errorf("%s: core log end %d, storage log end %d", name(s), s.EndOffset, logEnd)
	}
	if s.DurableOffset > logDurable {
		return fmt.Errorf("%s: core durable offset %d, storage only %d", name(s), s.DurableOffset, logDurable)
	}
	return nil
}

// CheckProgress checks guarantee 3 between two snapshots of one live replica.
func CheckProgress(before, after core.PartitionStatus) error {
	if after.HighWatermark < before.HighWatermark {
		return fmt.Errorf("%s: high watermark moved back from %d to %d", name(after), before.HighWatermark, after.HighWatermark)
	}
	if after.LeaderEpoch < before.LeaderEpoch {
		return fmt.Errorf("%s: leader epoch moved back from %d to %d", name(after), before.LeaderEpoch, after.LeaderEpoch)
	}
	return nil
}

// CheckAcknowledgedDurable checks guarantee 4 on a live replica in the
// durable mode: acknowledgedEnd is one past the highest offset the replica
// has acknowledged to any producer.
func CheckAcknowledgedDurable(s core.PartitionStatus, acknowledgedEnd int64) error {
	if s.Durability != core.DurableAcks {
		return nil
	}
	if acknowledgedEnd > s.DurableOffset {
		return fmt.Errorf("%s: acknowledged up to offset %d but durable only below %d", name(s), acknowledgedEnd-1, s.DurableOffset)
	}
	if acknowledgedEnd > s.EndOffset {
		return fmt.Errorf("%s: acknowledged up to offset %d but the log ends at %d: acknowledged records lost",
			name(s), acknowledgedEnd-1, s.EndOffset)
	}
	return nil
}

func name(s core.PartitionStatus) string {
	return fmt.Sprintf("replica %d of %s-%d", s.Replica, s.Topic, s.Partition)
}

// CheckReplicas checks what replication promises across the live replicas
// of every partition (statuses in any order; committedEnd is, per
// "topic-partition", one past the highest offset acknowledged with
// acks=all):
//
//   - at most one leader per partition per leader epoch;
//   - in the durable mode, every in-sync replica — as the newest leader
//     sees the ISR — holds every acks=all record durably, and its log
//     reaches the leader's high watermark (HW <= min LEO of the ISR).
//
// lostData returns, for a replica that lost its disk, the partition epoch
// at which the controller took it out of the ISR (MaxInt32 until it has),
// and -1 for others: a leader's view of an older epoch predates the news,
// and may count the replica in sync (the fault counts against the failure
// budget).
func CheckReplicas(all []core.PartitionStatus, committedEnd func(topic string, partition int32) int64,
	lostData func(topic string, partition, replica int32) int32) error {
	type key struct {
		topic     string
		partition int32
	}
	leaders := map[key]map[int32]int32{}
	newest := map[key]core.PartitionStatus{}
	byReplica := map[key]map[int32]core.PartitionStatus{}
	for _, s := range all {
		k := key{s.Topic, s.Partition}
		if byReplica[k] == nil {
			byReplica[k] = map[int32]core.PartitionStatus{}
		}
		byReplica[k][s.Replica] = s
		if s.Role != core.RoleLeader {
			continue
		}
		if leaders[k] == nil {
			leaders[k] = map[int32]int32{}
		}
		if other, ok := leaders[k][s.LeaderEpoch]; ok && other != s.Replica {
			return fmt.Errorf("%s-%d: replicas %d and %d both lead epoch %d", s.Topic, s.Partition, other, s.Replica, s.LeaderEpoch)
		}
		leaders[k][s.LeaderEpoch] = s.Replica
		if n, ok := newest[k]; !ok || s.LeaderEpoch > n.LeaderEpoch {
			newest[k] = s
		}
	}
	// In a fixed order, so that a run with several broken partitions
	// reports the same one every time.
	keys := make([]key, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].topic < keys[j].topic || keys[i].topic == keys[j].topic && keys[i].partition < keys[j].partition
	})
	for _, k := range keys {
		l := newest[k]
		if l.Durability != core.DurableAcks {
			continue
		}
		committed := committedEnd(k.topic, k.partition)
		for _, r := range l.ISR {
			f, ok := byReplica[k][r]
			if !ok {
				continue // down: it recovers what it synced
			}
			if l.PartitionEpoch < lostData(k.topic, k.partition, r) {
				continue // its disk is gone; the controller has not yet heard
			}
			if f.DurableOffset < committed {
				return fmt.Errorf("%s-%d: in-sync replica %d is durable only below %d, but offset %d was acknowledged to acks=all",
					k.topic, k.partition, r, f.DurableOffset, committed-1)
			}
			if f.EndOffset < l.HighWatermark {
				return fmt.Errorf("%s-%d: leader %d has high watermark %d but in-sync replica %d ends at %d",
					k.topic, k.partition, l.Replica, l.HighWatermark, r, f.EndOffset)
			}
		}
	}
	return nil
}

// CheckLogMatching checks guarantee 1 across replicas: below its high
// watermark, replica's log (record ids by offset) holds exactly the records
// committed there (committed: the first record any replica held below its
// high watermark at each offset).
func CheckLogMatching(replica int32, log []int64, highWatermark int64, committed []int64) error {
	for o := int64(0); o < highWatermark && o < int64(len(committed)); o++ {
		if log[o] != committed[o] {
			return fmt.Errorf("replica %d holds record %d at committed offset %d, where record %d was committed", replica, log[o], o, committed[o])
		}
	}
	return nil
}

// CheckLeaderComplete checks guarantee 2 at the leader: it holds every
// record acknowledged to acks=all (acked: record id by offset, 0 for none).
func CheckLeaderComplete(leader int32, log []int64, acked []int64) error {
	for o, id := range acked {
		if id == 0 {
			continue
		}
		if int64(o) >= int64(len(log)) || log[o] != id {
			return fmt.Errorf("leader %d lacks record %d acknowledged to acks=all at offset %d", leader, id, o)
		}
	}
	return nil
}

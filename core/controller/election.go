package controller

import (
	"slices"
	"time"

	"cairn/core/mutant"
)

// UncleanLeaderElectionConfig is the topic config that, set to "true", lets
// a partition with no eligible ISR member elect any live replica, accepting
// the loss of committed records to regain availability.
const UncleanLeaderElectionConfig = "unclean.leader.election.enable"

// eligible reports whether a broker may lead or join an ISR now: registered,
// unfenced, and not the broker being evicted.
func (c *Controller) eligible(brokerID, evicted int32) bool {
	if brokerID == evicted {
		return false
	}
	b, ok := c.image.Broker(brokerID)
	return ok && !b.Fenced
}

func (c *Controller) uncleanElectionEnabled(topic string) bool {
	t, _ := c.image.Topic(topic)
	return t.Configs[UncleanLeaderElectionConfig] == "true"
}

// electLeader picks the leader of a partition whose ISR will be isr: the
// current leader if it stays eligible and in the ISR, else the first
// eligible ISR member in replica order (the preferred leader first). With
// none, and unclean election enabled for the topic, it picks the first
// eligible replica and shrinks the ISR to it; otherwise the partition goes
// offline with its last known ISR kept, so that one of those members can
// lead again when it returns.
func (c *Controller) electLeader(p Partition, isr []int32, evicted int32) (leader int32, nextISR []int32) {
	if mutant.Active(mutant.ElectOutsideISR) {
		for _, r := range p.Replicas {
			if !slices.Contains(isr, r) && c.eligible(r, evicted) {
				return r, inReplicaOrder(p.Replicas, append(slices.Clone(isr), r))
			}
		}
	}
	if p.Leader != NoLeader && slices.Contains(isr, p.Leader) && c.eligible(p.Leader, evicted) {
		return p.Leader, isr
	}
	for _, r := range p.Replicas {
		if slices.Contains(isr, r) && c.eligible(r, evicted) {
			return r, isr
		}
	}
	if c.uncleanElectionEnabled(p.Topic) {
		for _, r := range p.Replicas {
			if c.eligible(r, evicted) {
				return r, []int32{r}
			}
		}
	}
	return NoLeader, isr
}

// partitionChange returns the change that gives p the ISR isr and the
// leader electLeader picks, or false when that is p's state already.
func (c *Controller) partitionChange(p Partition, isr []int32, evicted int32) (PartitionChange, bool) {
	leader, isr := c.electLeader(p, isr, evicted)
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return PartitionChange{}, false
	}
	change := PartitionChange{
		Topic: p.Topic, TopicID: p.TopicID, Partition: p.Partition,
		Leader: p.Leader, LeaderUnchanged: true, ISR: slices.Clone(isr),
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1,
	}
	if leader != p.Leader {
		change.Leader, change.LeaderUnchanged = leader, false
		change.LeaderEpoch++
	}
	return change, true
}

// evictBroker returns the changes that take a broker out of every
// leadership and ISR, before it is fenced or re-registered. It stays the
// last ISR member of a partition, which then goes offline, so that it can
// lead again when it returns: no other replica is known to have its
// records. After an unclean restart under UncleanRestartLeavesISR
// (leaveLastISR) it leaves those ISRs too, because it can no longer vouch
// for its log.
func (c *Controller) evictBroker(brokerID int32, leaveLastISR bool) []Record {
	var records []Record
	c.image.eachPartition(func(p Partition) {
		inISR := slices.Contains(p.ISR, brokerID)
		if p.Leader != brokerID && !inISR {
			return
		}
		isr := p.ISR
		if inISR && (len(isr) > 1 || leaveLastISR) {
			isr = without(isr, brokerID)
		}
		if change, ok := c.partitionChange(p, isr, brokerID); ok {
			records = append(records, change)
		}
	})
	return records
}

// electOffline elects a leader for every offline partition that has an
// eligible candidate.
func (c *Controller) electOffline() {
	var records []Record
	c.image.eachPartition(func(p Partition) {
		if p.Leader != NoLeader {
			return
		}
		if change, ok := c.partitionChange(p, p.ISR, NoLeader); ok {
			records = append(records, change)
		}
	})
	c.propose(records...)
}

// ElectPreferredLeaders moves the leadership of every partition to its
// preferred replica (the first of its assignment) where that replica is in
// the ISR and unfenced, spreading leaderships back after failures.
func (c *Controller) ElectPreferredLeaders(now time.Time) {
	var records []Record
	c.image.eachPartition(func(p Partition) {
		preferred := p.Replicas[0]
		if p.Leader == preferred || !slices.Contains(p.ISR, preferred) || !c.eligible(preferred, NoLeader) {
			return
		}
		records = append(records, PartitionChange{
			Topic: p.Topic, TopicID: p.TopicID, Partition: p.Partition,
			Leader: preferred, ISR: slices.Clone(p.ISR),
			LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1,
		})
	})
	c.propose(records...)
}

// without returns ids less every occurrence of id, in a new slice.
func without(ids []int32, id int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, v := range ids {
		if v != id {
			out = append(out, v)
		}
	}
	return out
}

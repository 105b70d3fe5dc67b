package controller

import (
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

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

// MinInsyncReplicasConfig is the topic config naming the smallest ISR that
// may acknowledge acks=all. The controller needs it for the ELR: below it
// the high watermark stands still, so members leaving the ISR then keep
// every committed record.
const MinInsyncReplicasConfig = "min.insync.replicas"

// minInsync returns a topic's min.insync.replicas.
func (c *Controller) minInsync(topic string) int {
	t, _ := c.image.Topic(topic)
	if v, err := strconv.Atoi(t.Configs[MinInsyncReplicasConfig]); err == nil && v > 0 {
		return v
	}
	return c.config.MinInsyncReplicasDefault
}

// nextELR returns the ELR of p once its ISR is isr (KIP-966). Members that
// leave the ISR while it is below min.insync.replicas join the ELR: the
// high watermark cannot advance without them, so they hold everything
// committed. Members that (re)join the ISR leave it, and the whole ELR is
// cleared once the ISR is back at min.insync.replicas, because the high
// watermark may then move past what its members hold. lost names a broker
// that lost data (a lossy restart), which may be in neither.
func (c *Controller) nextELR(p Partition, isr []int32, lost int32) []int32 {
	// Counted as the partition leader counts it: against no more than the
	// replicas there are.
	if len(isr) >= min(c.minInsync(p.Topic), len(p.Replicas)) {
		return nil
	}
	var elr []int32
	for _, r := range p.Replicas {
		if r == lost || slices.Contains(isr, r) {
			continue
		}
		if slices.Contains(p.ELR, r) || slices.Contains(p.ISR, r) {
			elr = append(elr, r)
		}
	}
	return elr
}

// electLeader picks the leader of a partition whose ISR will be isr and ELR
// elr: the current leader if it stays eligible and in the ISR, else the
// first eligible ISR member in replica order (the preferred leader first),
// else the first eligible ELR member, which becomes the whole ISR while
// the ineligible ISR members join the ELR: all of them hold every committed
// record. With none, and unclean election enabled for the topic, it picks
// the first eligible replica and shrinks the ISR to it; otherwise the
// partition goes offline with its ISR and ELR kept, so that one of those
// members can lead again when it returns.
func (c *Controller) electLeader(p Partition, isr, elr []int32, evicted int32) (leader int32, nextISR, nextELR []int32) {
	if mutant.Active(mutant.ElectOutsideISR) {
		for _, r := range p.Replicas {
			if !slices.Contains(isr, r) && !slices.Contains(elr, r) && c.eligible(r, evicted) {
				return r, inReplicaOrder(p.Replicas, append(slices.Clone(isr), r)), elr
			}
		}
	}
	if p.Leader != NoLeader && slices.Contains(isr, p.Leader) && c.eligible(p.Leader, evicted) {
		return p.Leader, isr, elr
	}
	for _, r := range p.Replicas {
		if slices.Contains(isr, r) && c.eligible(r, evicted) {
			return r, isr, elr
		}
	}
	for _, r := range p.Replicas {
		if slices.Contains(elr, r) && c.eligible(r, evicted) {
			rest := inReplicaOrder(p.Replicas, append(slices.Clone(elr), isr...))
			return r, []int32{r}, without(rest, r)
		}
	}
	if c.uncleanElectionEnabled(p.Topic) {
		for _, r := range p.Replicas {
			if c.eligible(r, evicted) {
				return r, []int32{r}, nil
			}
		}
	}
	return NoLeader, isr, elr
}

// partitionChange returns the change that gives p the ISR isr, the ELR that
// follows from it, and the leader electLeader picks, or false when that is
// p's state already. evicted may not lead; lost lost data and may be in
// neither the ISR nor the ELR.
func (c *Controller) partitionChange(p Partition, isr []int32, evicted, lost int32) (PartitionChange, bool) {
	elr := c.nextELR(p, isr, lost)
	leader, isr, elr := c.electLeader(p, isr, elr, evicted)
	if leader == p.Leader && slices.Equal(isr, p.ISR) && slices.Equal(elr, p.ELR) {
		return PartitionChange{}, false
	}
	change := PartitionChange{
		Topic: p.Topic, TopicID: p.TopicID, Partition: p.Partition,
		Leader: p.Leader, LeaderUnchanged: true, ISR: slices.Clone(isr), ELR: elr,
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
// last ISR member of a partition, so that it can lead again when it
// returns if no ELR member can lead first: no other replica is known to
// have its records. After a restart that lost data (lost) it leaves those
// ISRs and every ELR too, because it can no longer vouch for its log.
func (c *Controller) evictBroker(brokerID int32, lost bool) []Record {
	var records []Record
	lostID := NoLeader
	if lost {
		lostID = brokerID
	}
	c.image.eachPartition(func(p Partition) {
		inISR := slices.Contains(p.ISR, brokerID)
		if p.Leader != brokerID && !inISR && !(lost && slices.Contains(p.ELR, brokerID)) {
			return
		}
		isr := p.ISR
		if inISR && (len(isr) > 1 || lost) {
			isr = without(isr, brokerID)
		}
		if change, ok := c.partitionChange(p, isr, brokerID, lostID); ok {
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
		if change, ok := c.partitionChange(p, p.ISR, NoLeader, NoLeader); ok {
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
		if change, code := c.preferredChange(p); code == nil {
			records = append(records, change)
		}
	})
	c.propose(records...)
}

// RebalanceLeaders is the periodic check of auto.leader.rebalance.enable:
// for every broker whose imbalance ratio (partitions it is preferred for
// but does not lead, over partitions it is preferred for) exceeds
// percentage per cent, it moves those partitions' leadership back to it
// where it can lead. A broker within the bound is left alone, so that a
// single lagging partition does not move leaders on every check; a broker
// preferred for nothing has no ratio. It returns the partitions moved.
func (c *Controller) RebalanceLeaders(now time.Time, percentage int32) int {
	preferred := map[int32]int{}
	imbalanced := map[int32]int{}
	c.image.eachPartition(func(p Partition) {
		preferred[p.Replicas[0]]++
		if p.Leader != p.Replicas[0] {
			imbalanced[p.Replicas[0]]++
		}
	})
	var records []Record
	c.image.eachPartition(func(p Partition) {
		broker := p.Replicas[0]
		// notLeader/total > percentage/100, in integers.
		if int64(imbalanced[broker])*100 <= int64(percentage)*int64(preferred[broker]) {
			return
		}
		if change, code := c.preferredChange(p); code == nil {
			records = append(records, change)
		}
	})
	c.propose(records...)
	return len(records)
}

// preferredChange returns the change that makes p's preferred replica its
// leader, or why there is none: ELECTION_NOT_NEEDED if it leads already,
// PREFERRED_LEADER_NOT_AVAILABLE if it is outside the ISR or fenced.
func (c *Controller) preferredChange(p Partition) (PartitionChange, *kerr.Error) {
	preferred := p.Replicas[0]
	switch {
	case p.Leader == preferred:
		return PartitionChange{}, kerr.ElectionNotNeeded
	case !slices.Contains(p.ISR, preferred) || !c.eligible(preferred, NoLeader):
		return PartitionChange{}, kerr.PreferredLeaderNotAvailable
	}
	return PartitionChange{
		Topic: p.Topic, TopicID: p.TopicID, Partition: p.Partition,
		Leader: preferred, ISR: slices.Clone(p.ISR), ELR: slices.Clone(p.ELR),
		LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1,
	}, nil
}

// uncleanChange returns the change that gives p, which has no leader, one:
// the first eligible ISR or ELR member as any election picks, else the
// first eligible replica whatever the topic's unclean.leader.election.enable
// (the operator asked for it), which becomes the whole ISR. A partition
// with a leader needs no election (ELECTION_NOT_NEEDED); one without an
// eligible replica gets ELIGIBLE_LEADERS_NOT_AVAILABLE.
func (c *Controller) uncleanChange(p Partition) (PartitionChange, *kerr.Error) {
	if p.Leader != NoLeader {
		return PartitionChange{}, kerr.ElectionNotNeeded
	}
	if change, ok := c.partitionChange(p, p.ISR, NoLeader, NoLeader); ok && !change.LeaderUnchanged && change.Leader != NoLeader {
		return change, nil
	}
	for _, r := range p.Replicas {
		if c.eligible(r, NoLeader) {
			return PartitionChange{
				Topic: p.Topic, TopicID: p.TopicID, Partition: p.Partition,
				Leader: r, ISR: []int32{r},
				LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1,
			}, nil
		}
	}
	return PartitionChange{}, kerr.EligibleLeadersNotAvailable
}

// ElectionType is the kind of election an ElectLeaders request asks for,
// numbered as on the wire.
type ElectionType int8

const (
	// ElectPreferred moves leadership to the preferred replica.
	ElectPreferred ElectionType = 0
	// ElectUnclean gives a leaderless partition a leader, from outside the
	// ISR if it must.
	ElectUnclean ElectionType = 1
)

func (t ElectionType) String() string {
	switch t {
	case ElectPreferred:
		return "preferred"
	case ElectUnclean:
		return "unclean"
	}
	return "ElectionType(" + strconv.Itoa(int(t)) + ")"
}

// PartitionRef names one partition.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// ElectionResult is the outcome of one partition's election: nil, or the
// Kafka error to answer.
type ElectionResult struct {
	PartitionRef
	Code *kerr.Error
}

// ElectLeaders runs an operator's election of kind on each named partition
// and returns one result per name, in order: UNKNOWN_TOPIC_OR_PARTITION for
// a partition the image lacks, INVALID_REQUEST for an unknown kind, else
// what preferredChange or uncleanChange says.
func (c *Controller) ElectLeaders(now time.Time, kind ElectionType, partitions []PartitionRef) []ElectionResult {
	results := make([]ElectionResult, 0, len(partitions))
	for _, ref := range partitions {
		results = append(results, ElectionResult{ref, c.electOne(kind, ref)})
	}
	return results
}

// ElectAllLeaders runs an election of kind on every partition and returns
// the results of those that needed one (Kafka leaves ELECTION_NOT_NEEDED
// out when the request names no partitions).
func (c *Controller) ElectAllLeaders(now time.Time, kind ElectionType) []ElectionResult {
	var refs []PartitionRef
	c.image.eachPartition(func(p Partition) { refs = append(refs, PartitionRef{p.Topic, p.Partition}) })
	var results []ElectionResult
	for _, ref := range refs {
		if code := c.electOne(kind, ref); code != kerr.ElectionNotNeeded {
			results = append(results, ElectionResult{ref, code})
		}
	}
	return results
}

func (c *Controller) electOne(kind ElectionType, ref PartitionRef) *kerr.Error {
	p, ok := c.image.Partition(ref.Topic, ref.Partition)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	var change PartitionChange
	var code *kerr.Error
	switch kind {
	case ElectPreferred:
		change, code = c.preferredChange(p)
	case ElectUnclean:
		change, code = c.uncleanChange(p)
	default:
		return kerr.InvalidRequest
	}
	if code == nil {
		c.propose(change)
	}
	return code
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

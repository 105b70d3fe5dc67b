package controller

import (
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"cairn/core/mutant"
)

// RegisterBroker handles a broker's registration at process start. A new
// incarnation of a known broker first loses its leaderships and ISR places
// (all of them after an unclean restart under UncleanRestartLeavesISR), then
// is registered fenced; it is unfenced by a heartbeat reporting it caught
// up. Repeating the current registration exactly is a harmless retry. It
// returns nil or the Kafka error to answer.
func (c *Controller) RegisterBroker(now time.Time, r RegisterBroker) *kerr.Error {
	if r.ID < 0 || r.Host == "" || r.Port <= 0 || r.Port > math.MaxUint16 || r.Incarnation < 0 {
		return kerr.InvalidRequest
	}
	old, exists := c.image.Broker(r.ID)
	if exists && r.Incarnation <= old.Incarnation {
		if r.Incarnation == old.Incarnation && sameRegistration(old, r) {
			return nil
		}
		// An older process, or another process claiming the same start.
		return kerr.DuplicateBrokerRegistration
	}
	if exists {
		c.propose(c.evictBroker(r.ID, c.lostData(old, r))...)
	}
	c.propose(r)
	delete(c.lastHeartbeat, r.ID)
	return nil
}

// lostData reports whether a broker's new registration says it lost data
// its previous process held: it names another data directory (the disk was
// replaced or wiped), or, under UncleanRestartLeavesISR, its previous
// process did not stop cleanly.
func (c *Controller) lostData(old Broker, r RegisterBroker) bool {
	if !old.DirectoryID.IsZero() && r.DirectoryID != old.DirectoryID {
		return true
	}
	return !r.CleanShutdown && c.config.UncleanRestartLeavesISR && !mutant.Active(mutant.LastReplicaStanding)
}

func sameRegistration(b Broker, r RegisterBroker) bool {
	return b.Host == r.Host && b.Port == r.Port && b.Rack == r.Rack && b.CleanShutdown == r.CleanShutdown &&
		b.DirectoryID == r.DirectoryID
}

// CreateTopic creates a topic with partitions partitions of
// replicationFactor replicas each, assigned across the unfenced brokers.
// Every replica starts in the ISR, and the first replica leads. A name that
// breaks Kafka's rules, or collides with an existing topic's on '.' and '_'
// (see Image.CollidingTopic), is refused with INVALID_TOPIC_EXCEPTION.
func (c *Controller) CreateTopic(now time.Time, name string, partitions int32, replicationFactor int16,
	configs map[string]string) *kerr.Error {
	if validateTopicName(name) != nil {
		return kerr.InvalidTopicException
	}
	if _, exists := c.image.Topic(name); exists {
		return kerr.TopicAlreadyExists
	}
	// Only a new creation is checked, never a record being applied: a
	// log written before this rule may hold both names and must replay.
	if _, collides := c.image.CollidingTopic(name); collides {
		return kerr.InvalidTopicException
	}
	if partitions < 1 || partitions > c.config.PartitionsPerTopicMax {
		return kerr.InvalidPartitions
	}
	if err := validateTopicConfigs(configs); err != nil {
		return err
	}
	live := c.unfencedBrokers()
	if replicationFactor < 1 || int(replicationFactor) > len(live) {
		return kerr.InvalidReplicationFactor
	}
	// The start rotates with every topic created, so that the first
	// partitions of successive topics are not all led by the same broker.
	start := int(c.image.TopicsCreated() % int64(len(live)))
	id := c.topicID(name)
	c.propose(CreateTopic{Name: name, ID: id, Configs: copyConfigs(configs)})
	for i, replicas := range assignReplicas(live, partitions, int(replicationFactor), start) {
		c.propose(PartitionRecord{Topic: name, TopicID: id, Partition: int32(i),
			Replicas: replicas, ISR: replicas, Leader: replicas[0]})
	}
	return nil
}

func validateTopicConfigs(configs map[string]string) *kerr.Error {
	for key, value := range configs {
		if key == "" {
			return kerr.InvalidConfig
		}
		if key == UncleanLeaderElectionConfig && value != "true" && value != "false" {
			return kerr.InvalidConfig
		}
	}
	return nil
}

func (c *Controller) unfencedBrokers() []Broker {
	var live []Broker
	for _, b := range c.image.Brokers() {
		if !b.Fenced {
			live = append(live, b)
		}
	}
	return live
}

// DeleteTopic deletes a topic and its partitions. An internal topic is
// refused with INVALID_TOPIC_EXCEPTION: deleting __consumer_offsets would
// drop every committed offset, and the topic would come back empty on next
// use. (Kafka leaves that refusal to its command-line tool; the controller
// makes it here so that every client, and the simulator, meets it.)
func (c *Controller) DeleteTopic(now time.Time, name string) *kerr.Error {
	t, ok := c.image.Topic(name)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	if IsInternalTopic(name) {
		return kerr.InvalidTopicException
	}
	c.propose(DeleteTopic{Name: name, ID: t.ID})
	return nil
}

// AlterPartition handles a partition leader's request to change its ISR to
// newISR. Kafka's checks, in Kafka's order: the partition exists, the
// request carries the current leader epoch (else FENCED_LEADER_EPOCH), comes
// from the current leader (else INVALID_REQUEST), and carries the current
// partition epoch (else INVALID_UPDATE_VERSION, which tells the leader to
// refresh its metadata). The new ISR must hold the leader and only replicas,
// and every member it adds must be registered and unfenced (else
// INELIGIBLE_REPLICA). NOT_CONTROLLER is the driver's answer on a node with
// no active Controller.
func (c *Controller) AlterPartition(now time.Time, topic string, partition, leaderID, leaderEpoch,
	partitionEpoch int32, newISR []int32) *kerr.Error {
	p, ok := c.image.Partition(topic, partition)
	switch {
	case !ok:
		return kerr.UnknownTopicOrPartition
	case leaderEpoch != p.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	case leaderID != p.Leader || p.Leader == NoLeader:
		return kerr.InvalidRequest
	case partitionEpoch != p.PartitionEpoch && !mutant.Active(mutant.StaleAlterPartition):
		return kerr.InvalidUpdateVersion
	case hasDuplicates(newISR) || !slices.Contains(newISR, leaderID):
		return kerr.InvalidRequest
	}
	for _, r := range newISR {
		if !slices.Contains(p.Replicas, r) {
			return kerr.InvalidRequest
		}
		if !slices.Contains(p.ISR, r) && !c.eligible(r, NoLeader) {
			return kerr.IneligibleReplica
		}
	}
	isr := inReplicaOrder(p.Replicas, newISR)
	if sameMembers(isr, p.ISR) {
		return nil
	}
	c.propose(PartitionChange{Topic: topic, TopicID: p.TopicID, Partition: partition,
		Leader: p.Leader, LeaderUnchanged: true, ISR: isr, ELR: c.nextELR(p, isr, NoLeader),
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1})
	return nil
}

// AllocateProducerIDs hands a broker the next block of producer IDs.
func (c *Controller) AllocateProducerIDs(now time.Time, brokerID int32, incarnation int64) (first, count int64, err *kerr.Error) {
	b, ok := c.image.Broker(brokerID)
	if !ok {
		return 0, 0, kerr.BrokerIDNotRegistered
	}
	if b.Incarnation != incarnation {
		return 0, 0, kerr.StaleBrokerEpoch
	}
	first, count = c.image.NextProducerID(), c.config.ProducerIDBlockSize
	if first > math.MaxInt64-count {
		return 0, 0, kerr.UnknownServerError
	}
	c.propose(AllocateProducerIDs{Broker: brokerID, First: first, Count: count})
	return first, count, nil
}

// inReplicaOrder returns the members of set ordered as they appear in
// replicas, so that equal ISRs are equal slices.
func inReplicaOrder(replicas, set []int32) []int32 {
	out := make([]int32, 0, len(set))
	for _, r := range replicas {
		if slices.Contains(set, r) {
			out = append(out, r)
		}
	}
	return out
}

func sameMembers(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

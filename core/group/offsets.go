package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/mutant"
)

// PartitionKnown tells the coordinator whether a topic partition exists;
// commits for unknown ones are refused.
type PartitionKnown func(topic string, partition int32) bool

// OffsetCommit handles an OffsetCommitRequest. The answer waits until the
// commit's records are committed in the partition; only then do the
// offsets become visible.
func (c *Coordinator) OffsetCommit(now time.Time, token Token, req *kmsg.OffsetCommitRequest, known PartitionKnown) {
	defer c.assertInvariants()
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	code := c.checkCommit(now, req)
	g := c.group(req.Group)
	commit := map[topicPartition]committed{}
	var records []Record
	for _, rt := range req.Topics {
		respTopic := kmsg.NewOffsetCommitResponseTopic()
		respTopic.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			respPart := kmsg.NewOffsetCommitResponseTopicPartition()
			respPart.Partition = rp.Partition
			switch {
			case code != 0:
				respPart.ErrorCode = code
			case rp.Metadata != nil && len(*rp.Metadata) > offsetMetadataBytesMax:
				respPart.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case !known(rt.Topic, rp.Partition):
				respPart.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				o := committed{offset: rp.Offset, leaderEpoch: rp.LeaderEpoch, timestamp: now.UnixMilli()}
				if req.Version < 6 {
					o.leaderEpoch = -1
				}
				if rp.Metadata != nil {
					o.metadata = *rp.Metadata
				}
				tp := topicPartition{rt.Topic, rp.Partition}
				commit[tp] = o
				records = append(records, offsetRecord(req.Group, tp, o))
			}
			respTopic.Partitions = append(respTopic.Partitions, respPart)
		}
		resp.Topics = append(resp.Topics, respTopic)
	}
	if len(records) == 0 {
		c.respond(token, resp)
		return
	}
	if g == nil {
		g = c.createGroup(req.Group, now)
	}
	c.append(records, &appendWait{token: token, group: g.name, commit: commit, response: resp,
		onFail: func(code int16) {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
						p.ErrorCode = code
					}
				}
			}
		}})
}

// checkCommit decides whether a commit is allowed: from a current member
// of the current generation, or, for an empty group, from anyone who is
// not a member (generation -1: an admin or a simple consumer).
func (c *Coordinator) checkCommit(now time.Time, req *kmsg.OffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.group(req.Group)
	if g == nil || g.state == Empty && req.Generation < 0 {
		if req.Generation < 0 {
			return 0
		}
		return kerr.IllegalGeneration.Code
	}
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.consumer != nil {
		return c.checkConsumerCommit(now, g, req)
	}
	m, code := checkMember(g, req.MemberID, req.InstanceID, req.Generation)
	if code == kerr.IllegalGeneration.Code && mutant.Active(mutant.CommitFromStaleGeneration) {
		code = 0
	}
	if code != 0 {
		return code
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
	return 0
}

// checkConsumerCommit is the fencing of a commit to a consumer-protocol
// group: from outside (epoch < 0) only while the group is empty; from a
// member only with OffsetCommit v9 and its current member epoch.
func (c *Coordinator) checkConsumerCommit(now time.Time, g *group, req *kmsg.OffsetCommitRequest) int16 {
	cg := g.consumer
	if req.Generation < 0 && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case req.Version < 9:
		return kerr.UnsupportedVersion.Code
	case req.Generation > m.epoch:
		return kerr.FencedMemberEpoch.Code
	case req.Generation < m.epoch && !mutant.Active(mutant.CommitFromStaleGeneration) && !c.stillOwned(m, req):
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// stillOwned reports whether a commit with an epoch older than the
// member's names only partitions the member owned since that epoch
// (KIP-1251), so that the epoch bump of an unrelated rebalance does not
// fail a commit the member is entitled to.
func (c *Coordinator) stillOwned(m *consumerMember, req *kmsg.OffsetCommitRequest) bool {
	if m.epoch < 0 || req.Generation < 0 {
		return false
	}
	for _, rt := range req.Topics {
		t, ok := c.topics[rt.Topic]
		if !ok {
			return false
		}
		for _, rp := range rt.Partitions {
			at, ok := m.assignedAt[topicPartitionID{t.ID, rp.Partition}]
			if !ok || at > req.Generation && !mutant.Active(mutant.StaleCommitOwnedNow) {
				return false
			}
		}
	}
	return true
}

// CheckOffsetFetch validates the member of an OffsetFetch v9 against a
// consumer-protocol group: a member id with its current epoch, or none
// (epoch -1) from outside. Classic groups are not checked.
func (c *Coordinator) CheckOffsetFetch(groupName string, memberID *string, memberEpoch int32) int16 {
	g := c.group(groupName)
	if g == nil || g.consumer == nil || memberID == nil && memberEpoch < 0 {
		return 0
	}
	var m *consumerMember
	if memberID != nil {
		m = g.consumer.members[*memberID]
	}
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case memberEpoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// Offset is one committed offset as OffsetFetch reports it.
type Offset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// Committed returns the committed offset of one partition, if any.
func (c *Coordinator) Committed(groupName, topic string, partition int32) (Offset, bool) {
	g := c.group(groupName)
	if g == nil {
		return Offset{}, false
	}
	o, ok := g.offsets[topicPartition{topic, partition}]
	if !ok {
		return Offset{}, false
	}
	if mutant.Active(mutant.OffsetFetchPastCommit) && o.offset >= 0 {
		o.offset++
	}
	return Offset{Topic: topic, Partition: partition, Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: o.metadata}, true
}

// AllCommitted returns every committed offset of a group, sorted by topic
// and partition.
func (c *Coordinator) AllCommitted(groupName string) []Offset {
	g := c.group(groupName)
	if g == nil {
		return nil
	}
	out := make([]Offset, 0, len(g.offsets))
	for tp, o := range g.offsets {
		out = append(out, Offset{Topic: tp.topic, Partition: tp.partition, Offset: o.offset, LeaderEpoch: o.leaderEpoch, Metadata: o.metadata})
	}
	slices.SortFunc(out, func(a, b Offset) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// OffsetDelete handles an OffsetDeleteRequest: offsets of topics the
// group is not subscribed to are deleted (tombstones are written).
func (c *Coordinator) OffsetDelete(now time.Time, token Token, req *kmsg.OffsetDeleteRequest) {
	defer c.assertInvariants()
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	g := c.group(req.Group)
	switch {
	case g == nil || g.state == Dead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		c.respond(token, resp)
		return
	case len(g.members) > 0 && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		c.respond(token, resp)
		return
	}
	subscribed := subscribedTopics(g)
	if g.consumer != nil {
		subscribed = nil
		for _, t := range c.subscribedTopicMeta(g.consumer) {
			subscribed = append(subscribed, t.name)
		}
		for _, id := range g.consumer.memberIDs {
			// A topic subscribed by name counts even if it does not
			// exist (yet).
			subscribed = append(subscribed, g.consumer.members[id].subscribedTopicNames...)
		}
	}
	var records []Record
	var deleted []topicPartition
	for _, rt := range req.Topics {
		respTopic := kmsg.NewOffsetDeleteResponseTopic()
		respTopic.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			respPart := kmsg.NewOffsetDeleteResponseTopicPartition()
			respPart.Partition = rp.Partition
			tp := topicPartition{rt.Topic, rp.Partition}
			if slices.Contains(subscribed, rt.Topic) {
				respPart.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[tp]; ok {
				records = append(records, Record{Key: offsetKey(g.name, tp)})
				deleted = append(deleted, tp)
			}
			respTopic.Partitions = append(respTopic.Partitions, respPart)
		}
		resp.Topics = append(resp.Topics, respTopic)
	}
	for _, tp := range deleted {
		delete(g.offsets, tp)
	}
	if len(records) == 0 {
		c.respond(token, resp)
		return
	}
	c.append(records, &appendWait{token: token, group: g.name, response: resp, onFail: func(code int16) { resp.ErrorCode = code }})
}

// subscribedTopics reads the topics the members of a consumer group
// subscribe to from their protocol metadata.
func subscribedTopics(g *group) []string {
	var topics []string
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range meta.Topics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	return topics
}

// DeleteGroup deletes an empty group and its offsets (one group of a
// DeleteGroups request): the group is gone at once, and its tombstones are
// written. The answer, a DeleteGroupsResponse naming this group alone,
// waits for them to commit, so that a deletion acknowledged is a deletion
// a new coordinator replays. If the write fails, the log still holds the
// group: the coordinator is Diverged and is rebuilt from the log, and the
// answer carries the write's error.
func (c *Coordinator) DeleteGroup(now time.Time, token Token, name string) {
	defer c.assertInvariants()
	resp := kmsg.NewPtrDeleteGroupsResponse()
	rg := kmsg.NewDeleteGroupsResponseGroup()
	rg.Group = name
	resp.Groups = append(resp.Groups, rg)
	g := c.group(name)
	switch {
	case g == nil || g.state == Dead:
		resp.Groups[0].ErrorCode = kerr.GroupIDNotFound.Code
		c.respond(token, resp)
		return
	case g.state != Empty:
		resp.Groups[0].ErrorCode = kerr.NonEmptyGroup.Code
		c.respond(token, resp)
		return
	}
	records := []Record{{Key: groupKey(name)}}
	if g.consumer != nil {
		records = []Record{
			{Key: cgKey(cgTargetMetadataKeyVersion, name, "", false)},
			{Key: cgKey(cgPartitionMetadataKeyVersion, name, "", false)},
			{Key: cgKey(cgMetadataKeyVersion, name, "", false)},
		}
	}
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition - b.partition)
	})
	for _, tp := range tps {
		records = append(records, Record{Key: offsetKey(name, tp)})
	}
	g.state = Dead
	c.removeGroup(name)
	c.append(records, &appendWait{token: token, group: name, response: resp, onFail: func(code int16) {
		c.diverged = true
		resp.Groups[0].ErrorCode = code
	}})
}

// ListGroups lists the groups, optionally only those in the given states
// and of the given types ("classic", "consumer"; Kafka's names, any case;
// empty: all).
func (c *Coordinator) ListGroups(states, types []string) []kmsg.ListGroupsResponseGroup {
	var out []kmsg.ListGroupsResponseGroup
	for _, name := range c.names {
		g := c.groups[name]
		state, groupType := g.state.String(), "classic"
		if g.consumer != nil {
			state, groupType = g.consumer.stateName(), "consumer"
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return equalFold(s, state) }) {
			continue
		}
		if len(types) > 0 && !slices.ContainsFunc(types, func(s string) bool { return equalFold(s, groupType) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = name
		lg.ProtocolType = g.protocolType
		lg.GroupState = state
		lg.GroupType = groupType
		out = append(out, lg)
	}
	return out
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// DescribeGroup describes one group; an unknown group is Dead, as Kafka
// reports it.
func (c *Coordinator) DescribeGroup(name string) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = name
	g := c.group(name)
	if g == nil {
		dg.State = Dead.String()
		return dg
	}
	if g.consumer != nil {
		// As Kafka 4 answers DescribeGroups for a consumer-protocol
		// group: Dead, and from v6 GROUP_ID_NOT_FOUND (set by the
		// driver, which knows the version).
		dg.State = Dead.String()
		message := "Group " + name + " is not a classic group."
		dg.ErrorMessage = &message
		return dg
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	if g.state == Stable || g.state == CompletingRebalance {
		dg.Protocol = g.protocol
	}
	for _, m := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if g.state == Stable || g.state == CompletingRebalance {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
		}
		if g.state == Stable {
			dm.MemberAssignment = m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// IsConsumerGroup reports whether a group uses the consumer protocol.
func (c *Coordinator) IsConsumerGroup(name string) bool {
	g := c.group(name)
	return g != nil && g.consumer != nil
}

// GroupState reports a group's state and generation, for tests and the
// simulator's checks.
func (c *Coordinator) GroupState(name string) (State, int32, bool) {
	g := c.group(name)
	if g == nil {
		return Dead, 0, false
	}
	return g.state, g.generation, true
}

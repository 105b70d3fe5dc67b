package group

import (
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/mutant"
)

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeatRequest (v1
// semantics: the client makes up its member id). Joining is a heartbeat
// with epoch 0, leaving one with epoch -1 (or -2 for a static member that
// will be back). The answer waits until whatever the heartbeat changed is
// written, and until every earlier write of the group is too.
func (c *Coordinator) ConsumerGroupHeartbeat(now time.Time, token Token, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) {
	defer c.assertInvariants()
	fail := func(code int16, message string) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		if message != "" {
			resp.ErrorMessage = &message
		}
		c.respond(token, resp)
	}
	if c.diverged {
		fail(kerr.NotCoordinator.Code, "")
		return
	}
	if code, message := c.validateHeartbeat(req); code != 0 {
		fail(code, message)
		return
	}
	g := c.group(req.Group)
	if req.MemberEpoch < 0 {
		c.consumerLeave(now, token, g, req, fail)
		return
	}
	if g != nil && g.consumer == nil && len(g.members) > 0 {
		// A group is one kind or the other; a non-empty classic group
		// is not migrated (group.consumer.migration.policy=disabled).
		fail(kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
		return
	}
	if g != nil && g.state == Dead {
		fail(kerr.CoordinatorNotAvailable.Code, "")
		return
	}
	if g == nil {
		if req.MemberEpoch != joinEpoch {
			fail(kerr.GroupIDNotFound.Code, "Consumer group "+req.Group+" not found.")
			return
		}
		g = c.createGroup(req.Group, now)
	}
	if g.consumer == nil {
		// An empty classic group (or one that holds only offsets)
		// becomes a consumer group; its offsets stay.
		g.consumer = newConsumerGroup()
		g.protocolType, g.protocol, g.leader = "consumer", "", ""
		clear(g.pending)
		clear(g.static)
		g.state = Empty
	}
	c.consumerHeartbeat(now, token, g, req, clientID, clientHost, fail)
}

// regexBytesMax bounds a subscription regex: compiling and matching cost
// grows with it, and every topic is matched against every member's.
const regexBytesMax = 64 << 10

// validateHeartbeat checks what KIP-848 requires of a request before
// anything is looked up: INVALID_REQUEST for malformed ones.
func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	invalid := kerr.InvalidRequest.Code
	switch {
	case req.Group == "":
		return kerr.InvalidGroupID.Code, "GroupId can't be empty."
	case req.MemberID == "":
		return invalid, "MemberId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return invalid, "RackId can't be empty."
	case req.MemberEpoch < staticLeaveEpoch:
		return invalid, "MemberEpoch is invalid."
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return invalid, "InstanceId can't be null when leaving with epoch -2."
	case req.SubscribedTopicNames != nil && req.SubscribedTopicRegex != nil:
		return invalid, "SubscribedTopicNames and SubscribedTopicRegex can't both be set."
	}
	if req.MemberEpoch == joinEpoch {
		switch {
		case req.RebalanceTimeoutMillis <= 0:
			return invalid, "RebalanceTimeoutMs must be provided in first request."
		case req.Topics == nil || len(req.Topics) > 0:
			return invalid, "TopicPartitions must be empty when (re-)joining."
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return invalid, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request."
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != "" &&
		*req.ServerAssignor != AssignorUniform && *req.ServerAssignor != AssignorRange {
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if len(*req.SubscribedTopicRegex) > regexBytesMax {
			return kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex is longer than " + strconv.Itoa(regexBytesMax) + " bytes."
		}
		if _, err := compileRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, err.Error()
		}
	}
	return 0, ""
}

// consumerMemberFor finds (or creates, on a join) the member a heartbeat
// is from, fencing stale epochs and instance ids. created is a new
// member; replaced a static member back under a new member id, whose old
// member's tombstones are in records.
func (c *Coordinator) consumerMemberFor(now time.Time, g *group, req *kmsg.ConsumerGroupHeartbeatRequest,
	owned partitionSet) (m *consumerMember, created, replaced bool, records []Record, code int16) {
	cg := g.consumer
	m = cg.members[req.MemberID]
	if req.MemberEpoch != joinEpoch {
		switch {
		case m == nil:
			return nil, false, false, nil, kerr.UnknownMemberID.Code
		case req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID):
			return nil, false, false, nil, kerr.FencedInstanceID.Code
		case req.MemberEpoch > m.epoch:
			return nil, false, false, nil, kerr.FencedMemberEpoch.Code
		case req.MemberEpoch < m.epoch:
			// A member that lost our last answer may retry with its
			// previous epoch, as long as it owns nothing it was not
			// given.
			if req.MemberEpoch != m.previousEpoch || req.Topics == nil || !owned.subsetOf(m.assigned) {
				return nil, false, false, nil, kerr.FencedMemberEpoch.Code
			}
		}
		return m, false, false, nil, 0
	}
	if m != nil && req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		// A live member's id joining under an instance id it does not
		// hold: fenced, before it can take over another instance's
		// member (which would leave this member's partitions owned by
		// nobody's assignment).
		return nil, false, false, nil, kerr.FencedInstanceID.Code
	}
	if req.InstanceID != nil {
		if oldID, ok := cg.static[*req.InstanceID]; ok && oldID != req.MemberID && cg.members[oldID] == nil {
			delete(cg.static, *req.InstanceID) // a stale entry (a replayed log can leave one): nobody holds it
		} else if ok && oldID != req.MemberID {
			old := cg.members[oldID]
			if old.epoch != staticLeaveEpoch {
				return nil, false, false, nil, kerr.UnreleasedInstanceID.Code
			}
			// A static member is back under a new member id: it takes
			// over the old member's assignment and starts from epoch 0.
			nm := *old
			nm.id = req.MemberID
			nm.epoch, nm.previousEpoch = 0, 0
			nm.assigned, nm.revoking = nil, nil
			target := cg.target[oldID]
			assigned := old.assigned
			cg.setOwned(old, nil, nil)
			records = append(records,
				Record{Key: cgKey(cgCurrentMemberKeyVersion, g.name, oldID, true)},
				Record{Key: cgKey(cgTargetMemberKeyVersion, g.name, oldID, true)},
				Record{Key: cgKey(cgMemberMetadataKeyVersion, g.name, oldID, true)})
			cg.deleteMember(oldID)
			cg.addMember(&nm)
			cg.static[*req.InstanceID] = nm.id
			cg.setOwned(&nm, assigned, nil)
			if target != nil {
				cg.target[nm.id] = target
				records = append(records, Record{Key: cgKey(cgTargetMemberKeyVersion, g.name, nm.id, true), Value: cgTargetMemberValue(target)})
			}
			// Not a new member: the group epoch moves only if the
			// subscription differs from the instance's last one.
			return &nm, false, true, records, 0
		}
	}
	if m != nil {
		// A join with a known id: the member lost its state (or our
		// answer) and is admitted again in place. A static member that
		// had left (-2) starts again from epoch 0 with its assignment,
		// as one back under a new id would.
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return nil, false, false, nil, kerr.FencedInstanceID.Code
		}
		if m.epoch == staticLeaveEpoch {
			m.epoch, m.previousEpoch, m.state = 0, 0, memberStable
			return m, false, true, nil, 0
		}
		return m, false, false, nil, 0
	}
	if len(cg.members) >= c.config.GroupSizeMax {
		return nil, false, false, nil, kerr.GroupMaxSizeReached.Code
	}
	m = &consumerMember{id: req.MemberID, instanceID: req.InstanceID}
	cg.addMember(m)
	if req.InstanceID != nil {
		cg.static[*req.InstanceID] = m.id
	}
	return m, true, false, nil, 0
}

// updateSubscription applies a heartbeat's optional fields to a member;
// it reports whether the subscription changed (a new group epoch).
func updateSubscription(m *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) bool {
	changed := false
	m.clientID, m.clientHost = clientID, clientHost
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeoutMillis = req.RebalanceTimeoutMillis
	}
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		rack := *req.RackID
		m.rackID = &rack
	}
	if req.InstanceID != nil && m.instanceID == nil {
		instance := *req.InstanceID
		m.instanceID = &instance
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.subscribedTopicNames) {
			m.subscribedTopicNames = names
			changed = true
		}
		if m.subscribedTopicRegex != nil {
			m.subscribedTopicRegex, m.regex = nil, nil
			changed = true
		}
	}
	if req.SubscribedTopicRegex != nil {
		expr := *req.SubscribedTopicRegex
		if m.subscribedTopicRegex == nil || *m.subscribedTopicRegex != expr {
			m.subscribedTopicRegex, m.regex = nil, nil
			if expr != "" {
				m.subscribedTopicRegex = &expr
				m.regex, _ = compileRegex(expr) // validated already
			}
			changed = true
		}
		if len(m.subscribedTopicNames) > 0 {
			m.subscribedTopicNames = nil
			changed = true
		}
	}
	if req.ServerAssignor != nil {
		assignor := *req.ServerAssignor
		if m.serverAssignor == nil || *m.serverAssignor != assignor {
			m.serverAssignor = &assignor
			changed = true
		}
	}
	return changed
}

// ownedPartitions converts the partitions a heartbeat reports owned.
func ownedPartitions(req *kmsg.ConsumerGroupHeartbeatRequest) partitionSet {
	var owned partitionSet
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			owned = append(owned, topicPartitionID{TopicID(t.TopicID), p})
		}
	}
	return owned.normalize()
}

func (c *Coordinator) consumerHeartbeat(now time.Time, token Token, g *group, req *kmsg.ConsumerGroupHeartbeatRequest,
	clientID, clientHost string, fail func(int16, string)) {
	cg := g.consumer
	owned := ownedPartitions(req)
	m, created, replaced, records, code := c.consumerMemberFor(now, g, req, owned)
	if code != 0 {
		fail(code, "")
		return
	}
	before := m.current()
	metadataBefore := m.metadata()
	changed := updateSubscription(m, req, clientID, clientHost)
	m.sessionDeadline = now.Add(c.config.ConsumerSessionTimeout)
	if created || replaced || changed || !sameMetadata(metadataBefore, m.metadata()) {
		meta := m.metadata()
		records = append(records, Record{Key: cgKey(cgMemberMetadataKeyVersion, g.name, m.id, true), Value: meta.encode()})
	}
	g.state = Stable
	if created || changed {
		// Matching every topic against every subscription is left to
		// membership changes and UpdateTopics, not every heartbeat.
		records = c.maybeBumpForTopics(g, records, true)
	}
	if cg.epoch > cg.assignmentEpoch {
		records = c.newTarget(g, records)
	}
	if c.reconcileMember(now, g, m, owned, req.Topics != nil) || created || replaced {
		cur := m.current()
		records = append(records, Record{Key: cgKey(cgCurrentMemberKeyVersion, g.name, m.id, true), Value: cur.encode()})
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	id := m.id
	resp.MemberID = &id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.config.HeartbeatInterval / time.Millisecond)
	if req.MemberEpoch == joinEpoch || req.Topics != nil || !slices.Equal(before.assigned, m.assigned) {
		resp.Assignment = c.responseAssignment(m.assigned)
	}
	c.answerAfterWrites(g, token, resp, records)
}

func sameMetadata(a, b memberMetadata) bool {
	return equalPtr(a.instanceID, b.instanceID) && equalPtr(a.rackID, b.rackID) && a.clientID == b.clientID &&
		a.clientHost == b.clientHost && slices.Equal(a.subscribedTopicNames, b.subscribedTopicNames) &&
		equalPtr(a.subscribedTopicRegex, b.subscribedTopicRegex) && a.rebalanceTimeoutMillis == b.rebalanceTimeoutMillis &&
		equalPtr(a.serverAssignor, b.serverAssignor)
}

func equalPtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// reconcileMember reconciles one member; the mutant hands it its whole
// target at once, before the partitions' previous owners revoked them.
func (c *Coordinator) reconcileMember(now time.Time, g *group, m *consumerMember, owned partitionSet, ownedKnown bool) bool {
	cg := g.consumer
	if mutant.Active(mutant.AssignBeforeRevoke) && m.epoch != staticLeaveEpoch && m.epoch != cg.assignmentEpoch {
		before := m.current()
		target := slices.Clone(cg.target[m.id])
		for _, p := range target {
			cg.owners[p] = m.id
		}
		m.assigned, m.revoking = target, nil
		m.previousEpoch, m.epoch, m.state = m.epoch, cg.assignmentEpoch, memberStable
		return !sameCurrent(before, m.current())
	}
	return cg.reconcile(now, m, owned, ownedKnown)
}

// newTarget computes the target assignment of the group epoch and appends
// the records of every member whose target changed.
func (c *Coordinator) newTarget(g *group, records []Record) []Record {
	cg := g.consumer
	target := c.computeTarget(cg)
	for _, id := range cg.memberIDs {
		if !slices.Equal(target[id], cg.target[id]) || cg.target[id] == nil {
			records = append(records, Record{Key: cgKey(cgTargetMemberKeyVersion, g.name, id, true), Value: cgTargetMemberValue(target[id])})
		}
	}
	cg.target = target
	for _, id := range cg.memberIDs {
		if cg.target[id] == nil {
			cg.target[id] = partitionSet{}
		}
	}
	cg.assignmentEpoch = cg.epoch
	records = append(records, Record{Key: cgKey(cgTargetMetadataKeyVersion, g.name, "", false), Value: cgTargetMetadataValue(cg.assignmentEpoch)})
	return records
}

func (c *Coordinator) responseAssignment(set partitionSet) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for i := 0; i < len(set); {
		j := i
		for j < len(set) && set[j].topic == set[i].topic {
			j++
		}
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID = set[i].topic
		for _, p := range set[i:j] {
			t.Partitions = append(t.Partitions, p.partition)
		}
		a.Topics = append(a.Topics, t)
		i = j
	}
	return &a
}

// answerAfterWrites sends a response once records (if any) and every
// earlier write of the group are committed; a failed write answers with
// its error instead.
func (c *Coordinator) answerAfterWrites(g *group, token Token, resp *kmsg.ConsumerGroupHeartbeatResponse, records []Record) {
	onFail := func(code int16) {
		resp.ErrorCode = code
		resp.MemberID, resp.Assignment, resp.MemberEpoch = nil, nil, 0
	}
	if len(records) > 0 {
		c.consumerAppend(g, records, &appendWait{token: token, group: g.name, response: resp, onFail: onFail})
		return
	}
	if w := c.waits[g.consumer.inflight]; w != nil && g.consumer.inflight != 0 {
		w.then = append(w.then, func(code int16) {
			if code != 0 {
				onFail(code)
			}
			c.respond(token, resp)
		})
		return
	}
	c.respond(token, resp)
}

// consumerLeave handles a heartbeat with epoch -1 (leave) or -2 (a static
// member leaving for now: its partitions stay assigned to its instance
// until it returns or its session expires).
func (c *Coordinator) consumerLeave(now time.Time, token Token, g *group, req *kmsg.ConsumerGroupHeartbeatRequest, fail func(int16, string)) {
	if g == nil || g.consumer == nil {
		// As Kafka: a leave from a group that does not exist (or is
		// classic) is GROUP_ID_NOT_FOUND, which clients take as left.
		fail(kerr.GroupIDNotFound.Code, "Consumer group "+req.Group+" not found.")
		return
	}
	cg := g.consumer
	m := cg.members[req.MemberID]
	if req.InstanceID != nil {
		id, ok := cg.static[*req.InstanceID]
		switch {
		case !ok || cg.members[id] == nil:
			fail(kerr.UnknownMemberID.Code, "")
			return
		case id != req.MemberID:
			fail(kerr.FencedInstanceID.Code, "")
			return
		}
	}
	if m == nil {
		fail(kerr.UnknownMemberID.Code, "")
		return
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	id := m.id
	resp.MemberID = &id
	resp.MemberEpoch = req.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(c.config.HeartbeatInterval / time.Millisecond)
	var records []Record
	if req.MemberEpoch == staticLeaveEpoch {
		if m.epoch != staticLeaveEpoch {
			cg.setOwned(m, m.assigned, nil)
			m.previousEpoch, m.epoch = m.epoch, staticLeaveEpoch
			m.state, m.revokeDeadline = memberStable, time.Time{}
			cur := m.current()
			records = append(records, Record{Key: cgKey(cgCurrentMemberKeyVersion, g.name, m.id, true), Value: cur.encode()})
		}
	} else {
		records = c.fenceMember(g, m, records)
	}
	c.answerAfterWrites(g, token, resp, records)
}

// ConsumerGroupDescribe describes one group for ConsumerGroupDescribe:
// GROUP_ID_NOT_FOUND for a group that does not exist or is classic.
func (c *Coordinator) ConsumerGroupDescribe(name string) kmsg.ConsumerGroupDescribeResponseGroup {
	dg := kmsg.NewConsumerGroupDescribeResponseGroup()
	dg.Group = name
	g := c.group(name)
	if g == nil || g.state == Dead {
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		message := "Group " + name + " not found."
		dg.ErrorMessage = &message
		return dg
	}
	if g.consumer == nil {
		dg.ErrorCode = kerr.GroupIDNotFound.Code
		message := "Group " + name + " is not a consumer group."
		dg.ErrorMessage = &message
		return dg
	}
	cg := g.consumer
	dg.State = cg.stateName()
	dg.Epoch = cg.epoch
	dg.AssignmentEpoch = cg.assignmentEpoch
	dg.AssignorName = cg.assignor
	if dg.AssignorName == "" {
		dg.AssignorName = c.chooseAssignor(cg)
	}
	for _, id := range cg.memberIDs {
		m := cg.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
		dm.MemberEpoch = m.epoch
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.subscribedTopicNames)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		dm.SubscribedTopicRegex = m.subscribedTopicRegex
		dm.Assignment = c.describeAssignment(m.assigned)
		dm.TargetAssignment = c.describeAssignment(cg.target[id])
		dm.MemberType = 1 // consumer protocol (0 would be classic)
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

func (c *Coordinator) describeAssignment(set partitionSet) kmsg.Assignment {
	a := kmsg.NewAssignment()
	for i := 0; i < len(set); {
		j := i
		for j < len(set) && set[j].topic == set[i].topic {
			j++
		}
		t := kmsg.NewAssignmentTopicPartition()
		t.TopicID = set[i].topic
		t.Topic = c.topicIDs[set[i].topic]
		for _, p := range set[i:j] {
			t.Partitions = append(t.Partitions, p.partition)
		}
		a.TopicPartitions = append(a.TopicPartitions, t)
		i = j
	}
	return a
}

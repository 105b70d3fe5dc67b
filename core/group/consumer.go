package group

import (
	"bytes"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Consumer-protocol groups (KIP-848). The coordinator computes the
// assignment itself; members heartbeat their subscription and the
// partitions they own, and are told the partitions they may own.
//
// Three epochs order everything. The group epoch is bumped by every change
// that needs a new assignment (a member joins, leaves or changes its
// subscription; a subscribed topic is created, deleted or grows). The
// target assignment is computed for one group epoch, its assignment epoch.
// Each member has its own member epoch and moves to the target's epoch by
// reconciliation: a member first revokes what the target takes from it
// (its epoch does not move until it has), and it is only given a
// partition once the partition's previous owner has revoked it. So no
// partition is in two members' current assignments at once, whatever the
// clients do in between.

// TopicID is a topic's id, as Kafka's uuid.
type TopicID [16]byte

// TopicInfo is a topic as the coordinator sees it: the driver hands over
// every topic of the metadata image with UpdateTopics.
type TopicInfo struct {
	Name       string
	ID         TopicID
	Partitions int32
}

// Assignors, by the names clients ask for in ServerAssignor.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// Member epochs with a meaning of their own (KIP-848).
const (
	joinEpoch        int32 = 0
	leaveEpoch       int32 = -1
	staticLeaveEpoch int32 = -2
)

// memberState is a member's reconciliation state, with Kafka's values
// (MemberState.java), as they are written to CurrentMemberAssignment.
type memberState int8

const (
	memberStable     memberState = 0 // it has its target assignment's epoch
	memberUnrevoked  memberState = 1 // it must revoke partitions before moving on
	memberUnreleased memberState = 2 // it waits for partitions others still own
)

// topicPartitionID is a partition named by topic id, as KIP-848 names
// them on the wire and in records.
type topicPartitionID struct {
	topic     TopicID
	partition int32
}

func compareTP(a, b topicPartitionID) int {
	if c := bytes.Compare(a.topic[:], b.topic[:]); c != 0 {
		return c
	}
	return int(a.partition) - int(b.partition)
}

// partitionSet is a sorted set of partitions without duplicates.
type partitionSet []topicPartitionID

func (s partitionSet) normalize() partitionSet {
	slices.SortFunc(s, compareTP)
	return slices.Compact(s)
}

func (s partitionSet) contains(p topicPartitionID) bool {
	_, ok := slices.BinarySearchFunc(s, p, compareTP)
	return ok
}

// intersect returns s ∩ o; minus returns s \ o.
func (s partitionSet) intersect(o partitionSet) partitionSet {
	var out partitionSet
	for _, p := range s {
		if o.contains(p) {
			out = append(out, p)
		}
	}
	return out
}

func (s partitionSet) minus(o partitionSet) partitionSet {
	var out partitionSet
	for _, p := range s {
		if !o.contains(p) {
			out = append(out, p)
		}
	}
	return out
}

func (s partitionSet) overlaps(o partitionSet) bool {
	for _, p := range s {
		if o.contains(p) {
			return true
		}
	}
	return false
}

func (s partitionSet) subsetOf(o partitionSet) bool {
	for _, p := range s {
		if !o.contains(p) {
			return false
		}
	}
	return true
}

// consumerMember is one member of a consumer-protocol group.
type consumerMember struct {
	id                     string
	instanceID, rackID     *string
	clientID, clientHost   string
	subscribedTopicNames   []string // sorted
	subscribedTopicRegex   *string
	regex                  *regexp.Regexp // compiled subscribedTopicRegex; nil when none or invalid
	rebalanceTimeoutMillis int32
	serverAssignor         *string

	epoch, previousEpoch int32
	state                memberState
	// assigned are the partitions the member may own; revoking are those
	// it must give up before its epoch moves on. Both count as owned.
	assigned, revoking partitionSet
	// assignedAt is the member epoch at which each partition it owns was
	// given to it (KIP-1251): a commit with an older epoch than the
	// member's is still the owner's if every partition it names was
	// given at or before that epoch. Not persisted: a replayed member
	// counts its partitions as given at its current epoch, which only
	// refuses more.
	assignedAt map[topicPartitionID]int32

	sessionDeadline time.Time
	// revokeDeadline is when a member that has not revoked what it was
	// asked to is fenced (its rebalance timeout); zero unless Unrevoked.
	revokeDeadline time.Time
}

func (m *consumerMember) metadata() memberMetadata {
	return memberMetadata{instanceID: m.instanceID, rackID: m.rackID, clientID: m.clientID, clientHost: m.clientHost,
		subscribedTopicNames: m.subscribedTopicNames, subscribedTopicRegex: m.subscribedTopicRegex,
		rebalanceTimeoutMillis: m.rebalanceTimeoutMillis, serverAssignor: m.serverAssignor}
}

func (m *consumerMember) current() currentAssignment {
	return currentAssignment{epoch: m.epoch, previousEpoch: m.previousEpoch, state: m.state, assigned: m.assigned, revoking: m.revoking}
}

// subscribes reports whether the member subscribes to a topic, by name or
// by its regular expression (Go's RE2 syntax, matched against the whole
// name as Kafka's RE2J is).
func (m *consumerMember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(m.subscribedTopicNames, topic); ok {
		return true
	}
	return m.regex != nil && m.regex.MatchString(topic)
}

// noteAssigned records the epoch of partitions newly owned and forgets
// those no longer owned.
func (m *consumerMember) noteAssigned() {
	if m.assignedAt == nil {
		m.assignedAt = map[topicPartitionID]int32{}
	}
	for p := range m.assignedAt {
		if !m.assigned.contains(p) && !m.revoking.contains(p) {
			delete(m.assignedAt, p)
		}
	}
	for _, p := range m.assigned {
		if _, ok := m.assignedAt[p]; !ok {
			m.assignedAt[p] = m.epoch
		}
	}
}

// compileRegex compiles a subscription regex anchored at both ends.
func compileRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// consumerGroup is the consumer-protocol part of a group. A group is
// either classic (consumer == nil) or consumer; offsets are kept by the
// group either way.
type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	members         map[string]*consumerMember
	memberIDs       []string // sorted: every iteration that reaches an output goes through it
	target          map[string]partitionSet
	static          map[string]string // group.instance.id -> member id
	// owners maps each partition in some member's assigned or revoking
	// set to that member.
	owners map[topicPartitionID]string
	// subscribedTopics is the metadata of every topic some member
	// subscribes to, sorted by name, as of the last group epoch bump
	// (ConsumerGroupPartitionMetadata): a change bumps the epoch.
	subscribedTopics []topicMeta
	// assignor is the assignor of the last target assignment.
	assignor string
	// inflight is the newest append of this group not yet committed; a
	// heartbeat that writes nothing still waits for it, so no member is
	// told anything the log does not hold yet.
	inflight uint64
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: map[string]*consumerMember{}, target: map[string]partitionSet{},
		static: map[string]string{}, owners: map[topicPartitionID]string{}}
}

func (cg *consumerGroup) addMember(m *consumerMember) {
	cg.members[m.id] = m
	i := sort.SearchStrings(cg.memberIDs, m.id)
	if i == len(cg.memberIDs) || cg.memberIDs[i] != m.id {
		cg.memberIDs = slices.Insert(cg.memberIDs, i, m.id)
	}
}

func (cg *consumerGroup) deleteMember(id string) {
	m := cg.members[id]
	if m == nil {
		return
	}
	cg.setOwned(m, nil, nil)
	delete(cg.members, id)
	delete(cg.target, id)
	if i := sort.SearchStrings(cg.memberIDs, id); i < len(cg.memberIDs) && cg.memberIDs[i] == id {
		cg.memberIDs = slices.Delete(cg.memberIDs, i, i+1)
	}
	if m.instanceID != nil && cg.static[*m.instanceID] == id {
		delete(cg.static, *m.instanceID)
	}
}

// setOwned replaces a member's assigned and revoking partitions, keeping
// the owners index in step.
func (cg *consumerGroup) setOwned(m *consumerMember, assigned, revoking partitionSet) {
	for _, p := range m.assigned {
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	}
	for _, p := range m.revoking {
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	}
	m.assigned, m.revoking = assigned, revoking
	for _, p := range assigned {
		cg.owners[p] = m.id
	}
	for _, p := range revoking {
		cg.owners[p] = m.id
	}
}

// free reports whether a partition may be given to member id: nobody else
// owns it.
func (cg *consumerGroup) free(p topicPartitionID, id string) bool {
	owner, ok := cg.owners[p]
	return !ok || owner == id
}

// stateName is the group's state as Kafka names consumer group states.
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.assignmentEpoch < cg.epoch:
		return "Assigning"
	}
	for _, id := range cg.memberIDs {
		if m := cg.members[id]; m.epoch != cg.assignmentEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// reconcile moves a member towards the target assignment, as KIP-848's
// CurrentAssignmentBuilder: owned is what the member reported it owns
// (nil: it did not say). It reports whether the member changed.
func (cg *consumerGroup) reconcile(now time.Time, m *consumerMember, owned partitionSet, ownedKnown bool) bool {
	if m.epoch == staticLeaveEpoch {
		return false
	}
	before := m.current()
	switch m.state {
	case memberUnrevoked:
		// The member moves on only once it reports that it no longer
		// owns any partition it was asked to revoke.
		if !ownedKnown || owned.overlaps(m.revoking) {
			return false
		}
		cg.setOwned(m, m.assigned, nil) // released: others may have them now
		// Forget when the released partitions were given: the target
		// may give one straight back, and then it is given at the new
		// epoch (a commit from before the release is stale).
		m.noteAssigned()
		m.state, m.revokeDeadline = memberStable, time.Time{}
		cg.nextAssignment(now, m, max(m.epoch+1, cg.assignmentEpoch), owned, ownedKnown)
	case memberUnreleased, memberStable:
		if m.state == memberStable && m.epoch >= cg.assignmentEpoch {
			return false
		}
		cg.nextAssignment(now, m, cg.assignmentEpoch, owned, ownedKnown)
	}
	after := m.current()
	return !sameCurrent(before, after)
}

func sameCurrent(a, b currentAssignment) bool {
	return a.epoch == b.epoch && a.previousEpoch == b.previousEpoch && a.state == b.state &&
		slices.Equal(a.assigned, b.assigned) && slices.Equal(a.revoking, b.revoking)
}

// nextAssignment computes the member's next state towards its target at
// epoch next: keep what the target keeps; revoke what it takes away, and
// stay at the current epoch until that is done; otherwise move to next,
// taking the new partitions nobody else owns and waiting for the rest.
// A member whose heartbeat (owned) already shows none of the partitions to
// revoke has nothing to revoke: otherwise a client that dropped them on
// its own (a deleted topic) would see no change to act on and wait for
// its rebalance timeout.
func (cg *consumerGroup) nextAssignment(now time.Time, m *consumerMember, next int32, owned partitionSet, ownedKnown bool) {
	target := cg.target[m.id]
	current := append(slices.Clone(m.assigned), m.revoking...).normalize() // revoking is empty but after a replay or a mutant
	kept := current.intersect(target)
	revoke := current.minus(target)
	if len(revoke) > 0 && (!ownedKnown || owned.overlaps(revoke)) {
		// A new revocation: the member has its rebalance timeout to
		// report it done.
		cg.setOwned(m, kept, revoke)
		m.revokeDeadline = now.Add(time.Duration(m.rebalanceTimeoutMillis) * time.Millisecond)
		m.state = memberUnrevoked
		return
	}
	assigned := kept
	unreleased := false
	for _, p := range target.minus(kept) {
		if cg.free(p, m.id) {
			assigned = append(assigned, p)
		} else {
			unreleased = true
		}
	}
	cg.setOwned(m, assigned.normalize(), nil)
	if m.epoch < next { // a member epoch never goes back
		m.previousEpoch, m.epoch = m.epoch, next
	}
	m.noteAssigned()
	m.revokeDeadline = time.Time{}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
}

// subscribedTopicMeta is the metadata of every existing topic some member
// subscribes to, sorted by name.
func (c *Coordinator) subscribedTopicMeta(cg *consumerGroup) []topicMeta {
	var out []topicMeta
	for _, name := range c.topicNames {
		for _, id := range cg.memberIDs {
			if cg.members[id].subscribes(name) {
				t := c.topics[name]
				out = append(out, topicMeta{id: t.ID, name: t.Name, partitions: t.Partitions})
				break
			}
		}
	}
	return out
}

// UpdateTopics replaces the coordinator's view of the cluster's topics.
// A consumer group whose subscribed topics changed (created, deleted,
// grown) gets a new group epoch, and so a new assignment.
func (c *Coordinator) UpdateTopics(now time.Time, topics []TopicInfo) {
	defer c.assertInvariants()
	if c.topics == nil {
		c.topics = map[string]TopicInfo{}
		c.topicIDs = map[TopicID]string{}
	}
	clear(c.topics)
	clear(c.topicIDs)
	c.topicNames = c.topicNames[:0]
	for _, t := range topics {
		c.topics[t.Name] = t
		c.topicIDs[t.ID] = t.Name
		c.topicNames = append(c.topicNames, t.Name)
	}
	sort.Strings(c.topicNames)
	for _, name := range c.names {
		g := c.groups[name]
		if g.consumer == nil || len(g.consumer.members) == 0 {
			continue
		}
		c.touch(name)
		var records []Record
		records = c.maybeBumpForTopics(g, records, false)
		if len(records) > 0 {
			c.consumerAppend(g, records, nil)
		}
	}
}

// maybeBumpForTopics bumps the group epoch if the subscribed topics'
// metadata changed (or bump is asked for), appending the records.
func (c *Coordinator) maybeBumpForTopics(g *group, records []Record, bump bool) []Record {
	cg := g.consumer
	meta := c.subscribedTopicMeta(cg)
	if !slices.Equal(meta, cg.subscribedTopics) {
		cg.subscribedTopics = meta
		bump = true
		records = append(records, Record{Key: cgKey(cgPartitionMetadataKeyVersion, g.name, "", false),
			Value: encodePartitionMetadata(meta)})
	}
	if bump {
		cg.epoch++
		records = append(records, Record{Key: cgKey(cgMetadataKeyVersion, g.name, "", false), Value: cgMetadataValue(cg.epoch)})
	}
	return records
}

// consumerAppend writes a consumer group's records; w (may be nil) waits
// for them.
func (c *Coordinator) consumerAppend(g *group, records []Record, w *appendWait) uint64 {
	if w == nil {
		w = &appendWait{group: g.name}
	}
	w.consumer = true
	id := c.append(records, w)
	g.consumer.inflight = id
	return id
}

// fenceMember removes a member from its group (left, session expired,
// revocation timed out): its partitions are free, the group epoch moves
// on, and the tombstones are appended to records.
func (c *Coordinator) fenceMember(g *group, m *consumerMember, records []Record) []Record {
	cg := g.consumer
	records = append(records,
		Record{Key: cgKey(cgCurrentMemberKeyVersion, g.name, m.id, true)},
		Record{Key: cgKey(cgTargetMemberKeyVersion, g.name, m.id, true)},
		Record{Key: cgKey(cgMemberMetadataKeyVersion, g.name, m.id, true)})
	cg.deleteMember(m.id)
	records = c.maybeBumpForTopics(g, records, true)
	if len(cg.members) == 0 {
		g.state = Empty
	}
	return records
}

// tickConsumer expires sessions and revocations of one consumer group.
func (c *Coordinator) tickConsumer(now time.Time, g *group) {
	cg := g.consumer
	var records []Record
	for _, id := range slices.Clone(cg.memberIDs) {
		m := cg.members[id]
		expired := !now.Before(m.sessionDeadline)
		stuck := m.state == memberUnrevoked && !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline)
		if expired || stuck {
			records = c.fenceMember(g, m, records)
		}
	}
	if len(records) > 0 {
		c.consumerAppend(g, records, nil)
	}
}

func (c *Coordinator) consumerDeadline(g *group, earlier func(time.Time)) {
	for _, id := range g.consumer.memberIDs {
		m := g.consumer.members[id]
		earlier(m.sessionDeadline)
		if m.state == memberUnrevoked {
			earlier(m.revokeDeadline)
		}
	}
}

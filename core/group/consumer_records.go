package group

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The records of consumer-protocol groups (KIP-848), in Kafka's formats
// (group-coordinator/src/main/resources/common/message/ConsumerGroup*.json).
// kmsg has no types for them, so they are encoded here by hand. A key is
// its version (the record type) as an int16 followed by non-flexible
// fields (int16-length strings); a value is version 0 as an int16 followed
// by flexible fields (compact strings and arrays, uvarint lengths plus one,
// and a tagged-field section after every struct). Unknown tagged fields
// are skipped on read; none are written.
const (
	cgMetadataKeyVersion          = 3 // ConsumerGroupMetadataKey: group
	cgPartitionMetadataKeyVersion = 4 // ConsumerGroupPartitionMetadataKey: group
	cgMemberMetadataKeyVersion    = 5 // ConsumerGroupMemberMetadataKey: group, member
	cgTargetMetadataKeyVersion    = 6 // ConsumerGroupTargetAssignmentMetadataKey: group
	cgTargetMemberKeyVersion      = 7 // ConsumerGroupTargetAssignmentMemberKey: group, member
	cgCurrentMemberKeyVersion     = 8 // ConsumerGroupCurrentMemberAssignmentKey: group, member
)

// errRecord is the one error every malformed record decodes to, wrapped
// with where it went wrong.
var errRecord = errors.New("malformed consumer group record")

// recordArrayLenMax bounds an array length read from a record before
// anything is allocated for it: no array element takes less than one
// byte, so a length beyond the bytes left is a lie.
func recordArrayLenMax(d *decoder) int { return len(d.b) }

// cgKey encodes a key of one of the consumer group record types.
func cgKey(version int16, groupName, memberID string, withMember bool) []byte {
	b := make([]byte, 0, 6+len(groupName)+len(memberID))
	b = appendInt16(b, version)
	b = appendInt16String(b, groupName)
	if withMember {
		b = appendInt16String(b, memberID)
	}
	return b
}

// cgKeyFields decodes a consumer group key's group and member (empty for
// the group-level types).
func cgKeyFields(key []byte) (version int16, groupName, memberID string, err error) {
	d := decoder{b: key}
	version = d.int16()
	groupName = d.int16String()
	switch version {
	case cgMemberMetadataKeyVersion, cgTargetMemberKeyVersion, cgCurrentMemberKeyVersion:
		memberID = d.int16String()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing key bytes", len(d.b))
	}
	return version, groupName, memberID, d.err
}

func appendInt16(b []byte, v int16) []byte { return append(b, byte(v>>8), byte(v)) }
func appendInt32(b []byte, v int32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func appendInt16String(b []byte, s string) []byte {
	return append(appendInt16(b, int16(len(s))), s...)
}
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
func appendCompactString(b []byte, s string) []byte {
	return append(appendUvarint(b, uint64(len(s))+1), s...)
}
func appendCompactNullableString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendCompactString(b, *s)
}
func appendCompactArrayLen(b []byte, n int) []byte { return appendUvarint(b, uint64(n)+1) }
func appendNoTags(b []byte) []byte                 { return append(b, 0) }

// decoder reads Kafka's primitive types, remembering the first error:
// every read after it returns a zero value, so callers check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errRecord, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("%d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) int8() int8 {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (d *decoder) int16() int16 {
	b := d.take(2)
	if b == nil {
		return 0
	}
	return int16(b[0])<<8 | int16(b[1])
}

func (d *decoder) int32() int32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return int32(b[0])<<24 | int32(b[1])<<16 | int32(b[2])<<8 | int32(b[3])
}

func (d *decoder) uuid() TopicID {
	var id TopicID
	copy(id[:], d.take(16))
	return id
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b := d.take(1)
		if b == nil {
			return 0
		}
		v |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			return v
		}
	}
	d.fail("uvarint overflows")
	return 0
}

func (d *decoder) int16String() string {
	n := d.int16()
	if n < 0 {
		d.fail("null string in a key")
		return ""
	}
	return string(d.take(int(n)))
}

// compactLen reads a compact length: -1 for null.
func (d *decoder) compactLen() int {
	v := d.uvarint()
	if d.err != nil {
		return 0
	}
	if v > uint64(math.MaxInt32) {
		d.fail("length %d", v)
		return 0
	}
	return int(v) - 1
}

func (d *decoder) compactString() string {
	n := d.compactLen()
	if n < 0 {
		d.fail("null where a string is required")
		return ""
	}
	return string(d.take(n))
}

func (d *decoder) compactNullableString() *string {
	n := d.compactLen()
	if n < 0 || d.err != nil {
		return nil
	}
	s := string(d.take(n))
	return &s
}

// arrayLen reads a compact array length, refusing null and lengths that
// cannot fit in what is left.
func (d *decoder) arrayLen() int {
	n := d.compactLen()
	switch {
	case d.err != nil:
		return 0
	case n < 0:
		d.fail("null array")
		return 0
	case n > recordArrayLenMax(d):
		d.fail("array of %d in %d bytes", n, len(d.b))
		return 0
	}
	return n
}

func (d *decoder) compactStrings() []string {
	n := d.arrayLen()
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.compactString())
	}
	return out
}

func (d *decoder) int32s() []int32 {
	n := d.arrayLen()
	if n > len(d.b)/4 {
		d.fail("array of %d int32 in %d bytes", n, len(d.b))
		return nil
	}
	out := make([]int32, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.int32())
	}
	return out
}

// skipTags skips a tagged-field section.
func (d *decoder) skipTags() {
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		d.uvarint() // tag
		size := d.uvarint()
		if size > uint64(len(d.b)) {
			d.fail("tagged field of %d bytes", size)
			return
		}
		d.take(int(size))
	}
}

// valueVersion checks a value's version: 0 is the only one defined.
func (d *decoder) valueVersion() {
	if v := d.int16(); d.err == nil && v != 0 {
		d.fail("value version %d", v)
	}
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// cgMetadataValue is ConsumerGroupMetadataValue: the group epoch.
func cgMetadataValue(epoch int32) []byte {
	b := appendInt16(make([]byte, 0, 8), 0)
	b = appendInt32(b, epoch)
	return appendNoTags(b)
}

func decodeCGMetadataValue(v []byte) (int32, error) {
	d := decoder{b: v}
	d.valueVersion()
	epoch := d.int32()
	d.skipTags()
	return epoch, d.done()
}

// memberMetadata is ConsumerGroupMemberMetadataValue.
type memberMetadata struct {
	instanceID, rackID     *string
	clientID, clientHost   string
	subscribedTopicNames   []string
	subscribedTopicRegex   *string
	rebalanceTimeoutMillis int32
	serverAssignor         *string
}

func (m *memberMetadata) encode() []byte {
	b := appendInt16(make([]byte, 0, 64), 0)
	b = appendCompactNullableString(b, m.instanceID)
	b = appendCompactNullableString(b, m.rackID)
	b = appendCompactString(b, m.clientID)
	b = appendCompactString(b, m.clientHost)
	b = appendCompactArrayLen(b, len(m.subscribedTopicNames))
	for _, t := range m.subscribedTopicNames {
		b = appendCompactString(b, t)
	}
	b = appendCompactNullableString(b, m.subscribedTopicRegex)
	b = appendInt32(b, m.rebalanceTimeoutMillis)
	b = appendCompactNullableString(b, m.serverAssignor)
	return appendNoTags(b)
}

func decodeMemberMetadata(v []byte) (memberMetadata, error) {
	d := decoder{b: v}
	var m memberMetadata
	d.valueVersion()
	m.instanceID = d.compactNullableString()
	m.rackID = d.compactNullableString()
	m.clientID = d.compactString()
	m.clientHost = d.compactString()
	m.subscribedTopicNames = d.compactStrings()
	m.subscribedTopicRegex = d.compactNullableString()
	m.rebalanceTimeoutMillis = d.int32()
	m.serverAssignor = d.compactNullableString()
	d.skipTags() // tag 0, ClassicMemberMetadata: Cairn has no classic members in consumer groups
	return m, d.done()
}

// topicMeta is one topic of ConsumerGroupPartitionMetadataValue, as
// Kafka 4.0 writes it: topic id, name and partition count (its per-partition
// racks are deprecated and written empty; its early Epoch field is gone).
type topicMeta struct {
	id         TopicID
	name       string
	partitions int32
}

func encodePartitionMetadata(topics []topicMeta) []byte {
	b := appendInt16(make([]byte, 0, 16+32*len(topics)), 0)
	b = appendCompactArrayLen(b, len(topics))
	for _, t := range topics {
		b = append(b, t.id[:]...)
		b = appendCompactString(b, t.name)
		b = appendInt32(b, t.partitions)
		b = appendCompactArrayLen(b, 0) // PartitionMetadata (racks): not used
		b = appendNoTags(b)
	}
	return appendNoTags(b)
}

func decodePartitionMetadata(v []byte) ([]topicMeta, error) {
	d := decoder{b: v}
	d.valueVersion()
	n := d.arrayLen()
	topics := make([]topicMeta, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var t topicMeta
		t.id = d.uuid()
		t.name = d.compactString()
		t.partitions = d.int32()
		racks := d.arrayLen()
		for j := 0; j < racks && d.err == nil; j++ {
			d.int32()
			d.compactStrings()
			d.skipTags()
		}
		d.skipTags()
		topics = append(topics, t)
	}
	d.skipTags()
	return topics, d.done()
}

// cgTargetMetadataValue is ConsumerGroupTargetAssignmentMetadataValue.
func cgTargetMetadataValue(epoch int32) []byte { return cgMetadataValue(epoch) }

func decodeTargetMetadataValue(v []byte) (int32, error) { return decodeCGMetadataValue(v) }

// appendPartitions writes a sorted partition set as Kafka's
// TopicPartitions array: one entry per topic, partitions in order.
func appendPartitions(b []byte, set partitionSet) []byte {
	topics := 0
	for i := range set {
		if i == 0 || set[i].topic != set[i-1].topic {
			topics++
		}
	}
	b = appendCompactArrayLen(b, topics)
	for i := 0; i < len(set); {
		j := i
		for j < len(set) && set[j].topic == set[i].topic {
			j++
		}
		b = append(b, set[i].topic[:]...)
		b = appendCompactArrayLen(b, j-i)
		for _, p := range set[i:j] {
			b = appendInt32(b, p.partition)
		}
		b = appendNoTags(b)
		i = j
	}
	return b
}

func (d *decoder) partitions() partitionSet {
	n := d.arrayLen()
	var out partitionSet
	for i := 0; i < n && d.err == nil; i++ {
		id := d.uuid()
		for _, p := range d.int32s() {
			out = append(out, topicPartitionID{id, p})
		}
		d.skipTags()
	}
	return out.normalize()
}

// cgTargetMemberValue is ConsumerGroupTargetAssignmentMemberValue.
func cgTargetMemberValue(set partitionSet) []byte {
	b := appendInt16(make([]byte, 0, 8+24*len(set)), 0)
	b = appendPartitions(b, set)
	return appendNoTags(b)
}

func decodeTargetMemberValue(v []byte) (partitionSet, error) {
	d := decoder{b: v}
	d.valueVersion()
	set := d.partitions()
	d.skipTags()
	return set, d.done()
}

// currentAssignment is ConsumerGroupCurrentMemberAssignmentValue.
type currentAssignment struct {
	epoch, previousEpoch int32
	state                memberState
	assigned, revoking   partitionSet
}

func (a *currentAssignment) encode() []byte {
	b := appendInt16(make([]byte, 0, 16+24*(len(a.assigned)+len(a.revoking))), 0)
	b = appendInt32(b, a.epoch)
	b = appendInt32(b, a.previousEpoch)
	b = append(b, byte(a.state))
	b = appendPartitions(b, a.assigned)
	b = appendPartitions(b, a.revoking)
	return appendNoTags(b)
}

func decodeCurrentAssignment(v []byte) (currentAssignment, error) {
	d := decoder{b: v}
	var a currentAssignment
	d.valueVersion()
	a.epoch = d.int32()
	a.previousEpoch = d.int32()
	a.state = memberState(d.int8())
	a.assigned = d.partitions()
	a.revoking = d.partitions()
	d.skipTags()
	if d.err == nil && a.state != memberStable && a.state != memberUnrevoked && a.state != memberUnreleased {
		d.fail("member state %d", a.state)
	}
	return a, d.done()
}

// replayConsumer applies one consumer group record read back from the
// partition. Members restored get a full session from now.
func (c *Coordinator) replayConsumer(now time.Time, key, value []byte) error {
	version, groupName, memberID, err := cgKeyFields(key)
	if err != nil {
		return err
	}
	g := c.group(groupName)
	if value == nil {
		if g == nil || g.consumer == nil {
			return nil
		}
		cg := g.consumer
		switch version {
		case cgMetadataKeyVersion:
			// The group was deleted (its offsets' tombstones follow).
			c.removeGroup(groupName)
		case cgPartitionMetadataKeyVersion:
			cg.subscribedTopics = nil
		case cgMemberMetadataKeyVersion:
			cg.deleteMember(memberID)
		case cgTargetMetadataKeyVersion:
			cg.assignmentEpoch = 0
		case cgTargetMemberKeyVersion:
			delete(cg.target, memberID)
		case cgCurrentMemberKeyVersion:
			if m := cg.members[memberID]; m != nil {
				cg.setOwned(m, nil, nil)
			}
		}
		c.replayedState(g)
		return nil
	}
	if g == nil {
		g = c.createGroup(groupName, now)
	}
	if g.consumer == nil {
		// A consumer group record after classic metadata: the group
		// was converted while empty.
		g.consumer = newConsumerGroup()
		g.members = nil
		clear(g.static)
		clear(g.pending)
		g.protocolType, g.protocol, g.leader, g.generation = "consumer", "", "", 0
	}
	cg := g.consumer
	member := func() *consumerMember {
		m := cg.members[memberID]
		if m == nil {
			m = &consumerMember{id: memberID}
			cg.addMember(m)
		}
		m.sessionDeadline = now.Add(c.config.ConsumerSessionTimeout)
		return m
	}
	switch version {
	case cgMetadataKeyVersion:
		epoch, err := decodeCGMetadataValue(value)
		if err != nil {
			return err
		}
		cg.epoch = epoch
	case cgPartitionMetadataKeyVersion:
		topics, err := decodePartitionMetadata(value)
		if err != nil {
			return err
		}
		cg.subscribedTopics = topics
	case cgMemberMetadataKeyVersion:
		md, err := decodeMemberMetadata(value)
		if err != nil {
			return err
		}
		m := member()
		m.instanceID, m.rackID, m.clientID, m.clientHost = md.instanceID, md.rackID, md.clientID, md.clientHost
		m.subscribedTopicNames = slices.Compact(slices.Sorted(slices.Values(md.subscribedTopicNames)))
		m.subscribedTopicRegex, m.regex = md.subscribedTopicRegex, nil
		if md.subscribedTopicRegex != nil {
			m.regex, _ = compileRegex(*md.subscribedTopicRegex) // an invalid one matches nothing
		}
		m.rebalanceTimeoutMillis, m.serverAssignor = md.rebalanceTimeoutMillis, md.serverAssignor
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
	case cgTargetMetadataKeyVersion:
		epoch, err := decodeTargetMetadataValue(value)
		if err != nil {
			return err
		}
		cg.assignmentEpoch = epoch
	case cgTargetMemberKeyVersion:
		set, err := decodeTargetMemberValue(value)
		if err != nil {
			return err
		}
		cg.target[memberID] = set
	case cgCurrentMemberKeyVersion:
		a, err := decodeCurrentAssignment(value)
		if err != nil {
			return err
		}
		if err := checkReplayedAssignment(cg, memberID, a); err != nil {
			return fmt.Errorf("consumer group %q: %w", groupName, err)
		}
		m := member()
		m.epoch, m.previousEpoch, m.state = a.epoch, a.previousEpoch, a.state
		cg.setOwned(m, a.assigned, a.revoking)
		m.assignedAt = nil
		m.noteAssigned()
		m.revokeDeadline = time.Time{}
		if m.state == memberUnrevoked {
			m.revokeDeadline = now.Add(time.Duration(max(m.rebalanceTimeoutMillis, 0)) * time.Millisecond)
		}
	}
	c.replayedState(g)
	return nil
}

// checkReplayedAssignment refuses a member's assignment record that no
// coordinator writes: a partition twice, or one another member still owns
// (a coordinator records the revocation first, so no log, compacted or
// not, holds both). Epochs are not compared with the group's: in a
// compacted log a member's record may come before the group's newer epoch.
func checkReplayedAssignment(cg *consumerGroup, memberID string, a currentAssignment) error {
	seen := make(partitionSet, 0, len(a.assigned)+len(a.revoking))
	for _, set := range []partitionSet{a.assigned, a.revoking} {
		for _, p := range set {
			if slices.Contains(seen, p) {
				return fmt.Errorf("member %q holds %v twice", memberID, p)
			}
			if owner, ok := cg.owners[p]; ok && owner != memberID {
				return fmt.Errorf("member %q holds %v, which %q owns", memberID, p, owner)
			}
			seen = append(seen, p)
		}
	}
	return nil
}

// replayedState keeps a replayed consumer group's state in step with its
// members.
func (c *Coordinator) replayedState(g *group) {
	if g.consumer == nil {
		return
	}
	g.state = Stable
	if len(g.consumer.members) == 0 {
		g.state = Empty
	}
}

package group

import (
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record versions written: OffsetCommitKey v1 with OffsetCommitValue v3
// (leader epoch), GroupMetadataKey v2 with GroupMetadataValue v3 (static
// members), as Kafka 2.3 and later write them.
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
)

func offsetKey(groupName string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: groupName, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetRecord(groupName string, tp topicPartition, o committed) Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.timestamp
	return Record{Key: offsetKey(groupName, tp), Value: v.AppendTo(nil)}
}

func groupKey(name string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: name}
	return k.AppendTo(nil)
}

// groupRecord is the group's metadata as of now: generation, protocol,
// leader, and every member with its subscription and assignment.
func (c *Coordinator) groupRecord(g *group, now time.Time) Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		protocol := g.protocol
		v.Protocol = &protocol
	}
	if g.leader != "" {
		leader := g.leader
		v.Leader = &leader
	}
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.name), Value: v.AppendTo(nil)}
}

// Replay applies one record read back from the partition, in log order,
// as a new leader rebuilds its groups. Members restored from the metadata
// get a full session from now to heartbeat again.
func (c *Coordinator) Replay(now time.Time, key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("record key of %d bytes", len(key))
	}
	version := int16(key[0])<<8 | int16(key[1])
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		tp := topicPartition{k.Topic, k.Partition}
		g := c.group(k.Group)
		if value == nil {
			if g != nil {
				delete(g.offsets, tp)
			}
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("offset commit value: %w", err)
		}
		if g == nil {
			g = c.createGroup(k.Group, now)
		}
		epoch := v.LeaderEpoch
		if v.Version < 3 {
			epoch = -1
		}
		g.offsets[tp] = committed{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata, timestamp: v.CommitTimestamp}
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		if value == nil {
			c.removeGroup(k.Group)
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("group metadata value: %w", err)
		}
		if err := checkGroupMetadata(&v); err != nil {
			return fmt.Errorf("group metadata of %q: %w", k.Group, err)
		}
		c.replayGroup(now, k.Group, &v)
	case cgMetadataKeyVersion, cgPartitionMetadataKeyVersion, cgMemberMetadataKeyVersion,
		cgTargetMetadataKeyVersion, cgTargetMemberKeyVersion, cgCurrentMemberKeyVersion:
		return c.replayConsumer(now, key, value)
	default:
		return fmt.Errorf("unknown record key version %d", version)
	}
	return nil
}

// checkGroupMetadata refuses a group record that no coordinator writes: a
// group with members has a generation, a protocol and a leader among
// unique, named members. Replaying one would leave a group that breaks
// the coordinator's invariants (invariants.go).
func checkGroupMetadata(v *kmsg.GroupMetadataValue) error {
	if v.Generation < 0 {
		return fmt.Errorf("generation %d", v.Generation)
	}
	if len(v.Members) == 0 {
		return nil
	}
	if v.Generation == 0 || v.Protocol == nil || *v.Protocol == "" || v.Leader == nil {
		return fmt.Errorf("%d members without a generation, protocol or leader", len(v.Members))
	}
	ids := make([]string, 0, len(v.Members))
	for _, vm := range v.Members {
		if vm.MemberID == "" || slices.Contains(ids, vm.MemberID) {
			return fmt.Errorf("member id %q empty or twice", vm.MemberID)
		}
		ids = append(ids, vm.MemberID)
	}
	if !slices.Contains(ids, *v.Leader) {
		return fmt.Errorf("leader %q is not a member", *v.Leader)
	}
	return nil
}

func (c *Coordinator) replayGroup(now time.Time, name string, v *kmsg.GroupMetadataValue) {
	g := c.group(name)
	if g == nil {
		g = c.createGroup(name, now)
	}
	g.consumer = nil
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	g.protocol, g.leader = "", ""
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.members = g.members[:0]
	clear(g.static)
	clear(g.pending)
	for _, vm := range v.Members {
		m := &member{id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		g.members = append(g.members, m)
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	state := Stable
	if len(g.members) == 0 {
		state = Empty
	}
	c.setState(now, g, state)
}

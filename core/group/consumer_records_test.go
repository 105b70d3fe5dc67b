package group

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// TestConsumerRecordGolden checks the encoders against bytes written out
// by hand from Kafka's schemas (ConsumerGroup*.json): keys are a version
// and int16-length strings; values are version 0 and flexible fields.
func TestConsumerRecordGolden(t *testing.T) {
	id := TopicID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xbb}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"ConsumerGroupMetadataKey", cgKey(3, "g", "", false), "0003" + "0001" + "67"},
		{"ConsumerGroupCurrentMemberAssignmentKey", cgKey(8, "g", "m1", true), "0008" + "0001" + "67" + "0002" + "6d31"},
		{"ConsumerGroupMetadataValue", cgMetadataValue(5), "0000" + "00000005" + "00"},
		{"ConsumerGroupTargetAssignmentMemberValue", cgTargetMemberValue(partitionSet{{id, 0}, {id, 2}}),
			"0000" + "02" + hex.EncodeToString(id[:]) + "03" + "00000000" + "00000002" + "00" + "00"},
		{"ConsumerGroupCurrentMemberAssignmentValue", (&currentAssignment{epoch: 7, previousEpoch: 6, state: memberUnrevoked,
			assigned: partitionSet{{id, 1}}, revoking: nil}).encode(),
			"0000" + "00000007" + "00000006" + "01" + "02" + hex.EncodeToString(id[:]) + "02" + "00000001" + "00" + "01" + "00"},
		{"ConsumerGroupPartitionMetadataValue", encodePartitionMetadata([]topicMeta{{id, "t", 3}}),
			"0000" + "02" + hex.EncodeToString(id[:]) + "0274" + "00000003" + "01" + "00" + "00"},
		{"ConsumerGroupMemberMetadataValue", (&memberMetadata{clientID: "c", clientHost: "/h", subscribedTopicNames: []string{"t"},
			rebalanceTimeoutMillis: 20000, serverAssignor: strPtr("uniform")}).encode(),
			"0000" + "00" + "00" + "0263" + "032f68" + "02" + "0274" + "00" + "00004e20" + "08756e69666f726d" + "00"},
	} {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func strPtr(s string) *string { return &s }

// TestConsumerRecordsRoundTrip encodes random values of every record type
// and decodes them back.
func TestConsumerRecordsRoundTrip(t *testing.T) {
	optString := func(t *rapid.T, label string) *string {
		if rapid.Bool().Draw(t, label+" null") {
			return nil
		}
		s := rapid.String().Draw(t, label)
		return &s
	}
	partitions := func(t *rapid.T, label string) partitionSet {
		var set partitionSet
		for _, p := range rapid.SliceOfN(rapid.Int32Range(0, 1<<20), 0, 20).Draw(t, label) {
			var id TopicID
			id[0] = byte(p % 3)
			set = append(set, topicPartitionID{id, p})
		}
		return set.normalize()
	}
	rapid.Check(t, func(t *rapid.T) {
		group := rapid.String().Draw(t, "group")
		member := rapid.String().Draw(t, "member")
		version := int16(rapid.IntRange(3, 8).Draw(t, "key version"))
		withMember := version == 5 || version == 7 || version == 8
		v, g, m, err := cgKeyFields(cgKey(version, group, member, withMember))
		if err != nil || v != version || g != group || withMember && m != member {
			t.Fatalf("key %d %q %q: %d %q %q %v", version, group, member, v, g, m, err)
		}

		md := memberMetadata{instanceID: optString(t, "instance"), rackID: optString(t, "rack"),
			clientID: rapid.String().Draw(t, "client"), clientHost: rapid.String().Draw(t, "host"),
			subscribedTopicNames: rapid.SliceOf(rapid.String()).Draw(t, "names"), subscribedTopicRegex: optString(t, "regex"),
			rebalanceTimeoutMillis: rapid.Int32().Draw(t, "rebalance"), serverAssignor: optString(t, "assignor")}
		back, err := decodeMemberMetadata(md.encode())
		if err != nil || !sameMetadata(md, back) || len(md.subscribedTopicNames) != len(back.subscribedTopicNames) {
			t.Fatalf("member metadata %+v: %+v %v", md, back, err)
		}

		ca := currentAssignment{epoch: rapid.Int32().Draw(t, "epoch"), previousEpoch: rapid.Int32().Draw(t, "previous"),
			state:    memberState(rapid.SampledFrom([]int8{0, 1, 2}).Draw(t, "state")),
			assigned: partitions(t, "assigned"), revoking: partitions(t, "revoking")}
		cb, err := decodeCurrentAssignment(ca.encode())
		if err != nil || !sameCurrent(ca, cb) {
			t.Fatalf("current assignment %+v: %+v %v", ca, cb, err)
		}

		target := partitions(t, "target")
		tb, err := decodeTargetMemberValue(cgTargetMemberValue(target))
		if err != nil || !slices.Equal(target, tb) {
			t.Fatalf("target %v: %v %v", target, tb, err)
		}

		epoch := rapid.Int32().Draw(t, "group epoch")
		if e, err := decodeCGMetadataValue(cgMetadataValue(epoch)); err != nil || e != epoch {
			t.Fatalf("group metadata %d: %d %v", epoch, e, err)
		}
		var topics []topicMeta
		for i, n := range rapid.SliceOfN(rapid.Int32Range(0, 1000), 0, 5).Draw(t, "topics") {
			topics = append(topics, topicMeta{id: TopicID{byte(i)}, name: rapid.String().Draw(t, "topic"), partitions: n})
		}
		pt, err := decodePartitionMetadata(encodePartitionMetadata(topics))
		if err != nil || !slices.Equal(pt, topics) {
			t.Fatalf("partition metadata %v: %v %v", topics, pt, err)
		}
	})
}

// TestConsumerRecordsTruncated decodes every prefix of every record type:
// each is an error, none a panic.
func TestConsumerRecordsTruncated(t *testing.T) {
	id := TopicID{7}
	md := memberMetadata{instanceID: strPtr("i"), clientID: "c", clientHost: "h", subscribedTopicNames: []string{"a", "b"}, serverAssignor: strPtr("range")}
	ca := currentAssignment{epoch: 3, previousEpoch: 2, assigned: partitionSet{{id, 0}, {id, 1}}, revoking: partitionSet{{id, 2}}}
	values := map[int16][]byte{
		cgMetadataKeyVersion:          cgMetadataValue(4),
		cgPartitionMetadataKeyVersion: encodePartitionMetadata([]topicMeta{{id, "t", 3}}),
		cgMemberMetadataKeyVersion:    md.encode(),
		cgTargetMetadataKeyVersion:    cgTargetMetadataValue(4),
		cgTargetMemberKeyVersion:      cgTargetMemberValue(partitionSet{{id, 0}}),
		cgCurrentMemberKeyVersion:     ca.encode(),
	}
	for version, value := range values {
		key := cgKey(version, "g", "m", version == 5 || version == 7 || version == 8)
		c := New(testConfig(), 0, "x")
		if err := c.Replay(time.Time{}, key, value); err != nil {
			t.Fatalf("version %d: the whole record: %v", version, err)
		}
		for n := 0; n < len(value); n++ {
			if err := New(testConfig(), 0, "x").Replay(time.Time{}, key, value[:n]); err == nil {
				t.Errorf("version %d: %d of %d value bytes decoded without an error", version, n, len(value))
			}
		}
		for n := 2; n < len(key); n++ {
			if err := New(testConfig(), 0, "x").Replay(time.Time{}, key[:n], value); err == nil {
				t.Errorf("version %d: %d of %d key bytes decoded without an error", version, n, len(key))
			}
		}
		// Trailing bytes are refused too.
		if err := New(testConfig(), 0, "x").Replay(time.Time{}, key, append(bytes.Clone(value), 0)); err == nil {
			t.Errorf("version %d: a trailing byte decoded without an error", version)
		}
	}
}

// FuzzConsumerRecords replays arbitrary bytes as consumer group records,
// then heartbeats the group: bad bytes are errors, never panics, and a
// coordinator that replayed whatever it could still serves.
func FuzzConsumerRecords(f *testing.F) {
	id := TopicID{7}
	md := memberMetadata{clientID: "c", clientHost: "h", subscribedTopicNames: []string{"t"}, rebalanceTimeoutMillis: 1000}
	ca := currentAssignment{epoch: 3, previousEpoch: 2, state: memberUnrevoked, assigned: partitionSet{{id, 0}}, revoking: partitionSet{{id, 1}}}
	f.Add(cgKey(5, "g", "m", true), md.encode())
	f.Add(cgKey(8, "g", "m", true), ca.encode())
	f.Add(cgKey(7, "g", "m", true), cgTargetMemberValue(partitionSet{{id, 1}}))
	f.Add(cgKey(4, "g", "", false), encodePartitionMetadata([]topicMeta{{id, "t", 2}}))
	f.Add(cgKey(3, "g", "", false), cgMetadataValue(1))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := New(testConfig(), 0, "x")
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c.UpdateTopics(now, []TopicInfo{{Name: "t", ID: id, Partitions: 2}})
		_ = c.Replay(now, key, value)
		_ = c.Replay(now, cgKey(5, "g", "m", true), value)
		_ = c.Replay(now, cgKey(8, "g", "m", true), value)
		c.Tick(now.Add(time.Hour))
		c.ConsumerGroupDescribe("g")
		c.ListGroups(nil, nil)
	})
}

// FuzzConsumerHeartbeats drives a consumer group with heartbeats built
// from the fuzzer's bytes (members, epochs, owned partitions, static
// instances, subscriptions, time, failed and committed writes, replays):
// no input panics, and no partition is ever in two members' sets.
func FuzzConsumerHeartbeats(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x10, 0x20, 0x31, 0x42, 0x53, 0x64, 0x75, 0x86, 0x97, 0xa8, 0xb9, 0xca, 0xdb, 0xec, 0xfd})
	f.Fuzz(func(t *testing.T, ops []byte) {
		topics := []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: 3}, {Name: "u", ID: TopicID{2}, Partitions: 2}}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c := New(testConfig(), 0, "f")
		c.UpdateTopics(now, topics)
		var written []Record
		var pending []Append
		epochs := map[string]int32{}
		for i := 0; i+1 < len(ops) && i < 400; i += 2 {
			op, arg := ops[i], ops[i+1]
			member := fmt.Sprintf("m%d", op%4)
			switch op >> 4 {
			case 0, 1, 2, 3, 4, 5:
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.SetVersion(1)
				req.Group, req.MemberID = "g", member
				req.MemberEpoch = epochs[member] + int32(arg%5) - 2
				if arg&0x20 != 0 {
					req.MemberEpoch = 0
				}
				if arg&0x40 != 0 {
					instance := fmt.Sprintf("i%d", arg%2)
					req.InstanceID = &instance
				}
				if arg&0x80 == 0 || req.MemberEpoch == 0 {
					req.RebalanceTimeoutMillis = 5000
					if arg&0x08 != 0 {
						regex := "t|u"
						req.SubscribedTopicRegex = &regex
					} else {
						req.SubscribedTopicNames = []string{"t", "u"}[:1+int(arg&1)]
					}
					req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
					if req.MemberEpoch != 0 {
						rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
						rt.TopicID = [16]byte{1}
						for p := int32(0); p < 3; p++ {
							if arg&(1<<p) != 0 {
								rt.Partitions = append(rt.Partitions, p)
							}
						}
						req.Topics = append(req.Topics, rt)
					}
				} else {
					req.RebalanceTimeoutMillis = -1
				}
				c.ConsumerGroupHeartbeat(now, Token(i+1), req, "c", "/h")
			case 6:
				now = now.Add(time.Duration(arg) * time.Second)
				c.Tick(now)
			case 7, 8:
				for _, a := range pending {
					code := int16(0)
					if arg%4 == 0 {
						code = kerr.NotCoordinator.Code
					} else {
						written = append(written, a.Records...)
					}
					c.AppendDone(now, a.ID, code)
				}
				pending = nil
			case 9:
				c.Close()
				c = New(testConfig(), 0, "f")
				for _, r := range written {
					_ = c.Replay(now, r.Key, r.Value)
				}
				c.UpdateTopics(now, topics)
				pending = nil
			case 10:
				topics[0].Partitions = 1 + int32(arg%5)
				c.UpdateTopics(now, topics)
			default:
				req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
				req.Group, req.MemberID, req.MemberEpoch = "g", member, -1-int32(arg%2)
				if req.MemberEpoch == -2 {
					instance := fmt.Sprintf("i%d", arg%2)
					req.InstanceID = &instance
				}
				c.ConsumerGroupHeartbeat(now, Token(i+1), req, "c", "/h")
			}
			for c.HasReady() {
				rd := c.Ready()
				c.Advance()
				pending = append(pending, rd.Appends...)
				for _, r := range rd.Responses {
					if hb, ok := r.Body.(*kmsg.ConsumerGroupHeartbeatResponse); ok && hb.ErrorCode == 0 && hb.MemberID != nil && hb.MemberEpoch >= 0 {
						epochs[*hb.MemberID] = hb.MemberEpoch
					}
				}
			}
			if g := c.group("g"); g != nil && g.consumer != nil {
				seen := map[topicPartitionID]string{}
				for _, id := range g.consumer.memberIDs {
					m := g.consumer.members[id]
					for _, p := range append(slices.Clone(m.assigned), m.revoking...) {
						if prev, ok := seen[p]; ok {
							t.Fatalf("partition %v in members %s and %s", p, prev, id)
						}
						seen[p] = id
					}
				}
			}
		}
	})
}

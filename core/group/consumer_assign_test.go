package group

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// TestAssignorProperties checks both assignors on random groups: every
// partition of a subscribed topic goes to exactly one member, and only to
// a member subscribed to it; with the same subscription everywhere the
// members' shares differ by at most one; and uniform is sticky: adding a
// member moves no partition between the members that were already there.
func TestAssignorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topicCount := rapid.IntRange(1, 4).Draw(t, "topics")
		var topics []topicMeta
		for i := 0; i < topicCount; i++ {
			topics = append(topics, topicMeta{id: TopicID{byte(i + 1)}, name: fmt.Sprintf("t%d", i),
				partitions: int32(rapid.IntRange(0, 12).Draw(t, "partitions"))})
		}
		memberCount := rapid.IntRange(1, 6).Draw(t, "members")
		homogeneous := rapid.Bool().Draw(t, "homogeneous")
		var ids []string
		subscribers := map[string][]string{}
		for i := 0; i < memberCount; i++ {
			id := fmt.Sprintf("m%d", i)
			ids = append(ids, id)
			for _, topic := range topics {
				if homogeneous || rapid.Bool().Draw(t, "subscribes") {
					subscribers[topic.name] = append(subscribers[topic.name], id)
				}
			}
		}
		check := func(name string, out map[string]partitionSet) {
			owner := map[topicPartitionID]string{}
			for _, id := range ids {
				for _, p := range out[id] {
					if prev, ok := owner[p]; ok {
						t.Fatalf("%s: %v assigned to %s and %s", name, p, prev, id)
					}
					owner[p] = id
				}
			}
			for _, topic := range topics {
				for p := int32(0); p < topic.partitions; p++ {
					tp := topicPartitionID{topic.id, p}
					id, ok := owner[tp]
					switch {
					case len(subscribers[topic.name]) == 0 && ok:
						t.Fatalf("%s: %v of an unsubscribed topic assigned to %s", name, tp, id)
					case len(subscribers[topic.name]) > 0 && !ok:
						t.Fatalf("%s: %v assigned to nobody", name, tp)
					case ok && !slices.Contains(subscribers[topic.name], id):
						t.Fatalf("%s: %v assigned to %s, which does not subscribe to %s", name, tp, id, topic.name)
					}
				}
			}
			if homogeneous && name == "uniform" {
				lo, hi := len(out[ids[0]]), len(out[ids[0]])
				for _, id := range ids {
					lo, hi = min(lo, len(out[id])), max(hi, len(out[id]))
				}
				if hi-lo > 1 {
					t.Fatalf("%s: shares from %d to %d", name, lo, hi)
				}
			}
		}
		check("range", rangeAssign(ids, topics, subscribers))
		before := uniformAssign(ids, topics, subscribers, nil)
		check("uniform", before)
		if homogeneous {
			// One more member, subscribed like the rest.
			newcomer := "m9"
			ids2 := append(slices.Clone(ids), newcomer)
			subscribers2 := map[string][]string{}
			for name, s := range subscribers {
				subscribers2[name] = append(slices.Clone(s), newcomer)
			}
			after := uniformAssign(ids2, topics, subscribers2, before)
			for _, id := range ids {
				for _, p := range after[id] {
					if !before[id].contains(p) {
						t.Fatalf("uniform moved %v to %s, which did not have it, when %s joined", p, id, newcomer)
					}
				}
			}
		}
	})
}

// TestConsumerGroupMaxSize: a join beyond group.max.size is
// GROUP_MAX_SIZE_REACHED, and a member already in may rejoin.
func TestConsumerGroupMaxSize(t *testing.T) {
	config := testConfig()
	config.GroupSizeMax = 1
	c := New(config, 0, "x")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.UpdateTopics(now, []TopicInfo{{Name: "t", ID: TopicID{1}, Partitions: 2}})
	join := func(member string) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(1)
		req.Group, req.MemberID, req.RebalanceTimeoutMillis = "g", member, 1000
		req.SubscribedTopicNames = []string{"t"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		c.ConsumerGroupHeartbeat(now, 1, req, "c", "/h")
		rd := c.Ready()
		c.Advance()
		responses := rd.Responses
		for _, a := range rd.Appends {
			c.AppendDone(now, a.ID, 0)
		}
		responses = append(responses, c.Ready().Responses...)
		c.Advance()
		if len(responses) != 1 {
			t.Fatalf("%s: %d responses", member, len(responses))
		}
		return responses[0].Body.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	if code := join("a"); code != 0 {
		t.Fatalf("first member: %d", code)
	}
	if code := join("b"); code != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member: %d, want GROUP_MAX_SIZE_REACHED", code)
	}
	if code := join("a"); code != 0 {
		t.Fatalf("the member rejoining: %d", code)
	}
}

package group

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// runConsumer runs the consumer-protocol commands of the transcripts.
func (s *story) runConsumer(t *testing.T, d *datadriven.TestData, arg func(string, string) string,
	num func(string, int64) int64, dur func(string, string) time.Duration) string {
	as := arg("as", "")
	groupName := arg("group", "g")
	switch d.Cmd {
	case "topics":
		var topics []TopicInfo
		for _, a := range d.CmdArgs {
			n, err := strconv.Atoi(a.Vals[0])
			if err != nil {
				d.Fatalf(t, "topics %s: %v", a.Key, err)
			}
			topics = append(topics, TopicInfo{Name: a.Key, ID: s.topicID(a.Key), Partitions: int32(n)})
		}
		s.topics = topics
		s.c.UpdateTopics(s.now, topics)
	case "cg":
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(1)
		req.Group = groupName
		if _, ok := s.ids[as]; !ok || d.HasArg("new") {
			s.cgIDs++
			id := fmt.Sprintf("%s-%d", as, s.cgIDs)
			s.ids[as], s.aliases[id] = id, as
			delete(s.cgEpochs, as)
			delete(s.cgAssigned, as)
		}
		req.MemberID = s.ids[as]
		req.MemberEpoch = int32(num("epoch", int64(s.cgEpochs[as])))
		switch {
		case d.HasArg("join"):
			req.MemberEpoch = 0
		case d.HasArg("leave"):
			req.MemberEpoch = -1
		case d.HasArg("static-leave"):
			req.MemberEpoch = -2
		}
		if i := arg("instance", ""); i != "" {
			req.InstanceID = &i
		}
		if req.MemberEpoch < 0 {
			s.c.ConsumerGroupHeartbeat(s.now, s.token(as+" cg"), req, as, "/h")
			break
		}
		if !d.HasArg("keepalive") {
			req.RebalanceTimeoutMillis = int32(dur("rebalance", "20s") / time.Millisecond)
			switch {
			case arg("regex", "") != "":
				s.cgSubscribed[as] = "regex:" + arg("regex", "")
			case arg("subscribe", "") != "":
				s.cgSubscribed[as] = "names:" + arg("subscribe", "")
			case s.cgSubscribed[as] == "":
				s.cgSubscribed[as] = "names:t"
			}
			kind, value, _ := strings.Cut(s.cgSubscribed[as], ":")
			if kind == "regex" {
				req.SubscribedTopicRegex = &value
			} else {
				req.SubscribedTopicNames = strings.Split(value, ",")
			}
			if a := arg("assignor", ""); a != "" {
				req.ServerAssignor = &a
			}
			owned := s.cgAssigned[as]
			if req.MemberEpoch == 0 {
				owned = ""
			}
			req.Topics = s.ownedTopics(t, d, arg("owned", owned))
		} else {
			req.RebalanceTimeoutMillis = -1
		}
		s.c.ConsumerGroupHeartbeat(s.now, s.token(as+" cg"), req, as, "/h")
	case "cgcommit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.SetVersion(int16(num("version", 9)))
		req.Group, req.MemberID = groupName, s.ids[as]
		req.Generation = int32(num("epoch", int64(s.cgEpochs[as])))
		if as == "admin" {
			req.MemberID, req.Generation = "", -1
		}
		for _, o := range strings.Split(arg("offsets", ""), ",") {
			tp, offset, _ := strings.Cut(o, "=")
			topic, partition, _ := strings.Cut(tp, ":")
			p, _ := strconv.Atoi(partition)
			v, _ := strconv.ParseInt(offset, 10, 64)
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(p), v
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		s.c.OffsetCommit(s.now, s.token(as+" commit"), req, func(string, int32) bool { return true })
	case "cgdescribe":
		g := s.c.ConsumerGroupDescribe(groupName)
		var b strings.Builder
		if g.ErrorCode != 0 {
			fmt.Fprintf(&b, "%s: %s\n", groupName, codeName(g.ErrorCode))
			return b.String() + s.output()
		}
		fmt.Fprintf(&b, "%s: %s epoch=%d assignment-epoch=%d assignor=%s\n", g.Group, g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName)
		for _, m := range g.Members {
			fmt.Fprintf(&b, "  %s epoch=%d assigned=[%s] target=[%s]", s.alias(m.MemberID), m.MemberEpoch,
				describeParts(m.Assignment), describeParts(m.TargetAssignment))
			if m.InstanceID != nil {
				fmt.Fprintf(&b, " instance=%s", *m.InstanceID)
			}
			if m.SubscribedTopicRegex != nil {
				fmt.Fprintf(&b, " regex=%s", *m.SubscribedTopicRegex)
			}
			b.WriteString("\n")
		}
		return b.String() + s.output()
	}
	return s.output()
}

func describeParts(a kmsg.Assignment) string {
	var parts []string
	for _, t := range a.TopicPartitions {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s:%d", t.Topic, p))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// topicID names topics by the order they were first mentioned: 1, 2, ...
func (s *story) topicID(name string) TopicID {
	if id, ok := s.topicIDs[name]; ok {
		return id
	}
	var id TopicID
	id[0] = byte(len(s.topicIDs) + 1)
	s.topicIDs[name] = id
	return id
}

func (s *story) topicName(id TopicID) string {
	for name, tid := range s.topicIDs {
		if tid == id {
			return name
		}
	}
	return fmt.Sprintf("%x", id[:1])
}

func (s *story) ownedTopics(t *testing.T, d *datadriven.TestData, owned string) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if owned == "" || owned == "none" {
		return out
	}
	for _, tp := range strings.Split(owned, ",") {
		topic, partition, ok := strings.Cut(tp, ":")
		p, err := strconv.Atoi(partition)
		if !ok || err != nil {
			d.Fatalf(t, "owned %q: want topic:partition", tp)
		}
		id := s.topicID(topic)
		i := slices.IndexFunc(out, func(rt kmsg.ConsumerGroupHeartbeatRequestTopic) bool { return rt.TopicID == [16]byte(id) })
		if i < 0 {
			rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			rt.TopicID = id
			out = append(out, rt)
			i = len(out) - 1
		}
		out[i].Partitions = append(out[i].Partitions, int32(p))
	}
	return out
}

package replica

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica/transport"
)

// TestGroupScenarios runs the consumer group transcripts in
// testdata/groups through a whole node: the coordinator hosted on the
// leader of its __consumer_offsets partition, commits written as record
// batches and answered after their fsync, groups replayed after a crash.
// Besides the commands of TestScenarios:
//
//	find-coordinator [group=g]
//	join as=A [group=g] [conn=C]            member ids are printed as aliases
//	sync-group as=A [assign=A:x,B:y]
//	heartbeat as=A | leave as=A
//	commit as=A|admin topic=T [partition=P] offset=O
//	offset-fetch [group=g] [topic=T partitions=0,1]   (no topic: all)
//	describe-groups [group=g] | list-groups | delete-groups [group=g]
//	offset-delete [group=g] topic=T [partition=P]
//	cg as=A [join|leave] [topic=t] [owned=0,1|none] [keepalive] ConsumerGroupHeartbeat (KIP-848) on topic t
//	cg-commit as=A topic=T partition=P offset=O                 OffsetCommit v9 with the member's epoch
//	cg-describe [group=g]                                        ConsumerGroupDescribe
//	cg-fetch as=A|admin [epoch=N]                                OffsetFetch v9 of t[0] with the member's id and epoch
func TestGroupScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/groups", func(t *testing.T, path string) {
		h := newHarness(t)
		h.config.OffsetsTopicPartitions = 3
		h.config.GroupInitialRebalanceDelay = 0
		h.node.config = h.config
		g := &groupStory{h: h, ids: map[string]string{}, aliases: map[string]string{}, gens: map[string]int32{}, connAlias: map[ConnID]string{},
			epochs: map[string]int32{}, owned: map[string][]int32{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return g.run(t, d)
		})
	})
}

type groupStory struct {
	h       *harness
	ids     map[string]string
	aliases map[string]string
	gens    map[string]int32
	// connAlias names the member each connection speaks for.
	connAlias map[ConnID]string
	// epochs and owned are what each consumer-protocol member was last
	// told; topicNames maps topic ids back for printing.
	epochs map[string]int32
	owned  map[string][]int32
}

func (g *groupStory) run(t *testing.T, d *datadriven.TestData) string {
	arg := func(key, fallback string) string {
		if a, ok := d.Arg(key); ok {
			return strings.Join(a.Vals, ",")
		}
		return fallback
	}
	num := func(key string, fallback int64) int64 {
		v, err := strconv.ParseInt(arg(key, strconv.FormatInt(fallback, 10)), 10, 64)
		if err != nil {
			d.Fatalf(t, "%s: %v", key, err)
		}
		return v
	}
	conn := ConnID(num("conn", 1))
	as := arg("as", "")
	groupID := arg("group", "g")
	switch d.Cmd {
	case "find-coordinator":
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{groupID}
		g.h.send(conn, req)
	case "join":
		g.connAlias[conn] = as
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID = groupID, g.ids[as]
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 20000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		g.h.send(conn, req)
	case "sync-group":
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation = groupID, g.ids[as], g.gens[as]
		for _, a := range strings.Split(arg("assign", ""), ",") {
			if alias, value, ok := strings.Cut(a, ":"); ok {
				ga := kmsg.NewSyncGroupRequestGroupAssignment()
				ga.MemberID, ga.MemberAssignment = g.ids[alias], []byte(value)
				req.GroupAssignment = append(req.GroupAssignment, ga)
			}
		}
		g.h.send(conn, req)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = groupID, g.ids[as], g.gens[as]
		g.h.send(conn, req)
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = groupID
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = g.ids[as]
		req.Members = append(req.Members, m)
		g.h.send(conn, req)
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = groupID, g.ids[as], g.gens[as]
		if as == "admin" {
			req.MemberID, req.Generation = "", -1
		}
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = arg("topic", "")
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = int32(num("partition", 0)), num("offset", 0)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		g.h.send(conn, req)
	case "offset-fetch":
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = groupID
		if topic := arg("topic", ""); topic != "" {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic = topic
			for _, p := range strings.Split(arg("partitions", "0"), ",") {
				v, _ := strconv.Atoi(p)
				rt.Partitions = append(rt.Partitions, int32(v))
			}
			rg.Topics = append(rg.Topics, rt)
		}
		req.Groups = append(req.Groups, rg)
		g.h.send(conn, req)
	case "describe-groups":
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{groupID}
		g.h.send(conn, req)
	case "list-groups":
		g.h.send(conn, kmsg.NewPtrListGroupsRequest())
	case "delete-groups":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{groupID}
		g.h.send(conn, req)
	case "offset-delete":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = groupID
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = arg("topic", "")
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rp.Partition = int32(num("partition", 0))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		g.h.send(conn, req)
	case "metadata":
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		for _, name := range strings.Split(arg("topics", ""), ",") {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		g.h.send(conn, req)
	case "sync":
		n := len(g.h.syncs)
		g.h.runSyncs()
		return fmt.Sprintf("ran %d fsync(s)\n", n) + g.print()
	case "tick":
		g.h.tick(time.Duration(num("ms", 0)) * time.Millisecond)
	case "cg":
		g.connAlias[conn] = as
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = groupID, as+"-member", g.epochs[as]
		topic, _ := g.h.node.meta.image.Topic(arg("topic", "t")) // a topic not created yet has no id
		switch {
		case d.HasArg("join"):
			req.MemberEpoch = 0
		case d.HasArg("leave"):
			req.MemberEpoch = -1
		}
		if !d.HasArg("keepalive") && req.MemberEpoch >= 0 {
			req.RebalanceTimeoutMillis = 20000
			req.SubscribedTopicNames = []string{arg("topic", "t")}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			owned := g.owned[as]
			if o, ok := d.Arg("owned"); ok {
				owned = nil
				for _, v := range o.Vals {
					if p, err := strconv.Atoi(v); err == nil { // "none": nothing
						owned = append(owned, int32(p))
					}
				}
			}
			if len(owned) > 0 && req.MemberEpoch > 0 {
				req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: topic.ID, Partitions: owned})
			}
		} else if req.MemberEpoch >= 0 {
			req.RebalanceTimeoutMillis = -1
		}
		g.h.send(conn, req)
	case "cg-commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = groupID, as+"-member", g.epochs[as]
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = arg("topic", "t")
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = int32(num("partition", 0)), num("offset", 0)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		g.h.send(conn, req)
	case "cg-fetch":
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = groupID
		if as != "admin" {
			id := as + "-member"
			rg.MemberID, rg.MemberEpoch = &id, int32(num("epoch", int64(g.epochs[as])))
		}
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = arg("topic", "t"), []int32{0}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g.h.send(conn, req)
	case "cg-describe":
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{groupID}
		g.h.send(conn, req)
	case "crash":
		g.h.crash()
		return "crashed and restarted\n"
	case "create-topic":
		return describe(g.h.createTopic(arg("name", ""), int32(num("partitions", 1)), nil)) + "\n"
	case "delete-topic":
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{arg("name", "")}
		req.SetVersion(5)
		g.h.send(conn, req)
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	return g.print()
}

func (g *groupStory) alias(id string) string {
	if a, ok := g.aliases[id]; ok {
		return a
	}
	return id
}

func (g *groupStory) print() string {
	var b strings.Builder
	for conn := ConnID(0); conn < 16; conn++ {
		for _, resp := range g.h.take(conn) {
			fmt.Fprintf(&b, "conn %d: %s\n", conn, g.describe(conn, resp))
		}
	}
	if b.Len() == 0 {
		return "(no responses)\n"
	}
	return b.String()
}

func (g *groupStory) describe(conn ConnID, resp kmsg.Response) string {
	var b strings.Builder
	switch r := resp.(type) {
	case *kmsg.FindCoordinatorResponse:
		for _, c := range r.Coordinators {
			fmt.Fprintf(&b, "find-coordinator: %s node=%d %s", c.Key, c.NodeID, errName(c.ErrorCode))
		}
	case *kmsg.JoinGroupResponse:
		alias := g.connAlias[conn]
		if r.MemberID != "" {
			g.ids[alias], g.aliases[r.MemberID] = r.MemberID, alias
		}
		b.WriteString("join: " + alias + " ")
		if r.ErrorCode != 0 {
			b.WriteString(errName(r.ErrorCode))
			return b.String()
		}
		g.gens[alias] = r.Generation
		fmt.Fprintf(&b, "gen=%d leader=%s", r.Generation, g.alias(r.LeaderID))
	case *kmsg.SyncGroupResponse:
		fmt.Fprintf(&b, "sync-group: %s assignment=%q", errName(r.ErrorCode), r.MemberAssignment)
	case *kmsg.HeartbeatResponse:
		fmt.Fprintf(&b, "heartbeat: %s", errName(r.ErrorCode))
	case *kmsg.LeaveGroupResponse:
		fmt.Fprintf(&b, "leave: %s", errName(r.ErrorCode))
		for _, m := range r.Members {
			fmt.Fprintf(&b, " %s=%s", g.alias(m.MemberID), errName(m.ErrorCode))
		}
	case *kmsg.OffsetCommitResponse:
		b.WriteString("commit:")
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s[%d] %s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
	case *kmsg.OffsetFetchResponse:
		b.WriteString("offset-fetch:")
		for _, rg := range r.Groups {
			fmt.Fprintf(&b, " %s %s", rg.Group, errName(rg.ErrorCode))
			for _, t := range rg.Topics {
				for _, p := range t.Partitions {
					fmt.Fprintf(&b, " %s[%d]=%d", t.Topic, p.Partition, p.Offset)
				}
			}
		}
	case *kmsg.DescribeGroupsResponse:
		b.WriteString("describe-groups:")
		for _, rg := range r.Groups {
			fmt.Fprintf(&b, " %s %s %s protocol=%q", rg.Group, errName(rg.ErrorCode), rg.State, rg.Protocol)
			for _, m := range rg.Members {
				fmt.Fprintf(&b, " %s[%s]", g.alias(m.MemberID), m.MemberAssignment)
			}
		}
	case *kmsg.ListGroupsResponse:
		b.WriteString("list-groups:")
		for _, rg := range r.Groups {
			fmt.Fprintf(&b, " %s(%s)", rg.Group, rg.GroupState)
		}
	case *kmsg.DeleteGroupsResponse:
		b.WriteString("delete-groups:")
		for _, rg := range r.Groups {
			fmt.Fprintf(&b, " %s %s", rg.Group, errName(rg.ErrorCode))
		}
	case *kmsg.OffsetDeleteResponse:
		fmt.Fprintf(&b, "offset-delete: %s", errName(r.ErrorCode))
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				fmt.Fprintf(&b, " %s[%d] %s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
	case *kmsg.ConsumerGroupHeartbeatResponse:
		alias := g.connAlias[conn]
		fmt.Fprintf(&b, "cg: %s %s", alias, errName(r.ErrorCode))
		if r.ErrorCode == 0 {
			fmt.Fprintf(&b, " epoch=%d", r.MemberEpoch)
			if r.MemberEpoch >= 0 {
				g.epochs[alias] = r.MemberEpoch
			}
		}
		if r.Assignment != nil {
			var owned []int32
			for _, t := range r.Assignment.Topics {
				owned = append(owned, t.Partitions...)
			}
			g.owned[alias] = owned
			fmt.Fprintf(&b, " assignment=%v", owned)
		}
	case *kmsg.ConsumerGroupDescribeResponse:
		b.WriteString("cg-describe:")
		for _, rg := range r.Groups {
			fmt.Fprintf(&b, " %s %s %s epoch=%d assignment-epoch=%d", rg.Group, errName(rg.ErrorCode), rg.State, rg.Epoch, rg.AssignmentEpoch)
			for _, m := range rg.Members {
				var parts []int32
				for _, t := range m.Assignment.TopicPartitions {
					parts = append(parts, t.Partitions...)
				}
				fmt.Fprintf(&b, " %s(epoch=%d %v)", m.MemberID, m.MemberEpoch, parts)
			}
		}
	case *kmsg.MetadataResponse:
		b.WriteString("metadata:")
		for _, t := range r.Topics {
			fmt.Fprintf(&b, " %s(%d) internal=%v %s", *t.Topic, len(t.Partitions), t.IsInternal, errName(t.ErrorCode))
		}
	default:
		return describe(resp)
	}
	return b.String()
}

// groupFuzzSeeds are well-formed group requests at their lowest and
// highest versions.
func groupFuzzSeeds() [][]byte {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	var out [][]byte
	add := func(req kmsg.Request) {
		if r := apiFor(req.Key()); r != nil {
			for _, v := range []int16{r.min, r.max} {
				req.SetVersion(v)
				frame := formatter.AppendRequest(nil, req, 7)
				out = append(out, frame[transport.FrameSizeBytes:])
			}
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
	add(fc)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "g", 10000, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}
	add(join)
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", "m", 1
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: "m", MemberAssignment: []byte{1}}}
	add(sync)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", "m", 1
	add(hb)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", "m"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	add(leave)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "g", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
	add(commit)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "g"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
	add(fetch)
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups = []string{"g"}
	add(describe)
	add(kmsg.NewPtrListGroupsRequest())
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	add(del)
	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Group, cgh.MemberID, cgh.RebalanceTimeoutMillis = "g", "m848", 10000
	cgh.SubscribedTopicNames = []string{"t"}
	cgh.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	add(cgh)
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{"g", "missing"}
	add(cgd)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	add(od)
	return out
}

// FuzzGroupFrames feeds arbitrary frames to a node whose group has a
// member and a committed offset. Whatever the bytes, the node must not
// panic, must answer only with well-formed frames or a close, and the
// group must still answer its member.
func FuzzGroupFrames(f *testing.F) {
	for _, seed := range groupFuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h := newHarness(t)
		h.config.OffsetsTopicPartitions = 1
		h.config.GroupInitialRebalanceDelay = 0
		h.node.config = h.config
		h.createTopic("t", 1, nil)
		find := kmsg.NewPtrFindCoordinatorRequest()
		find.CoordinatorKeys = []string{"g"}
		h.request(find)
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "g", 10000, 10000, "consumer"
		join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		join.MemberID = h.request(join).(*kmsg.JoinGroupResponse).MemberID
		joined := h.request(join).(*kmsg.JoinGroupResponse)
		if joined.ErrorCode != 0 {
			t.Fatalf("join: %d", joined.ErrorCode)
		}
		h.sendRaw(1, frame)
		h.runSyncs()
		h.tick(time.Second)
		h.runSyncs()
		for _, out := range h.frames[1] {
			if len(out) < 8 || int(binary.BigEndian.Uint32(out)) != len(out)-transport.FrameSizeBytes {
				t.Fatalf("malformed response frame of %d bytes", len(out))
			}
		}
		delete(h.frames, 1)
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
		if resp := h.request(fetch).(*kmsg.OffsetFetchResponse); len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			t.Fatalf("offset fetch after fuzz input: %+v", resp.Groups)
		}
	})
}

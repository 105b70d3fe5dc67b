package group

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStories replays the protocol transcripts in testdata/. Members are
// named by aliases; the ids the coordinator hands out are printed as the
// alias. Regenerate with -rewrite and read the diff as a change of
// behaviour.
//
//	join as=A [group=g] [version=9] [instance=I] [protocols=range,roundrobin] [session=10s] [rebalance=20s] [new]
//	sync as=A [gen=N] [assign=A:x,B:y]
//	heartbeat as=A [gen=N]
//	leave as=A[,B] [version=5]
//	commit as=A|admin [gen=N] offsets=t:0=5,t:1=7
//	fetch [group=g] [partitions=t:0,t:1]    (no partitions: all)
//	tick advance=5s
//	appends [fail=CODE]                     complete every pending append
//	describe [group=g] | list | delete [group=g] | replay (a new coordinator from the appended records)
//
// Consumer-protocol groups (KIP-848):
//
//	topics t=4 u=2                          the cluster's topics (ids by order of first mention)
//	cg as=A [join|leave|static-leave|epoch=N] [subscribe=t,u | regex=EXPR] [owned=t:0,t:1 | keepalive]
//	   [instance=I] [assignor=range] [rebalance=20s] [new]
//	                                        a ConsumerGroupHeartbeat; by default with the epoch and the
//	                                        partitions the member was last told (a full heartbeat)
//	cgdescribe [group=g]                    ConsumerGroupDescribe
//	cgcommit as=A [epoch=N] [version=9] offsets=t:0=5
func TestStories(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := newStory()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

type story struct {
	c         *Coordinator
	now       time.Time
	ids       map[string]string // alias -> member id
	aliases   map[string]string // member id -> alias
	gens      map[string]int32  // alias -> last generation it was told
	tokens    map[Token]string  // token -> "alias kind"
	nextToken Token
	pending   []Append
	log       []Record // every committed append, in order
	incarn    int
	// Consumer-protocol state: topics by name, what each member was last
	// told, and a counter for client-made member ids.
	topics     []TopicInfo
	cgEpochs   map[string]int32
	cgAssigned map[string]string
	cgIDs      int
	topicIDs   map[string]TopicID
	// cgSubscribed is each member's last subscription: "names:t,u" or
	// "regex:EXPR".
	cgSubscribed map[string]string
}

func newStory() *story {
	s := &story{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ids: map[string]string{}, aliases: map[string]string{},
		gens: map[string]int32{}, tokens: map[Token]string{}, cgEpochs: map[string]int32{}, cgAssigned: map[string]string{},
		topicIDs: map[string]TopicID{}, cgSubscribed: map[string]string{}}
	s.c = New(testConfig(), 0, "1")
	return s
}

func testConfig() Config {
	c := DefaultConfig()
	c.InitialRebalanceDelay = 0
	return c
}

func (s *story) token(who string) Token {
	s.nextToken++
	s.tokens[s.nextToken] = who
	return s.nextToken
}

func (s *story) run(t *testing.T, d *datadriven.TestData) string {
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
	dur := func(key, fallback string) time.Duration {
		v, err := time.ParseDuration(arg(key, fallback))
		if err != nil {
			d.Fatalf(t, "%s: %v", key, err)
		}
		return v
	}
	as := arg("as", "")
	groupName := arg("group", "g")
	gen := func() int32 { return int32(num("gen", int64(s.gens[as]))) }
	instance := func() *string {
		if i := arg("instance", ""); i != "" {
			return &i
		}
		return nil
	}
	switch d.Cmd {
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.SetVersion(int16(num("version", 9)))
		req.Group = groupName
		if d.HasArg("new") {
			delete(s.ids, as)
		}
		req.MemberID = s.ids[as]
		if i := arg("instance", ""); i != "" {
			req.InstanceID = &i
		}
		req.SessionTimeoutMillis = int32(dur("session", "10s") / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(dur("rebalance", "20s") / time.Millisecond)
		req.ProtocolType = "consumer"
		for _, name := range strings.Split(arg("protocols", "range"), ",") {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = name, []byte("meta-"+as)
			req.Protocols = append(req.Protocols, p)
		}
		s.c.JoinGroup(s.now, s.token(as+" join"), req, "c", "/h")
	case "sync":
		req := kmsg.NewPtrSyncGroupRequest()
		req.SetVersion(5)
		req.Group, req.MemberID, req.Generation = groupName, s.ids[as], gen()
		req.InstanceID = instance()
		for _, a := range strings.Split(arg("assign", ""), ",") {
			if alias, value, ok := strings.Cut(a, ":"); ok {
				ga := kmsg.NewSyncGroupRequestGroupAssignment()
				ga.MemberID, ga.MemberAssignment = s.ids[alias], []byte(value)
				req.GroupAssignment = append(req.GroupAssignment, ga)
			}
		}
		s.c.SyncGroup(s.now, s.token(as+" sync"), req)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.SetVersion(4)
		req.Group, req.MemberID, req.Generation = groupName, s.ids[as], gen()
		req.InstanceID = instance()
		s.c.Heartbeat(s.now, s.token(as+" heartbeat"), req)
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.SetVersion(int16(num("version", 5)))
		req.Group = groupName
		for _, alias := range strings.Split(as, ",") {
			if req.Version < 3 {
				req.MemberID = s.ids[alias]
				continue
			}
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = s.ids[alias]
			req.Members = append(req.Members, m)
		}
		s.c.LeaveGroup(s.now, s.token(as+" leave"), req)
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.SetVersion(8)
		req.Group, req.MemberID, req.Generation = groupName, s.ids[as], gen()
		req.InstanceID = instance()
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
		s.c.OffsetCommit(s.now, s.token(as+" commit"), req, func(topic string, _ int32) bool { return topic != "unknown" })
	case "fetch":
		var b strings.Builder
		b.WriteString("fetch:")
		if ps := arg("partitions", ""); ps != "" {
			for _, tp := range strings.Split(ps, ",") {
				topic, partition, _ := strings.Cut(tp, ":")
				p, _ := strconv.Atoi(partition)
				offset := int64(-1)
				if o, ok := s.c.Committed(groupName, topic, int32(p)); ok {
					offset = o.Offset
				}
				fmt.Fprintf(&b, " %s:%d=%d", topic, p, offset)
			}
		} else {
			for _, o := range s.c.AllCommitted(groupName) {
				fmt.Fprintf(&b, " %s:%d=%d", o.Topic, o.Partition, o.Offset)
			}
		}
		return b.String() + "\n" + s.output()
	case "tick":
		s.now = s.now.Add(dur("advance", "0s"))
		s.c.Tick(s.now)
	case "appends":
		code := int16(num("fail", 0))
		s.takeReady(nil)
		pending := s.pending
		s.pending = nil
		var b strings.Builder
		for _, a := range pending {
			if code == 0 {
				s.log = append(s.log, a.Records...)
			}
			s.c.AppendDone(s.now, a.ID, code)
		}
		fmt.Fprintf(&b, "completed %d append(s)\n", len(pending))
		if s.c.Diverged() {
			b.WriteString("diverged: the coordinator must be rebuilt from the log\n")
		}
		return b.String() + s.output()
	case "describe":
		g := s.c.DescribeGroup(groupName)
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s protocol=%q", g.Group, g.State, g.Protocol)
		if _, generation, ok := s.c.GroupState(groupName); ok {
			fmt.Fprintf(&b, " gen=%d", generation)
		}
		for _, m := range g.Members {
			fmt.Fprintf(&b, " %s[%s]", s.alias(m.MemberID), m.MemberAssignment)
		}
		return b.String() + "\n" + s.output()
	case "list":
		var b strings.Builder
		for _, g := range s.c.ListGroups(nil, nil) {
			fmt.Fprintf(&b, "%s %s %s\n", g.Group, g.GroupState, g.ProtocolType)
		}
		return b.String() + s.output()
	case "delete":
		s.c.DeleteGroup(s.now, s.token("admin delete"), groupName)
		return s.output()
	case "topics", "cg", "cgdescribe", "cgcommit":
		return s.runConsumer(t, d, arg, num, dur)
	case "replay":
		s.takeReady(nil)
		s.incarn++
		s.c.Close()
		s.c.Advance()
		s.pending = nil
		s.c = New(testConfig(), 0, strconv.Itoa(s.incarn+1))
		for _, r := range s.log {
			if err := s.c.Replay(s.now, r.Key, r.Value); err != nil {
				d.Fatalf(t, "replay: %v", err)
			}
		}
		if s.topics != nil {
			s.c.UpdateTopics(s.now, s.topics)
			s.c.Advance()
		}
		return fmt.Sprintf("replayed %d record(s)\n", len(s.log))
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	return s.output()
}

func (s *story) alias(id string) string {
	if a, ok := s.aliases[id]; ok {
		return a
	}
	return id
}

func codeName(code int16) string {
	if code == 0 {
		return "OK"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return err.(*kerr.Error).Message
	}
	return strconv.Itoa(int(code))
}

// takeReady moves the coordinator's effects into the story.
func (s *story) takeReady(b *strings.Builder) {
	for s.c.HasReady() {
		rd := s.c.Ready()
		s.c.Advance()
		for _, a := range rd.Appends {
			s.pending = append(s.pending, a)
			if b != nil {
				fmt.Fprintf(b, "append #%d: %d record(s)\n", a.ID, len(a.Records))
			}
		}
		for _, r := range rd.Responses {
			// Learn every new member id first, so that a leader's
			// member list prints aliases.
			if body, ok := r.Body.(*kmsg.JoinGroupResponse); ok && body.MemberID != "" {
				alias, _, _ := strings.Cut(s.tokens[r.Token], " ")
				s.aliases[body.MemberID] = alias
			}
		}
		for _, r := range rd.Responses {
			if b != nil {
				b.WriteString(s.describe(r) + "\n")
			}
		}
	}
}

func (s *story) output() string {
	var b strings.Builder
	s.takeReady(&b)
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

func (s *story) describe(r Response) string {
	who := s.tokens[r.Token]
	delete(s.tokens, r.Token)
	alias, _, _ := strings.Cut(who, " ")
	switch body := r.Body.(type) {
	case *kmsg.JoinGroupResponse:
		if body.MemberID != "" {
			if old, ok := s.ids[alias]; ok && old != body.MemberID {
				delete(s.aliases, old)
			}
			s.ids[alias], s.aliases[body.MemberID] = body.MemberID, alias
		}
		if body.ErrorCode != 0 {
			return who + ": " + codeName(body.ErrorCode)
		}
		s.gens[alias] = body.Generation
		var members []string
		for _, m := range body.Members {
			members = append(members, s.alias(m.MemberID))
		}
		skip := ""
		if body.SkipAssignment {
			skip = " skip-assignment"
		}
		return fmt.Sprintf("%s: gen=%d leader=%s protocol=%s members=[%s]%s", who, body.Generation, s.alias(body.LeaderID),
			*body.Protocol, strings.Join(members, ","), skip)
	case *kmsg.SyncGroupResponse:
		if body.ErrorCode != 0 {
			return who + ": " + codeName(body.ErrorCode)
		}
		return fmt.Sprintf("%s: OK assignment=%q", who, body.MemberAssignment)
	case *kmsg.HeartbeatResponse:
		return who + ": " + codeName(body.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		out := who + ": " + codeName(body.ErrorCode)
		for _, m := range body.Members {
			out += " " + s.alias(m.MemberID) + "=" + codeName(m.ErrorCode)
		}
		return out
	case *kmsg.OffsetCommitResponse:
		var parts []string
		for _, rt := range body.Topics {
			for _, rp := range rt.Partitions {
				parts = append(parts, fmt.Sprintf("%s:%d=%s", rt.Topic, rp.Partition, codeName(rp.ErrorCode)))
			}
		}
		sort.Strings(parts)
		return who + ": " + strings.Join(parts, " ")
	case *kmsg.OffsetDeleteResponse:
		return who + ": " + codeName(body.ErrorCode)
	case *kmsg.DeleteGroupsResponse:
		return who + ": " + codeName(body.Groups[0].ErrorCode)
	case *kmsg.ConsumerGroupHeartbeatResponse:
		if body.ErrorCode != 0 {
			return who + ": " + codeName(body.ErrorCode)
		}
		out := fmt.Sprintf("%s: epoch=%d", who, body.MemberEpoch)
		if body.MemberEpoch >= 0 {
			s.cgEpochs[alias] = body.MemberEpoch
		}
		if body.Assignment != nil {
			var parts []string
			for _, t := range body.Assignment.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, fmt.Sprintf("%s:%d", s.topicName(TopicID(t.TopicID)), p))
				}
			}
			sort.Strings(parts)
			s.cgAssigned[alias] = strings.Join(parts, ",")
			out += " assignment=[" + strings.Join(parts, " ") + "]"
		}
		if body.HeartbeatIntervalMillis != 5000 {
			out += fmt.Sprintf(" heartbeat=%dms", body.HeartbeatIntervalMillis)
		}
		return out
	}
	return fmt.Sprintf("%s: %T", who, r.Body)
}

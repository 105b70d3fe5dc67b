package group

import (
	"fmt"
	"os"
	"slices"
	"time"

	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// TestConsumerGroupProperties drives one consumer-protocol group with
// random clients doing random things — joining with a subscription by
// names or by regex, heartbeating fully or as keepalives, changing their
// subscription, leaving (also as static members), crashing, and time
// passing — while topics are created, grown and deleted, appends commit
// or fail, and the coordinator fails over to one that replays the log.
// After every step:
//
//   - no partition is owned by two clients at once (what each client
//     believes it owns, from the answers it got), and none is in two
//     members' assigned or revoking sets on the coordinator;
//   - a member's epoch never goes backwards in the answers it gets, and
//     neither the group epoch nor the assignment epoch go backwards;
//   - every request is answered exactly once, and after a Tick the next
//     deadline is in the future.
//
// Then the clients stop changing anything and heartbeat until quiet: every
// subscribed partition is assigned, every member is at the target's epoch,
// and each client owns exactly what the coordinator assigned it.
func TestConsumerGroupProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newConsumerModel()
		aliases := []string{"A", "B", "C", "D"}
		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			alias := rapid.SampledFrom(aliases).Draw(t, "client")
			switch rapid.IntRange(0, 13).Draw(t, "action") {
			case 0, 1:
				m.heartbeat(alias, true)
			case 2:
				m.heartbeat(alias, false)
			case 3:
				m.subscribe(alias, rapid.IntRange(0, 3).Draw(t, "subscription"))
			case 4:
				m.leave(alias)
			case 5:
				m.crash(alias)
			case 6:
				m.tick(time.Duration(rapid.IntRange(1, 20).Draw(t, "seconds")) * time.Second)
			case 7, 8:
				m.appends(rapid.IntRange(0, 5).Draw(t, "fail") != 0)
				if m.c.Diverged() {
					m.failover()
				}
			case 9:
				m.failover()
			case 10:
				m.topicChange(rapid.IntRange(0, 2).Draw(t, "topic change"))
			case 11:
				m.commit(alias)
			case 12:
				m.staticLeave(alias, rapid.Bool().Draw(t, "same id"))
			case 13:
				m.heartbeat(alias, true)
				m.appends(true)
			}
			m.check()
			if m.violation != "" {
				t.Fatal(m.violation)
			}
		}
		m.converge()
		if m.violation != "" {
			t.Fatal(m.violation)
		}
	})
}

var debugModel = os.Getenv("CAIRN_DEBUG_MODEL") != ""

const (
	modelSession   = 45 * time.Second
	modelRebalance = 20 * time.Second
)

var (
	topicT = TopicID{1}
	topicU = TopicID{2}
)

// consumerClient is one client as the model sees it.
type consumerClient struct {
	id       string
	instance *string
	epoch    int32
	owned    partitionSet
	// subscription: 0 t, 1 u, 2 t and u, 3 the regex "t|u".
	subscription int
	// reported is whether the coordinator has heard owned and the
	// subscription since they last changed; keepalives are sent then.
	reported bool
	// inflight is the token of its heartbeat not yet answered (clients
	// send one at a time).
	inflight Token
	// lastOK is when it sent its last heartbeat that was answered
	// without error.
	lastOK time.Time
	// maxEpoch is the highest epoch it was told as this member id.
	maxEpoch int32
	left     bool
	// lostAt is when it last gave its partitions up as lost; answers to
	// requests sent before are ignored.
	lostAt time.Time
}

type consumerModel struct {
	c       *Coordinator
	now     time.Time
	clients map[string]*consumerClient
	order   []string
	topics  []TopicInfo
	next    Token
	open    map[Token]string
	sent    map[Token]*kmsg.ConsumerGroupHeartbeatRequest
	sentAt  map[Token]time.Time
	pending []Append
	written []Record
	incarn  int
	ids     int
	// maxGroupEpoch and maxAssignmentEpoch are the highest the
	// coordinator has had with its writes committed.
	maxGroupEpoch, maxAssignmentEpoch int32
	violation                         string
}

func newConsumerModel() *consumerModel {
	m := &consumerModel{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), clients: map[string]*consumerClient{},
		open: map[Token]string{}, sent: map[Token]*kmsg.ConsumerGroupHeartbeatRequest{}, sentAt: map[Token]time.Time{}}
	m.topics = []TopicInfo{{Name: "t", ID: topicT, Partitions: 4}, {Name: "u", ID: topicU, Partitions: 2}}
	m.c = New(testConfig(), 0, "0")
	m.c.UpdateTopics(m.now, m.topics)
	for _, a := range []string{"A", "B", "C", "D"} {
		cl := &consumerClient{subscription: len(m.order) % 4}
		if a == "D" {
			instance := "static-D"
			cl.instance = &instance
		}
		m.clients[a] = cl
		m.order = append(m.order, a)
	}
	return m
}

func (m *consumerModel) fail(format string, args ...any) {
	if m.violation == "" {
		m.violation = fmt.Sprintf(format, args...)
	}
}

func (m *consumerModel) subscriptionOf(cl *consumerClient) ([]string, *string) {
	switch cl.subscription {
	case 0:
		return []string{"t"}, nil
	case 1:
		return []string{"u"}, nil
	case 2:
		return []string{"t", "u"}, nil
	}
	regex := "t|u"
	return nil, &regex
}

// heartbeat sends one heartbeat: a join if the client has no member, a
// full one when asked or when it has news, else a keepalive.
func (m *consumerModel) heartbeat(alias string, full bool) {
	cl := m.clients[alias]
	if cl.inflight != 0 {
		return
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(1)
	req.Group = "g"
	if cl.id == "" {
		m.ids++
		cl.id = fmt.Sprintf("%s-%d", alias, m.ids)
		cl.epoch, cl.maxEpoch, cl.owned, cl.left = 0, 0, nil, false
	}
	req.MemberID, req.MemberEpoch = cl.id, cl.epoch
	if full || !cl.reported || cl.epoch == 0 {
		req.InstanceID = cl.instance
		req.RebalanceTimeoutMillis = int32(modelRebalance / time.Millisecond)
		req.SubscribedTopicNames, req.SubscribedTopicRegex = m.subscriptionOf(cl)
		assignor := AssignorUniform
		if cl.subscription == 1 {
			assignor = AssignorRange
		}
		req.ServerAssignor = &assignor
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if cl.epoch != 0 {
			for i := 0; i < len(cl.owned); {
				j := i
				for j < len(cl.owned) && cl.owned[j].topic == cl.owned[i].topic {
					j++
				}
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID = cl.owned[i].topic
				for _, p := range cl.owned[i:j] {
					rt.Partitions = append(rt.Partitions, p.partition)
				}
				req.Topics = append(req.Topics, rt)
				i = j
			}
		}
		cl.reported = true
	} else {
		req.RebalanceTimeoutMillis = -1
	}
	m.send(alias, req)
}

func (m *consumerModel) send(alias string, req *kmsg.ConsumerGroupHeartbeatRequest) {
	m.next++
	m.open[m.next] = alias
	m.sent[m.next] = req
	m.sentAt[m.next] = m.now
	cl := m.clients[alias]
	if req.MemberEpoch >= 0 {
		cl.inflight = m.next
	}
	m.c.ConsumerGroupHeartbeat(m.now, m.next, req, alias, "/h")
	m.take()
}

func (m *consumerModel) subscribe(alias string, subscription int) {
	cl := m.clients[alias]
	if cl.subscription != subscription {
		cl.subscription = subscription
		cl.reported = false
	}
	m.heartbeat(alias, true)
}

// leave sends a leave (epoch -1); the client gives up its partitions
// first, as a closing consumer does.
func (m *consumerModel) leave(alias string) {
	cl := m.clients[alias]
	if cl.id == "" || cl.inflight != 0 {
		return
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(1)
	req.Group, req.MemberID, req.MemberEpoch = "g", cl.id, leaveEpoch
	cl.owned, cl.left = nil, true
	m.send(alias, req)
	cl.id = ""
}

// staticLeave is a static member's shutdown (epoch -2): it keeps its
// instance's assignment on the coordinator and comes back later with a
// new member id, or with the same one.
func (m *consumerModel) staticLeave(alias string, sameID bool) {
	cl := m.clients[alias]
	if cl.instance == nil {
		m.leave(alias)
		return
	}
	if cl.id == "" || cl.inflight != 0 {
		return
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(1)
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = "g", cl.id, staticLeaveEpoch, cl.instance
	cl.owned, cl.left = nil, true
	m.send(alias, req)
	cl.id = ""
	if sameID {
		cl.id, cl.epoch, cl.reported, cl.maxEpoch = req.MemberID, 0, false, 0
	}
}

// crash loses the client's state without a word to the coordinator.
func (m *consumerModel) crash(alias string) {
	cl := m.clients[alias]
	cl.id, cl.owned, cl.inflight, cl.epoch, cl.reported = "", nil, 0, 0, false
}

func (m *consumerModel) commit(alias string) {
	cl := m.clients[alias]
	if cl.id == "" || len(cl.owned) == 0 {
		return
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(9)
	req.Group, req.MemberID, req.Generation = "g", cl.id, cl.epoch
	p := cl.owned[0]
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = m.c.topicIDs[p.topic]
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = p.partition, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	m.next++
	m.open[m.next] = alias
	m.c.OffsetCommit(m.now, m.next, req, func(string, int32) bool { return true })
	m.take()
}

// tick lets time pass. A client that has not had a heartbeat answered for
// its rebalance timeout considers its partitions lost (before the
// coordinator can give them away) and rejoins.
func (m *consumerModel) tick(d time.Duration) {
	m.now = m.now.Add(d)
	for _, a := range m.order {
		cl := m.clients[a]
		if cl.id != "" && (cl.epoch > 0 || len(cl.owned) > 0) && !m.now.Before(cl.lastOK.Add(min(modelSession, modelRebalance))) {
			cl.owned, cl.epoch, cl.reported, cl.inflight, cl.lostAt = nil, 0, false, 0, m.now
		}
	}
	m.c.Tick(m.now)
	m.take()
	if next := m.c.Deadline(); !next.IsZero() && !next.After(m.now) {
		m.fail("after Tick at %v the next deadline %v is not in the future", m.now, next)
	}
}

func (m *consumerModel) appends(succeed bool) {
	m.take()
	pending := m.pending
	m.pending = nil
	for _, a := range pending {
		code := int16(0)
		if succeed {
			m.written = append(m.written, a.Records...)
		} else {
			code = kerr.NotCoordinator.Code
		}
		m.c.AppendDone(m.now, a.ID, code)
	}
	m.take()
}

// failover replaces the coordinator by one that replays what was written.
func (m *consumerModel) failover() {
	m.take()
	m.c.Close()
	m.take()
	m.pending = nil
	m.incarn++
	m.c = New(testConfig(), 0, fmt.Sprint(m.incarn))
	for _, r := range m.written {
		if err := m.c.Replay(m.now, r.Key, r.Value); err != nil {
			m.fail("replay: %v", err)
		}
	}
	m.c.UpdateTopics(m.now, m.topics)
	m.take()
}

// topicChange grows t, deletes u, or (re)creates u.
func (m *consumerModel) topicChange(kind int) {
	switch kind {
	case 0:
		if m.topics[0].Partitions < 8 {
			m.topics[0].Partitions++
		}
	case 1:
		if len(m.topics) == 2 {
			m.topics = m.topics[:1]
			// Clients drop what they owned of a deleted topic.
			for _, a := range m.order {
				cl := m.clients[a]
				if kept := slices.DeleteFunc(slices.Clone(cl.owned), func(p topicPartitionID) bool { return p.topic == topicU }); len(kept) != len(cl.owned) {
					cl.owned, cl.reported = kept, false
				}
			}
		}
	case 2:
		if len(m.topics) == 1 {
			m.topics = append(m.topics, TopicInfo{Name: "u", ID: topicU, Partitions: 2})
		}
	}
	m.c.UpdateTopics(m.now, slices.Clone(m.topics))
	m.take()
}

func (m *consumerModel) take() {
	for m.c.HasReady() {
		rd := m.c.Ready()
		m.c.Advance()
		m.pending = append(m.pending, rd.Appends...)
		for _, r := range rd.Responses {
			alias, ok := m.open[r.Token]
			if !ok {
				m.fail("a second answer for request %d", r.Token)
				continue
			}
			delete(m.open, r.Token)
			req, sentAt := m.sent[r.Token], m.sentAt[r.Token]
			delete(m.sent, r.Token)
			delete(m.sentAt, r.Token)
			if body, ok := r.Body.(*kmsg.ConsumerGroupHeartbeatResponse); ok {
				m.answered(m.clients[alias], r.Token, req, sentAt, body)
			}
		}
	}
}

// answered applies a heartbeat's answer to its client, as franz-go does.
func (m *consumerModel) answered(cl *consumerClient, token Token, req *kmsg.ConsumerGroupHeartbeatRequest, sentAt time.Time,
	resp *kmsg.ConsumerGroupHeartbeatResponse) {
	if debugModel {
		fmt.Printf("t=%v %s epoch %d topics %v -> err %d epoch %d assign %v\n", m.now.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), req.MemberID, req.MemberEpoch, req.Topics, resp.ErrorCode, resp.MemberEpoch, resp.Assignment)
	}
	if cl.inflight == token {
		cl.inflight = 0
	}
	if req.MemberEpoch < 0 || cl.id != req.MemberID || sentAt.Before(cl.lostAt) {
		return // a leave, or an answer to a client that crashed or gave up since
	}
	if !m.now.Before(sentAt.Add(modelRebalance)) {
		// The client's request timed out long ago (a real client's
		// request timeout is below its rebalance timeout): it has
		// given up its partitions and rejoins.
		cl.owned, cl.epoch, cl.reported, cl.lostAt = nil, 0, false, m.now
		return
	}
	switch resp.ErrorCode {
	case 0:
	case kerr.UnknownMemberID.Code:
		cl.id, cl.owned, cl.epoch, cl.reported = "", nil, 0, false
		return
	case kerr.FencedMemberEpoch.Code:
		cl.owned, cl.epoch, cl.reported = nil, 0, false
		return
	default:
		cl.reported = false // resend everything
		return
	}
	cl.lastOK = sentAt
	if resp.MemberEpoch < cl.maxEpoch {
		m.fail("member %s: told epoch %d after %d", cl.id, resp.MemberEpoch, cl.maxEpoch)
	}
	cl.maxEpoch = max(cl.maxEpoch, resp.MemberEpoch)
	cl.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		var next partitionSet
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				next = append(next, topicPartitionID{TopicID(t.TopicID), p})
			}
		}
		next = next.normalize()
		if !slices.Equal(next, cl.owned) {
			cl.owned = next
			cl.reported = false
		}
	}
}

func (m *consumerModel) check() {
	owner := map[topicPartitionID]string{}
	for _, a := range m.order {
		for _, p := range m.clients[a].owned {
			if prev, ok := owner[p]; ok {
				m.fail("partition %v owned by clients %s and %s at once", p, prev, a)
			}
			owner[p] = a
		}
	}
	g := m.c.group("g")
	if g == nil || g.consumer == nil {
		return
	}
	cg := g.consumer
	seen := map[topicPartitionID]string{}
	for _, id := range cg.memberIDs {
		mm := cg.members[id]
		for _, p := range append(slices.Clone(mm.assigned), mm.revoking...) {
			if prev, ok := seen[p]; ok {
				m.fail("partition %v in members %s and %s at once", p, prev, id)
			}
			seen[p] = id
			if cg.owners[p] != id {
				m.fail("partition %v: owners index says %q, member %s has it", p, cg.owners[p], id)
			}
		}
	}
	if len(cg.owners) != len(seen) {
		m.fail("owners index has %d partitions, members %d", len(cg.owners), len(seen))
	}
	if len(m.pending) == 0 {
		// Everything written: the epochs are durable and must never
		// go back, across failovers too.
		if cg.epoch < m.maxGroupEpoch || cg.assignmentEpoch < m.maxAssignmentEpoch {
			m.fail("epochs went back: group %d after %d, assignment %d after %d", cg.epoch, m.maxGroupEpoch, cg.assignmentEpoch, m.maxAssignmentEpoch)
		}
		m.maxGroupEpoch, m.maxAssignmentEpoch = cg.epoch, cg.assignmentEpoch
	}
}

// converge: every client that is not gone heartbeats, appends commit, and
// time moves by heartbeat intervals, until nothing changes.
func (m *consumerModel) converge() {
	m.appends(true)
	for _, a := range m.order {
		if cl := m.clients[a]; cl.left {
			m.clients[a].left = false
		}
	}
	for round := 0; round < 40; round++ {
		for _, a := range m.order {
			m.heartbeat(a, false)
			m.appends(true)
		}
		m.tick(5 * time.Second)
		m.appends(true)
		m.check()
	}
	if m.violation != "" {
		return
	}
	if len(m.open) > 0 {
		m.fail("%d request(s) never answered", len(m.open))
	}
	g := m.c.group("g")
	if g == nil || g.consumer == nil {
		m.fail("no consumer group after convergence")
		return
	}
	cg := g.consumer
	if state := cg.stateName(); state != "Stable" {
		m.fail("group %s after convergence (epoch %d, assignment epoch %d)", state, cg.epoch, cg.assignmentEpoch)
	}
	subscribed := map[topicPartitionID]bool{}
	for _, a := range m.order {
		cl := m.clients[a]
		mm := cg.members[cl.id]
		if mm == nil {
			m.fail("client %s (%s) is not a member after convergence", a, cl.id)
			continue
		}
		if mm.epoch != cg.assignmentEpoch || !slices.Equal(mm.assigned, cg.target[cl.id]) {
			m.fail("member %s at epoch %d with %v; target epoch %d with %v", a, mm.epoch, mm.assigned, cg.assignmentEpoch, cg.target[cl.id])
		}
		if !slices.Equal(cl.owned, mm.assigned) {
			m.fail("client %s owns %v, the coordinator assigned %v", a, cl.owned, mm.assigned)
		}
		names, regex := m.subscriptionOf(cl)
		for _, t := range m.topics {
			if slices.Contains(names, t.Name) || regex != nil {
				for p := int32(0); p < t.Partitions; p++ {
					subscribed[topicPartitionID{t.ID, p}] = true
				}
			}
		}
	}
	for p := range subscribed {
		if _, ok := cg.owners[p]; !ok {
			m.fail("subscribed partition %v is assigned to nobody after convergence", p)
		}
	}
	if len(cg.members) != len(m.order) {
		m.fail("%d members after convergence, %d clients", len(cg.members), len(m.order))
	}
}

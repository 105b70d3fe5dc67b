package group

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

// TestCoordinatorProperties drives one group with random members doing
// random things (joins, syncs with a fresh assignment, heartbeats,
// commits, leaves, time passing, appends completing or failing, a
// coordinator failover that replays what was written) and checks after
// every step:
//
//   - every request gets exactly one answer;
//   - within one generation every member is answered the assignment the
//     leader wrote for it, so no partition has two owners;
//   - an accepted commit came from a member of the group's generation at
//     the time it was sent, or from outside an empty group;
//   - OffsetFetch shows exactly the last acknowledged commit per
//     partition, across failovers too: acknowledged offsets are never
//     lost or moved backwards by anything but a later acknowledged commit;
//   - the coordinator's next deadline is never in the past after a Tick.
func TestCoordinatorProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newModel()
		aliases := []string{"A", "B", "C", "D"}
		steps := rapid.IntRange(1, 120).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			alias := rapid.SampledFrom(aliases).Draw(t, "member")
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1:
				m.join(alias)
			case 2:
				m.sync(alias, rapid.Bool().Draw(t, "stale"))
			case 3:
				m.heartbeat(alias)
			case 4:
				m.commit(alias, rapid.Int64Range(0, 1000).Draw(t, "offset"), rapid.Bool().Draw(t, "stale"))
			case 5:
				m.leave(alias)
			case 6:
				m.tick(time.Duration(rapid.IntRange(1, 12).Draw(t, "seconds")) * time.Second)
			case 7:
				m.appends(rapid.IntRange(0, 3).Draw(t, "fail") == 0)
			case 8:
				m.failover()
			case 9:
				m.appends(true)
			}
			m.check()
			if m.violation != "" {
				t.Fatal(m.violation)
			}
		}
	})
}

const propertyPartitions = 4

type model struct {
	c         *Coordinator
	now       time.Time
	ids       map[string]string
	gens      map[string]int32
	nextToken Token
	open      map[Token]string // outstanding requests
	// written is the log: every committed append's records, in order.
	written []Record
	pending []Append
	incarn  int
	// assigned is, per generation, what the leader's sync wrote.
	assigned map[int32]map[string]string
	// syncGen remembers the generation of each outstanding sync.
	syncGen map[Token]int32
	// commits remembers each outstanding commit: offset and whether it
	// was allowed when sent.
	commits map[Token]commitSent
	// acked is the last acknowledged commit per partition.
	acked map[int32]int64
	// writtenGens are the generations whose metadata (with members) is
	// in the log.
	writtenGens map[int32]bool
	// violation is the first property broken, if any.
	violation string
}

func (m *model) fail(format string, args ...any) {
	if m.violation == "" {
		m.violation = fmt.Sprintf(format, args...)
	}
}

type commitSent struct {
	offset  int64
	allowed bool
}

func newModel() *model {
	return &model{c: New(testConfig(), 0, "0"), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ids: map[string]string{}, gens: map[string]int32{}, open: map[Token]string{},
		assigned: map[int32]map[string]string{}, syncGen: map[Token]int32{}, commits: map[Token]commitSent{},
		acked: map[int32]int64{}, writtenGens: map[int32]bool{}}
}

func (m *model) token(what string) Token {
	m.nextToken++
	m.open[m.nextToken] = what
	return m.nextToken
}

func (m *model) join(alias string) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(9)
	req.Group, req.MemberID = "g", m.ids[alias]
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 15000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	req.Protocols = append(req.Protocols, p)
	m.c.JoinGroup(m.now, m.token(alias+" join"), req, alias, "/h")
	m.take()
}

func (m *model) sync(alias string, stale bool) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(5)
	req.Group, req.MemberID, req.Generation = "g", m.ids[alias], m.gens[alias]
	if stale {
		req.Generation--
	}
	// Whoever syncs offers an assignment; only the leader's counts.
	// Partitions are dealt round-robin over the members named.
	var members []string
	for _, a := range []string{"A", "B", "C", "D"} {
		if m.ids[a] != "" {
			members = append(members, a)
		}
	}
	shares := map[string][]string{}
	for p := 0; p < propertyPartitions && len(members) > 0; p++ {
		a := members[p%len(members)]
		shares[a] = append(shares[a], fmt.Sprint(p))
	}
	for _, a := range members {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m.ids[a], []byte(strings.Join(shares[a], ","))
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	state, gen, _ := m.c.GroupState("g")
	token := m.token(alias + " sync")
	m.syncGen[token] = req.Generation
	leader := m.leader()
	if state == CompletingRebalance && gen == req.Generation && leader == m.ids[alias] && m.assigned[gen] == nil {
		written := map[string]string{}
		for _, ga := range req.GroupAssignment {
			written[ga.MemberID] = string(ga.MemberAssignment)
		}
		m.assigned[gen] = written
	}
	m.c.SyncGroup(m.now, token, req)
	m.take()
}

func (m *model) leader() string {
	g := m.c.group("g")
	if g == nil {
		return ""
	}
	return g.leader
}

func (m *model) heartbeat(alias string) {
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(4)
	req.Group, req.MemberID, req.Generation = "g", m.ids[alias], m.gens[alias]
	m.c.Heartbeat(m.now, m.token(alias+" heartbeat"), req)
	m.take()
}

func (m *model) commit(alias string, offset int64, stale bool) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(8)
	req.Group, req.MemberID, req.Generation = "g", m.ids[alias], m.gens[alias]
	if stale {
		req.Generation--
	}
	if req.MemberID == "" {
		req.Generation = -1
	}
	partition := int32(offset % propertyPartitions)
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	state, gen, exists := m.c.GroupState("g")
	g := m.c.group("g")
	allowed := !exists || (state == Empty && req.Generation < 0) ||
		(g.member(req.MemberID) != nil && req.Generation == gen && state != CompletingRebalance && state != Dead)
	token := m.token(alias + " commit")
	m.commits[token] = commitSent{offset: offset, allowed: allowed}
	m.c.OffsetCommit(m.now, token, req, func(string, int32) bool { return true })
	m.take()
}

func (m *model) leave(alias string) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.SetVersion(5)
	req.Group = "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m.ids[alias]
	req.Members = append(req.Members, lm)
	m.c.LeaveGroup(m.now, m.token(alias+" leave"), req)
	m.take()
}

func (m *model) tick(d time.Duration) {
	m.now = m.now.Add(d)
	m.c.Tick(m.now)
	m.take()
	if next := m.c.Deadline(); !next.IsZero() && !next.After(m.now) {
		m.fail("after Tick at %v the next deadline %v is not in the future", m.now, next)
	}
}

func (m *model) appends(succeed bool) {
	m.take()
	pending := m.pending
	m.pending = nil
	for _, a := range pending {
		code := int16(0)
		if succeed {
			m.written = append(m.written, a.Records...)
			for _, r := range a.Records {
				var v kmsg.GroupMetadataValue
				if r.Key[1] == groupKeyVersion && r.Value != nil && v.ReadFrom(r.Value) == nil && len(v.Members) > 0 {
					m.writtenGens[v.Generation] = true
				}
			}
		} else {
			code = 16 // NOT_COORDINATOR
		}
		m.c.AppendDone(m.now, a.ID, code)
	}
	m.take()
}

// failover replaces the coordinator by one that replays what was written;
// appends not yet written are lost, and their requests answered
// NOT_COORDINATOR by the old one.
func (m *model) failover() {
	m.take()
	m.c.Close()
	m.pending = nil
	m.take()
	m.pending = nil
	m.incarn++
	m.c = New(testConfig(), 0, fmt.Sprint(m.incarn))
	for _, r := range m.written {
		if err := m.c.Replay(m.now, r.Key, r.Value); err != nil {
			m.fail("replay: %v", err)
		}
	}
	// Generations whose metadata was never written are handed out again
	// by the new coordinator, as Kafka's would: forget what the model
	// knew of them.
	_, gen, _ := m.c.GroupState("g")
	for g := range m.assigned {
		if g > gen {
			delete(m.assigned, g)
		}
	}
}

// take applies the coordinator's effects to the model and checks each
// answer.
func (m *model) take() {
	for m.c.HasReady() {
		rd := m.c.Ready()
		m.c.Advance()
		m.pending = append(m.pending, rd.Appends...)
		for _, r := range rd.Responses {
			what, ok := m.open[r.Token]
			if !ok {
				m.fail("a second answer for request %d: %T", r.Token, r.Body)
			}
			delete(m.open, r.Token)
			alias, _, _ := strings.Cut(what, " ")
			switch body := r.Body.(type) {
			case *kmsg.JoinGroupResponse:
				if body.MemberID != "" {
					m.ids[alias] = body.MemberID
				}
				if body.ErrorCode == 0 {
					m.gens[alias] = body.Generation
				} else if body.ErrorCode == 25 { // UNKNOWN_MEMBER_ID: start over
					m.ids[alias] = ""
				}
			case *kmsg.SyncGroupResponse:
				gen := m.syncGen[r.Token]
				delete(m.syncGen, r.Token)
				if body.ErrorCode != 0 {
					continue
				}
				want, ok := m.assigned[gen][m.ids[alias]]
				if !m.writtenGens[gen] {
					m.fail("generation %d: %s was answered its assignment before it was written", gen, alias)
				}
				if m.assigned[gen] == nil {
					// A replayed group answers from the written
					// assignment of a generation this model saw.
					continue
				}
				if !ok && len(body.MemberAssignment) > 0 || ok && want != string(body.MemberAssignment) {
					m.fail("generation %d: %s was assigned %q, the leader wrote %q", gen, alias, body.MemberAssignment, want)
				}
			case *kmsg.OffsetCommitResponse:
				sent := m.commits[r.Token]
				delete(m.commits, r.Token)
				code := body.Topics[0].Partitions[0].ErrorCode
				if code == 0 && !sent.allowed {
					m.fail("%s: a commit from a stale generation or a non-member was accepted", alias)
				}
				if code == 0 {
					m.acked[int32(sent.offset%propertyPartitions)] = sent.offset
				}
			}
		}
	}
}

func (m *model) check() {
	for p := int32(0); p < propertyPartitions; p++ {
		o, ok := m.c.Committed("g", "t", p)
		want, acked := m.acked[p]
		switch {
		case acked && (!ok || o.Offset != want):
			m.fail("partition %d: committed %v (%v), last acknowledged %d", p, o.Offset, ok, want)
		case !acked && ok:
			m.fail("partition %d: committed %d, nothing acknowledged", p, o.Offset)
		}
	}
}

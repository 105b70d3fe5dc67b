package group

import (
	"bytes"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup handles a JoinGroupRequest. The answer comes when the join
// phase ends, or at once for an error or MEMBER_ID_REQUIRED.
func (c *Coordinator) JoinGroup(now time.Time, token Token, req *kmsg.JoinGroupRequest, clientID, clientHost string) {
	defer c.assertInvariants()
	fail := func(code int16) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = code
		resp.Generation = -1
		resp.MemberID = req.MemberID
		c.respond(token, resp)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	switch {
	case req.Group == "":
		fail(kerr.InvalidGroupID.Code)
		return
	case session < c.config.SessionTimeoutMin || session > c.config.SessionTimeoutMax:
		fail(kerr.InvalidSessionTimeout.Code)
		return
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	g := c.group(req.Group)
	if g == nil {
		if req.MemberID != "" {
			fail(kerr.UnknownMemberID.Code)
			return
		}
		g = c.createGroup(req.Group, now)
	}
	if g.consumer != nil {
		if len(g.consumer.members) > 0 {
			// No online migration of a consumer-protocol group to
			// the classic protocol (group.consumer.migration.policy
			// =disabled in Kafka 4).
			fail(kerr.InconsistentGroupProtocol.Code)
			return
		}
		// An empty consumer group becomes classic; its offsets stay.
		g.consumer = nil
		g.generation = 0
		g.state = Empty
	}
	switch {
	case g.state == Dead:
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	case !c.protocolsCompatible(g, req):
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	if req.MemberID == "" {
		c.joinUnknown(now, g, token, req, clientID, clientHost, fail)
		return
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		c.addMember(now, g, token, req, req.MemberID, clientID, clientHost)
		return
	}
	if req.InstanceID != nil {
		if id, ok := g.static[*req.InstanceID]; ok && id != req.MemberID {
			fail(kerr.FencedInstanceID.Code)
			return
		}
	}
	m := g.member(req.MemberID)
	if m == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	c.joinKnown(now, g, m, token, req)
}

// protocolsCompatible checks a join against the group: the same protocol
// type, and at least one protocol every member (and this one) supports.
func (c *Coordinator) protocolsCompatible(g *group, req *kmsg.JoinGroupRequest) bool {
	if len(g.members) == 0 {
		return true
	}
	if req.ProtocolType != g.protocolType {
		return false
	}
	for _, p := range req.Protocols {
		all := true
		for _, m := range g.members {
			if m.id != req.MemberID && !hasProtocol(m, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(m *member, name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

func (c *Coordinator) newMemberID(clientID string) string {
	c.nextMember++
	return clientID + "-" + strconv.Itoa(int(c.partition)) + "-" + c.incarnation + "-" + strconv.FormatUint(c.nextMember, 10)
}

// joinUnknown handles a join without a member id.
func (c *Coordinator) joinUnknown(now time.Time, g *group, token Token, req *kmsg.JoinGroupRequest,
	clientID, clientHost string, fail func(int16)) {
	if len(g.members)+len(g.pending) >= c.config.GroupSizeMax {
		fail(kerr.GroupMaxSizeReached.Code)
		return
	}
	id := c.newMemberID(clientID)
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			// A static member restarted: the new id replaces the
			// old one, whose requests are now fenced.
			if m := g.member(old); m != nil {
				c.replaceStatic(now, g, m, id, token, req)
				return
			}
		}
		c.addMember(now, g, token, req, id, clientID, clientHost)
		return
	}
	if req.Version >= 4 {
		// KIP-394: hand out the id first, so that a client that times
		// out and retries does not leave a ghost member behind.
		if len(g.pending) >= pendingMembersMax {
			fail(kerr.GroupMaxSizeReached.Code)
			return
		}
		g.pending[id] = now.Add(time.Duration(req.SessionTimeoutMillis) * time.Millisecond)
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.MemberIDRequired.Code
		resp.Generation = -1
		resp.MemberID = id
		c.respond(token, resp)
		return
	}
	c.addMember(now, g, token, req, id, clientID, clientHost)
}

// replaceStatic gives a restarted static member its new id; the old id's
// requests are fenced from now on. In a Stable group that keeps its
// protocol, the member takes its old place and assignment without a
// rebalance (KIP-345); otherwise the group rebalances.
func (c *Coordinator) replaceStatic(now time.Time, g *group, m *member, id string, token Token, req *kmsg.JoinGroupRequest) {
	if m.join != 0 {
		c.respondJoinError(m, kerr.FencedInstanceID.Code)
	}
	if m.sync != 0 {
		c.respondSyncError(m, kerr.FencedInstanceID.Code)
	}
	before := *m
	before.protocols = slices.Clone(m.protocols)
	if g.leader == m.id {
		g.leader = id
	}
	m.id = id
	g.static[*req.InstanceID] = id
	c.updateMember(now, m, req)
	if g.state == Stable && selectProtocol(g) == g.protocol {
		c.rejoinStable(now, g, m, &before, token, req)
		return
	}
	m.join, m.joinVersion, m.joinReq = token, req.Version, req
	if g.state != PreparingRebalance {
		c.prepareRebalance(now, g)
	}
	c.maybeCompleteJoin(now, g)
}

// rejoinStable answers a restarted static member of a Stable group with
// the current generation once its new id is written. Its assignment
// stands: the next SyncGroup returns it. A leader is told to skip the
// assignment (v9+; an older leader's SyncGroup in a Stable group changes
// nothing either). If the write fails, the member keeps its old id, and
// the join gets the write's error.
func (c *Coordinator) rejoinStable(now time.Time, g *group, m *member, before *member, token Token, req *kmsg.JoinGroupRequest) {
	resp := c.joinResponse(g, m, req.Version, req)
	resp.SkipAssignment = m.id == g.leader
	instance, id := *req.InstanceID, m.id
	c.append([]Record{c.groupRecord(g, now)}, &appendWait{token: token, group: g.name, response: resp, onFail: func(code int16) {
		if g.static[instance] == id && g.member(id) == m {
			if g.leader == id {
				g.leader = before.id
			}
			g.static[instance] = before.id
			m.id, m.protocolType, m.protocols = before.id, before.protocolType, before.protocols
			m.sessionTimeout, m.rebalanceTimeout = before.sessionTimeout, before.rebalanceTimeout
		}
		// No member id: the process joins again as a restarted static
		// member (its new id was never written).
		resp.ErrorCode, resp.Generation, resp.MemberID, resp.LeaderID, resp.Members, resp.SkipAssignment = code, -1, req.MemberID, "", nil, false
	}})
}

func (c *Coordinator) addMember(now time.Time, g *group, token Token, req *kmsg.JoinGroupRequest, id, clientID, clientHost string) {
	m := &member{id: id, clientID: clientID, clientHost: clientHost, instanceID: req.InstanceID}
	c.updateMember(now, m, req)
	m.join, m.joinVersion, m.joinReq = token, req.Version, req
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members = append(g.members, m)
	if req.InstanceID != nil {
		g.static[*req.InstanceID] = id
	}
	if g.state != PreparingRebalance {
		c.prepareRebalance(now, g)
	} else if g.initialDelay {
		// Each member joining an empty group holds the door open a
		// little longer, up to the rebalance timeout.
		limit := g.stateChanged.Add(m.rebalanceTimeout)
		g.rebalanceDeadline = minTime(limit, now.Add(c.config.InitialRebalanceDelay))
	}
	c.maybeCompleteJoin(now, g)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *Coordinator) updateMember(now time.Time, m *member, req *kmsg.JoinGroupRequest) {
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	m.rebalanceTimeout = m.sessionTimeout
	if req.Version >= 1 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	m.protocolType = req.ProtocolType
	m.protocols = m.protocols[:0]
	for _, p := range req.Protocols {
		m.protocols = append(m.protocols, protocol{name: p.Name, metadata: p.Metadata})
	}
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
}

func sameProtocols(m *member, req *kmsg.JoinGroupRequest) bool {
	if len(m.protocols) != len(req.Protocols) {
		return false
	}
	for i, p := range req.Protocols {
		if m.protocols[i].name != p.Name || !bytes.Equal(m.protocols[i].metadata, p.Metadata) {
			return false
		}
	}
	return true
}

// joinKnown handles a join from a current member.
func (c *Coordinator) joinKnown(now time.Time, g *group, m *member, token Token, req *kmsg.JoinGroupRequest) {
	if m.join != 0 {
		// A retry replaces the earlier request, which gets no answer
		// of its own beyond this error.
		c.respondJoinError(m, kerr.UnknownMemberID.Code)
	}
	switch g.state {
	case PreparingRebalance:
		c.updateMember(now, m, req)
		m.join, m.joinVersion, m.joinReq = token, req.Version, req
		c.maybeCompleteJoin(now, g)
	case CompletingRebalance, Stable:
		if sameProtocols(m, req) && (g.state == CompletingRebalance || m.id != g.leader) {
			// Nothing changed: the member lost our answer; send it
			// again without a new rebalance.
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
			c.respond(token, c.joinResponse(g, m, req.Version, req))
			return
		}
		c.updateMember(now, m, req)
		m.join, m.joinVersion, m.joinReq = token, req.Version, req
		c.prepareRebalance(now, g)
		c.maybeCompleteJoin(now, g)
	default:
		c.respondJoinError(&member{join: token, joinReq: req, id: m.id}, kerr.UnknownMemberID.Code)
	}
}

func (c *Coordinator) respondJoinError(m *member, code int16) {
	resp := m.joinReq.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = m.id
	c.respond(m.join, resp)
	m.join, m.joinReq = 0, nil
}

// completeJoin ends a join phase: members that did not rejoin are removed,
// the generation advances, a protocol is chosen, and every member gets its
// answer (the leader with everyone's metadata).
func (c *Coordinator) completeJoin(now time.Time, g *group, timedOut bool) {
	if timedOut {
		for _, m := range append([]*member(nil), g.members...) {
			if m.join == 0 {
				g.removeMember(m.id)
				if m.instanceID != nil && g.static[*m.instanceID] == m.id {
					delete(g.static, *m.instanceID)
				}
			}
		}
	}
	g.initialDelay = false
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		c.setState(now, g, Empty)
		c.append([]Record{c.groupRecord(g, now)}, nil)
		return
	}
	g.protocol = selectProtocol(g)
	if g.member(g.leader) == nil {
		g.leader = g.members[0].id
	}
	c.setState(now, g, CompletingRebalance)
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.syncDeadline = now.Add(timeout)
	for _, m := range g.members {
		m.assignment = nil
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		c.respond(m.join, c.joinResponse(g, m, m.joinVersion, m.joinReq))
		m.join, m.joinReq = 0, nil
	}
}

// selectProtocol picks the protocol every member supports that most
// members prefer: each member votes for the first of its protocols that
// all support. Ties go to the earliest in the first member's list.
func selectProtocol(g *group) string {
	var candidates []string
	for _, p := range g.members[0].protocols {
		all := true
		for _, m := range g.members[1:] {
			if !hasProtocol(m, p.name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.name)
		}
	}
	votes := make([]int, len(candidates))
	for _, m := range g.members {
		for _, p := range m.protocols {
			if i := indexOf(candidates, p.name); i >= 0 {
				votes[i]++
				break
			}
		}
	}
	best := 0
	for i := range votes {
		if votes[i] > votes[best] {
			best = i
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	return candidates[best]
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func (c *Coordinator) joinResponse(g *group, m *member, version int16, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.SetVersion(version)
	resp.Generation = g.generation
	protocolType, protocol := g.protocolType, g.protocol
	resp.ProtocolType = &protocolType
	resp.Protocol = &protocol
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, other := range g.members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID = other.id
			rm.InstanceID = other.instanceID
			rm.ProtocolMetadata = other.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

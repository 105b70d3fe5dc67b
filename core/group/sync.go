package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/mutant"
)

// checkMember is the fencing every request of a member goes through:
// unknown member, fenced static instance, stale generation.
func checkMember(g *group, memberID string, instanceID *string, generation int32) (*member, int16) {
	if g == nil || g.state == Dead {
		return nil, kerr.UnknownMemberID.Code
	}
	if instanceID != nil {
		if id, ok := g.static[*instanceID]; ok && id != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.member(memberID)
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration.Code
	}
	return m, 0
}

// SyncGroup handles a SyncGroupRequest: the leader brings the assignment;
// every member waits for its share until the leader's is written.
func (c *Coordinator) SyncGroup(now time.Time, token Token, req *kmsg.SyncGroupRequest) {
	defer c.assertInvariants()
	fail := func(code int16) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		c.respond(token, resp)
	}
	g := c.group(req.Group)
	m, code := checkMember(g, req.MemberID, req.InstanceID, req.Generation)
	if code != 0 {
		fail(code)
		return
	}
	if req.Version >= 5 && (req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case PreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case Stable:
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		c.respond(token, c.syncResponse(g, m, req))
	case CompletingRebalance:
		if m.sync != 0 {
			c.respondSyncError(m, kerr.UnknownMemberID.Code)
		}
		m.sync, m.syncReq = token, req
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		if m.id == g.leader && g.syncAppend == 0 {
			c.leaderSynced(now, g, req)
		}
		if mutant.Active(mutant.StableBeforeAllSynced) && m.id == g.leader {
			// The bug: the group turns Stable with the leader's
			// assignment before it is written, and answers at once.
			c.setState(now, g, Stable)
			c.answerSyncs(g)
		}
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

// leaderSynced stores the leader's assignment and writes the group's
// metadata; members are answered once the write commits.
func (c *Coordinator) leaderSynced(now time.Time, g *group, req *kmsg.SyncGroupRequest) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range req.GroupAssignment {
		if m := g.member(a.MemberID); m != nil {
			m.assignment = a.MemberAssignment
		}
	}
	g.syncGeneration = g.generation
	g.syncAppend = c.append([]Record{c.groupRecord(g, now)}, &appendWait{group: g.name, sync: true})
}

// syncWritten completes a rebalance once the leader's assignment is
// written, or sends members back to rejoin if the write failed.
func (c *Coordinator) syncWritten(now time.Time, g *group, id uint64, code int16) {
	if g == nil || g.syncAppend != id || g.state != CompletingRebalance || g.generation != g.syncGeneration {
		return
	}
	g.syncAppend = 0
	if code != 0 {
		for _, m := range g.members {
			if m.sync != 0 {
				c.respondSyncError(m, code)
			}
			m.assignment = nil
		}
		c.prepareRebalance(now, g)
		return
	}
	c.setState(now, g, Stable)
	c.answerSyncs(g)
}

func (c *Coordinator) answerSyncs(g *group) {
	for _, m := range g.members {
		if m.sync != 0 {
			c.respond(m.sync, c.syncResponse(g, m, m.syncReq))
			m.sync, m.syncReq = 0, nil
		}
	}
}

func (c *Coordinator) syncResponse(g *group, m *member, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	protocolType, protocol := g.protocolType, g.protocol
	resp.ProtocolType = &protocolType
	resp.Protocol = &protocol
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (c *Coordinator) respondSyncError(m *member, code int16) {
	resp := m.syncReq.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = code
	c.respond(m.sync, resp)
	m.sync, m.syncReq = 0, nil
}

// Heartbeat handles a HeartbeatRequest: it keeps the session alive and
// tells the member when to rejoin.
func (c *Coordinator) Heartbeat(now time.Time, token Token, req *kmsg.HeartbeatRequest) {
	defer c.assertInvariants()
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	g := c.group(req.Group)
	m, code := checkMember(g, req.MemberID, req.InstanceID, req.Generation)
	switch {
	case code != 0:
		resp.ErrorCode = code
	case g.state == PreparingRebalance:
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case g.state == Empty:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	default:
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
	}
	c.respond(token, resp)
}

// LeaveGroup handles a LeaveGroupRequest: one member before v3, a batch of
// members (possibly by instance id) from v3.
func (c *Coordinator) LeaveGroup(now time.Time, token Token, req *kmsg.LeaveGroupRequest) {
	defer c.assertInvariants()
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	g := c.group(req.Group)
	if req.Version < 3 {
		resp.ErrorCode = c.leave(now, g, req.MemberID, nil)
		c.respond(token, resp)
		return
	}
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		c.respond(token, resp)
		return
	}
	for _, lm := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leave(now, g, lm.MemberID, lm.InstanceID)
		resp.Members = append(resp.Members, rm)
	}
	c.respond(token, resp)
}

func (c *Coordinator) leave(now time.Time, g *group, memberID string, instanceID *string) int16 {
	if g == nil || g.state == Dead {
		return kerr.UnknownMemberID.Code
	}
	if instanceID != nil {
		id, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case memberID != "" && id != memberID:
			return kerr.FencedInstanceID.Code
		}
		memberID = id
	}
	if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		if g.state == PreparingRebalance {
			c.maybeCompleteJoin(now, g)
		}
		return 0
	}
	m := g.member(memberID)
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	c.removeAndRebalance(now, g, m)
	return 0
}

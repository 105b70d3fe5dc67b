package sim

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/mutant"
	"cairn/linearizability"
)

// The group workload: members of one consumer group join, sync, heartbeat,
// consume and commit through the brokers' real coordinators and partition
// leaders, while producers write to the group's topic (the scenario's
// first) and the brokers suffer the scenario's faults. Members crash,
// pause, leave and are cut off from some or all brokers (netsim.Cut; the
// coordinator is often among them) for up to groupCutMax, longer than the
// session timeout: a cut-off member's session expires on the coordinator,
// it goes on processing what it owned until it hears it is fenced, and its
// commits must be refused.
//
// Consumption is real: a member asks OffsetFetch where each partition it
// was assigned stands (the earliest offset when nothing is committed),
// Fetches the records from the partition's leader with the leader epoch
// Metadata named (KIP-320; NOT_LEADER_OR_FOLLOWER and the epoch errors
// refresh metadata, OFFSET_OUT_OF_RANGE resets to the earliest offset, an
// explicit reset), processes them in order at groupRecordProcessTime each,
// and commits the position after the last record processed. What was
// fetched and not yet processed dies with the member. As in real clients,
// coordinator requests and fetches go on connections of their own, one
// request in flight on each, so consumption goes on while the coordinator
// is out of reach.
//
// This file holds what is the classic protocol's: the phases (find, join,
// sync, offsets, stable, leave), JoinGroup, SyncGroup with the leader's
// range assignment, Heartbeat, LeaveGroup, commit on revoke and the
// errors that rejoin, and the checks of generations (ownership, stale
// commits). The member machinery — faults and cuts, connections,
// metadata, fetching, processing, commits — and the checks of processing
// and commits it shares with the consumer-protocol workload
// (consumer_group.go) are in group_member.go.
//
// The checks (the checker's records, in groupObserved and groupWorld, are
// apart from the member's own state):
//
//   - within one generation no partition has two owners (a sync answered
//     with an assignment is the ownership);
//   - a member of a stale generation cannot commit: a commit acknowledged
//     after another generation's sync was answered, and sent after that
//     answer, is a violation;
//   - a committed offset is never lost or moved backwards (except by an
//     explicit reset): every acknowledged commit is at or above the
//     highest acknowledged before it was sent, and a member that takes
//     over a partition finds at least that in OffsetFetch;
//   - a member commits only what it processed: each offset it sends is at
//     most the end of the span it processed since it took the partition;
//   - within one ownership span a member processes each partition's
//     records in log order, with no gap and no repeat, starting at the
//     offset it was given, and every member sees the same record at an
//     offset as the final read;
//   - no fetch is OFFSET_OUT_OF_RANGE: within the failure budget a
//     committed offset is never past the log (resetOffset);
//   - at the end, for each partition, the records processed by all
//     members together cover every offset below the final committed
//     offset: no record committed-but-unprocessed was skipped over a
//     rebalance (the failure budget keeps every record a member could
//     read);
//   - liveness: once faults stop, every member reaches a stable
//     generation, has a commit acknowledged in it, and the group's
//     committed offsets reach the end of what producers had acknowledged.

// Group workload settings.
const (
	groupNodeBase          = 200
	groupID                = "sim-group"
	groupSessionTimeout    = 6 * time.Second
	groupRebalanceTimeout  = 8 * time.Second
	groupHeartbeatInterval = time.Second
	groupCommitInterval    = 300 * time.Millisecond
	// Request versions: the highest the brokers advertise.
	joinGroupVersion    = 9
	syncGroupVersion    = 5
	heartbeatVersion    = 4
	leaveGroupVersion   = 5
	offsetCommitVersion = 8
	offsetFetchVersion  = 8
)

type groupPhase uint8

const (
	phaseFind groupPhase = iota
	phaseJoin
	phaseSync
	phaseOffsets
	phaseStable
	phaseLeave
	phaseDone
)

var groupPhaseNames = [...]string{"find", "join", "sync", "offsets", "stable", "leave", "done"}

// groupWorld is the group workload and what its checks remember; the
// members' machinery and the checks shared with the consumer-protocol
// workload are memberWorld's (group_member.go).
type groupWorld struct {
	*memberWorld
	members []*groupMember
	// owners maps a generation and partition to the member answered it.
	owners map[ownerKey]int
	// syncedAt is when each generation's first sync was answered.
	syncedAt map[int32]time.Duration
}

type ownerKey struct {
	generation int32
	partition  int32
}

// groupMember is a classic-protocol member: a member with its generation
// and assignment.
type groupMember struct {
	member
	generation int32
	leaderOf   []string // the members, when this member leads
	phase      groupPhase
	assignment []int32
	// revoke asks for a commit before rejoining (commit on revoke).
	revoke bool
	// previous is the member's last generation before its current one
	// (member.previousPositions is what it had processed then).
	previous int32
}

// startGroups creates the members on the first topic's partitions.
func (w *World) startGroups() {
	if err := w.createOffsetsTopic(); err != nil {
		w.violation("setup", err.Error())
		return
	}
	g := &groupWorld{owners: map[ownerKey]int{}, syncedAt: map[int32]time.Duration{}}
	g.memberWorld = newMemberWorld(w, memberSettings{prefix: "g", label: "group", kind: "group", epochWord: "generation",
		groupID: groupID, commitVersion: offsetCommitVersion, nodeBase: groupNodeBase,
		wakeEvent: eventGroupWake, mendEvent: eventGroupMend}, streamGroups)
	g.protocol = g
	w.groups = g
	for i := 0; i < w.groupMembers; i++ {
		m := &groupMember{}
		g.addMember(w, &m.member, i)
		m.nextFault = w.now + g.faultGap()
		g.members = append(g.members, m)
		g.sleepUntil(w, &m.member, w.now+time.Duration(i+1)*time.Millisecond)
	}
}

// streamGroups is the group workload's random stream.
const streamGroups = streamScenarioExtra + 100

// The workload's part in the shared machinery (memberProtocol).

func (g *groupWorld) stepMember(w *World, m *member) { g.step(w, g.members[m.index]) }

func (g *groupWorld) faultMember(w *World, m *member) { g.fault(w, g.members[m.index]) }

func (g *groupWorld) memberState(m *member) string {
	gm := g.members[m.index]
	return fmt.Sprintf("%s, generation %d", groupPhaseNames[gm.phase], gm.generation)
}

func (g *groupWorld) groupRequestLost(*member) {}

func (g *groupWorld) onGroupResponse(w *World, m *member, in *memberRequest, resp kmsg.Response) {
	g.onCoordinatorResponse(w, g.members[m.index], in, resp)
}

func (g *groupWorld) checkOutOfRange(w *World, m *member, partition int32, offset int64) {
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: partition}
	g.check(w, "group-offset-out-of-range", fmt.Sprintf("%s's fetch of %s at %d was out of range (%d records must survive, %d acknowledged): the group's offset points past the log, or committed records are gone",
		m.name(), tp, offset, w.mustCommit(tp), w.acknowledgedEnd[tp]))
	w.tracef("%s %s offset %d out of range: explicit reset to the earliest offset", m.name(), tp, offset)
}

// fault crashes, pauses, cuts off or makes a member leave.
func (g *groupWorld) fault(w *World, m *groupMember) {
	m.nextFault = w.now + g.faultGap()
	down := time.Duration(500+g.rng.IntN(10_000)) * time.Millisecond
	switch g.rng.IntN(7) {
	case 0, 1: // crash: everything is forgotten, the connections drop
		w.tracef("%s crashes for %v", m.name(), down)
		g.disconnectAll(w, &m.member)
		g.reset(m)
		g.rest(w, &m.member, down)
	case 2, 3: // pause: the process stops and later goes on as it was
		w.tracef("%s pauses for %v (%s)", m.name(), down, g.memberState(&m.member))
		m.zombie = len(m.previousPositions) > 0 && g.rng.IntN(2) == 0
		g.rest(w, &m.member, down)
	case 4: // leave the group cleanly, then come back as a new member
		if m.phase == phaseStable && m.inflight == nil {
			w.tracef("%s leaves", m.name())
			m.phase = phaseLeave
		}
		g.step(w, m)
	case 5, 6: // cut off from some or all brokers, the process running on
		g.cutOff(w, &m.member)
		g.step(w, m)
	}
}

// reset forgets the membership and everything consumed (a crash).
func (g *groupWorld) reset(m *groupMember) {
	m.coordinator = -1
	m.memberID = ""
	m.generation = -1
	m.phase = phaseFind
	m.leaderOf = nil
	m.revoke = false
	g.dropAssignment(m)
	m.previousPositions = nil
	m.zombie = false
	clear(m.leaders)
	clear(m.leaderEpochs)
	m.metadataStale = true
	clear(m.observed.spanEnd)
	clear(m.observed.previousSpanEnd)
}

// dropAssignment gives up the partitions and what was fetched of them,
// keeping what was processed as the previous generation's (for a zombie
// commit).
func (g *groupWorld) dropAssignment(m *groupMember) {
	if len(m.positions) > 0 && m.generation >= 0 {
		m.previous, m.previousPositions = m.generation, maps(m.positions)
		m.observed.previousSpanEnd = maps(m.observed.spanEnd)
	}
	m.assignment = nil
	clear(m.positions)
	clear(m.observed.spanEnd)
	m.buffer = m.buffer[:0]
	m.span++
}

// step processes what is due, then sends the member's next requests.
func (g *groupWorld) step(w *World, m *groupMember) {
	if m.down || m.phase == phaseDone {
		return
	}
	g.process(w, &m.member)
	g.stepGroup(w, m)
	if m.phase == phaseStable {
		g.stepFetch(w, &m.member, m.assignment)
	}
	if len(m.buffer) > 0 {
		g.sleepUntil(w, &m.member, m.nextProcess)
	}
}

// stepGroup sends the member's next request to the coordinator.
func (g *groupWorld) stepGroup(w *World, m *groupMember) {
	if !g.coordinatorReady(w, &m.member) {
		return
	}
	if m.zombie && m.previous == m.generation {
		// Not stale: the member rejoined the generation it had (a stable
		// group answers a known member's join with its generation).
		m.zombie = false
	}
	if m.zombie {
		m.zombie = false
		req := g.commitOf(m.memberID, m.previous, m.previousPositions)
		w.tracef("%s sends a commit of its previous generation %d", m.name(), m.previous)
		g.observeCommit(w, &m.member, req, m.observed.previousSpanEnd)
		g.send(w, &m.member, m.coordinator, req, false).zombie = true
		return
	}
	switch m.phase {
	case phaseFind, phaseJoin:
		m.phase = phaseJoin
		g.send(w, &m.member, m.coordinator, g.joinRequest(m), false)
	case phaseSync:
		g.send(w, &m.member, m.coordinator, g.syncRequest(m), false)
	case phaseOffsets:
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(offsetFetchVersion)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = groupID
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = g.topic, slices.Clone(m.assignment)
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g.send(w, &m.member, m.coordinator, req, false)
	case phaseLeave:
		req := kmsg.NewPtrLeaveGroupRequest()
		req.SetVersion(leaveGroupVersion)
		req.Group = groupID
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.memberID
		req.Members = append(req.Members, lm)
		g.send(w, &m.member, m.coordinator, req, false)
	case phaseStable:
		switch {
		case m.revoke || w.now >= m.nextCommit:
			req := g.commitOf(m.memberID, m.generation, g.committable(m))
			g.observeCommit(w, &m.member, req, m.observed.spanEnd)
			g.send(w, &m.member, m.coordinator, req, false)
		case w.now >= m.nextHeartbeat:
			req := kmsg.NewPtrHeartbeatRequest()
			req.SetVersion(heartbeatVersion)
			req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.generation
			g.send(w, &m.member, m.coordinator, req, false)
		default:
			g.sleepUntil(w, &m.member, min(m.nextCommit, m.nextHeartbeat))
		}
	}
}

// committable is what the member commits for each partition it owns: the
// position after the last record it processed.
func (g *groupWorld) committable(m *groupMember) map[int32]int64 {
	out := make(map[int32]int64, len(m.assignment))
	for _, p := range m.assignment {
		out[p] = m.positions[p]
		if mutant.Active(mutant.CommitFetchedPosition) {
			for _, r := range m.buffer {
				if r.partition == p {
					out[p] = r.offset + 1
				}
			}
		}
	}
	return out
}

func (g *groupWorld) joinRequest(m *groupMember) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(joinGroupVersion)
	req.Group, req.MemberID = groupID, m.memberID
	req.SessionTimeoutMillis = int32(groupSessionTimeout / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(groupRebalanceTimeout / time.Millisecond)
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{g.topic}
	p.Metadata = meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

// syncRequest carries, from the leader, a range assignment of the topic's
// partitions over the members sorted by id.
func (g *groupWorld) syncRequest(m *groupMember) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(syncGroupVersion)
	req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.generation
	if len(m.leaderOf) > 0 {
		members := slices.Sorted(slices.Values(m.leaderOf))
		shares := make([][]int32, len(members))
		for p := int32(0); p < g.partitions; p++ {
			i := int(p) * len(members) / int(g.partitions)
			shares[i] = append(shares[i], p)
		}
		for i, id := range members {
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = id, encodeAssignment(shares[i])
			req.GroupAssignment = append(req.GroupAssignment, ga)
		}
	}
	return req
}

func encodeAssignment(partitions []int32) []byte {
	b := make([]byte, 0, 4*len(partitions))
	for _, p := range partitions {
		b = binary.BigEndian.AppendUint32(b, uint32(p))
	}
	return b
}

func decodeAssignment(b []byte) []int32 {
	out := make([]int32, 0, len(b)/4)
	for ; len(b) >= 4; b = b[4:] {
		out = append(out, int32(binary.BigEndian.Uint32(b)))
	}
	return out
}

// onCoordinatorResponse handles the coordinator's answers.
func (g *groupWorld) onCoordinatorResponse(w *World, m *groupMember, in *memberRequest, resp kmsg.Response) {
	var code int16
	switch r := resp.(type) {
	case *kmsg.FindCoordinatorResponse:
		code = g.onFindCoordinator(w, &m.member, r)
		if code == 0 && m.phase == phaseFind {
			m.phase = phaseJoin
		}
	case *kmsg.JoinGroupResponse:
		code = g.onJoin(w, m, r)
	case *kmsg.SyncGroupResponse:
		code = g.onSync(w, m, in, r)
	case *kmsg.OffsetFetchResponse:
		code = g.onOffsets(w, m, in, r)
	case *kmsg.HeartbeatResponse:
		code = r.ErrorCode
		if code == 0 {
			m.nextHeartbeat = w.now + groupHeartbeatInterval
		}
	case *kmsg.OffsetCommitResponse:
		code = g.onCommit(w, m, in, r)
		if in.zombie {
			if code == 0 {
				w.tracef("%s's commit of generation %d was accepted", m.name(), m.previous)
			}
			g.step(w, m)
			return
		}
	case *kmsg.LeaveGroupResponse:
		code = r.ErrorCode
		if code == 0 {
			w.tracef("%s left", m.name())
			g.reset(m)
			g.rest(w, &m.member, time.Duration(200+g.rng.IntN(3000))*time.Millisecond)
			return
		}
	}
	if code != 0 {
		g.onError(w, m, code)
		return
	}
	g.step(w, m)
}

// onError reacts as a client does: find the coordinator again, rejoin,
// or start over as a new member. Losing the generation ends consumption
// of what it assigned.
func (g *groupWorld) onError(w *World, m *groupMember, code int16) {
	w.tracef("%s %s: %s", m.name(), groupPhaseNames[m.phase], errorName(code))
	fenced := code == kerr.IllegalGeneration.Code || code == kerr.UnknownMemberID.Code || code == kerr.FencedInstanceID.Code
	if fenced && m.cutSinceJoin && m.phase == phaseStable {
		w.tracef("%s hears it is fenced after a cut, having processed %d records since", m.name(), m.processedSinceCut)
	}
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		m.coordinator = -1
	case kerr.RebalanceInProgress.Code:
		if m.phase == phaseStable && len(m.assignment) > 0 {
			m.revoke = true // commit what was processed, then rejoin
		} else {
			m.phase = phaseJoin
			g.dropAssignment(m)
		}
	case kerr.IllegalGeneration.Code:
		m.phase, m.revoke = phaseJoin, false
		g.dropAssignment(m)
	case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
		m.memberID = ""
		m.phase, m.revoke = phaseJoin, false
		g.dropAssignment(m)
	case kerr.MemberIDRequired.Code:
		m.phase = phaseJoin
		g.step(w, m)
		return
	}
	m.groupNotBefore = w.now + errorBackoff
	g.step(w, m)
}

func (g *groupWorld) onJoin(w *World, m *groupMember, r *kmsg.JoinGroupResponse) int16 {
	if r.MemberID != "" {
		m.memberID = r.MemberID
	}
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	g.dropAssignment(m)
	m.generation = r.Generation
	m.cutSinceJoin = false
	if m.previous == m.generation {
		m.previousPositions = nil // the same generation again, not a previous one
	}
	m.leaderOf = nil
	if r.LeaderID == m.memberID {
		for _, other := range r.Members {
			m.leaderOf = append(m.leaderOf, other.MemberID)
		}
	}
	m.phase = phaseSync
	w.tracef("%s joined generation %d (leader %v)", m.name(), m.generation, r.LeaderID == m.memberID)
	return 0
}

func (g *groupWorld) onSync(w *World, m *groupMember, in *memberRequest, r *kmsg.SyncGroupResponse) int16 {
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	generation := in.request.(*kmsg.SyncGroupRequest).Generation
	g.dropAssignment(m)
	m.assignment = decodeAssignment(r.MemberAssignment)
	if _, ok := g.syncedAt[generation]; !ok {
		g.syncedAt[generation] = w.now
	}
	for _, p := range m.assignment {
		key := ownerKey{generation, p}
		if owner, ok := g.owners[key]; ok && owner != m.index {
			w.violation("group-ownership", fmt.Sprintf("generation %d: partition %d assigned to g%d and to %s", generation, p, owner, m.name()))
		}
		g.owners[key] = m.index
	}
	w.tracef("%s synced generation %d: partitions %v", m.name(), generation, m.assignment)
	m.phase = phaseOffsets
	if len(m.assignment) == 0 {
		m.phase = phaseStable
	}
	m.nextHeartbeat = w.now + groupHeartbeatInterval
	m.nextCommit = w.now + groupCommitInterval
	return 0
}

// onOffsets starts consumption at the committed offsets (the earliest
// offset where none is), which must hold every commit acknowledged before
// the request was sent.
func (g *groupWorld) onOffsets(w *World, m *groupMember, in *memberRequest, r *kmsg.OffsetFetchResponse) int16 {
	if code := offsetFetchError(r); code != 0 {
		return code
	}
	for _, t := range r.Groups[0].Topics {
		for _, p := range t.Partitions {
			g.startPartition(w, &m.member, in, p)
		}
	}
	m.phase = phaseStable
	return 0
}

// onCommit checks an acknowledged commit: not of a generation older than
// one that had synced before it was sent (and the checks of ackCommit).
func (g *groupWorld) onCommit(w *World, m *groupMember, in *memberRequest, r *kmsg.OffsetCommitResponse) int16 {
	req := in.request.(*kmsg.OffsetCommitRequest)
	code := g.ackCommit(w, &m.member, in, r, func(partition int32, offset int64) {
		for _, generation := range slices.Sorted(mapKeys(g.syncedAt)) {
			if at := g.syncedAt[generation]; generation > req.Generation && at < in.sent {
				w.violation("group-stale-commit", fmt.Sprintf("%s's commit of generation %d (partition %d offset %d) was accepted, though generation %d had synced before it was sent",
					m.name(), req.Generation, partition, offset, generation))
				break
			}
		}
	})
	if code != 0 || in.zombie {
		return code
	}
	if w.liveness {
		m.committedInLiveness = true
	}
	m.nextCommit = w.now + groupCommitInterval
	if m.revoke {
		m.revoke = false
		m.phase = phaseJoin
		g.dropAssignment(m)
	}
	return 0
}

// checkFinal runs at the end of a run: the group's coverage
// (checkCoverage).
func (g *groupWorld) checkFinal(w *World, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	g.checkCoverage(w, final)
}

// quiescent: every member is stable in the group's latest generation and
// has had a commit acknowledged since faults stopped, and every
// partition's committed offset has reached what must survive (mustCommit).
func (g *groupWorld) quiescent(w *World) bool {
	for _, m := range g.members {
		if m.phase != phaseStable || !m.committedInLiveness {
			return false
		}
	}
	return g.committedAll(w)
}

func (g *groupWorld) summary(w *World) string {
	var parts []string
	for _, m := range g.members {
		if m.phase != phaseStable || !m.committedInLiveness {
			parts = append(parts, fmt.Sprintf("%s is in phase %s (generation %d, coordinator %d, committed since faults stopped: %v)",
				m.name(), groupPhaseNames[m.phase], m.generation, m.coordinator, m.committedInLiveness))
		}
	}
	return g.commitSummary(w, parts)
}

package sim

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/netsim"
)

// The group workload: members of one consumer group join, sync, heartbeat,
// "consume" and commit through the brokers' real coordinators, while they
// crash, pause and leave and the brokers suffer the scenario's faults. A
// member's consumption is an offset it advances on each partition it owns
// (the coordinator does not read the data partitions; the compat tests read
// real records). The checks:
//
//   - within one generation no partition has two owners (a sync answered
//     with an assignment is the ownership);
//   - a member of a stale generation cannot commit: a commit acknowledged
//     after another generation's sync was answered, and sent after that
//     answer, is a violation;
//   - a committed offset is never lost or moved backwards: every
//     acknowledged commit is at or above the highest acknowledged before
//     it was sent, and a member that takes over a partition finds at least
//     that in OffsetFetch;
//   - liveness: once faults stop, every member reaches a stable generation
//     and has a commit acknowledged in it.

// Group workload settings.
const (
	groupNodeBase          = 200
	groupID                = "sim-group"
	groupSessionTimeout    = 6 * time.Second
	groupRebalanceTimeout  = 8 * time.Second
	groupHeartbeatInterval = time.Second
	groupCommitInterval    = 300 * time.Millisecond
	// groupFaultGapMax bounds the time between a member's faults.
	groupFaultGapMax = 8 * time.Second
	// Request versions: the highest the brokers advertise.
	findCoordinatorVersion = 4
	joinGroupVersion       = 9
	syncGroupVersion       = 5
	heartbeatVersion       = 4
	leaveGroupVersion      = 5
	offsetCommitVersion    = 8
	offsetFetchVersion     = 8
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

// groupWorld is the group workload and what its checks remember.
type groupWorld struct {
	topic      string
	partitions int32
	members    []*groupMember
	rng        *rand.Rand
	// owners maps a generation and partition to the member answered it.
	owners map[ownerKey]int
	// syncedAt is when each generation's first sync was answered.
	syncedAt map[int32]time.Duration
	// acked is the highest acknowledged commit per partition.
	acked map[int32]int64
}

type ownerKey struct {
	generation int32
	partition  int32
}

type groupMember struct {
	index       int
	id          netsim.NodeID
	links       []clientLink
	nextCorr    int32
	inflight    *groupInflight
	coordinator int
	findBroker  int
	memberID    string
	generation  int32
	leaderOf    []string // the members, when this member leads
	phase       groupPhase
	assignment  []int32
	positions   map[int32]int64
	// revoke asks for a commit before rejoining (commit on revoke).
	revoke        bool
	nextHeartbeat time.Duration
	nextCommit    time.Duration
	nextFault     time.Duration
	// down is set while the member is crashed or paused; incarnation
	// makes the wakes of an earlier life stale.
	down        bool
	incarnation int
	// committedInLiveness says a commit was acknowledged since faults
	// stopped.
	committedInLiveness bool
	// previous is the member's last generation before its current one and
	// what it owned then; zombie asks to send, once, a commit of it, as a
	// commit delayed inside a client (a paused thread) would arrive.
	previous          int32
	previousPositions map[int32]int64
	zombie            bool
}

type groupInflight struct {
	broker      int
	correlation int32
	request     kmsg.Request
	sent        time.Duration
	deadline    time.Duration
	// acked is the highest acknowledged commit per partition when the
	// request was sent.
	acked map[int32]int64
	// zombie marks a commit of the member's previous generation: its
	// answer changes nothing in the member.
	zombie bool
}

func (m *groupMember) name() string { return "g" + strconv.Itoa(m.index) }

// createOffsetsTopic creates __consumer_offsets as the scenario's topics
// are created: replicated as they are and with their min.insync.replicas,
// so that the failure budget (faults.go) covers it too. Left to the broker,
// it would take min.insync.replicas 1, and lossy faults within the budget
// of the scenario's topics could take every replica out of its ISR.
func (w *World) createOffsetsTopic() error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "__consumer_offsets", offsetsTopicPartitions, int16(w.options.ReplicationFactor)
	rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")})
	if w.options.MinInsyncReplicas > 1 {
		rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{
			Name: "min.insync.replicas", Value: kmsg.StringPtr(strconv.Itoa(w.options.MinInsyncReplicas))})
	}
	req.Topics = append(req.Topics, rt)
	if w.metadata == nil {
		resp, err := w.direct(w.brokers[0], req)
		if err != nil {
			return err
		}
		if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
			return fmt.Errorf("create __consumer_offsets: %s", errorName(code))
		}
		return nil
	}
	controller := w.brokers[w.metadata.leader]
	frame := w.formatter.AppendRequest(nil, req, 1)
	controller.node.HandleFrame(w.wallTime(), directConn, frame[4:])
	controller.flush(w)
	if !w.runUntil(setupTimeout, func() bool {
		leaders := 0
		for _, b := range w.brokers {
			if b.node == nil {
				continue
			}
			for _, p := range b.node.Partitions() {
				if p.Topic == "__consumer_offsets" && p.Role == core.RoleLeader {
					leaders++
				}
			}
		}
		return leaders == offsetsTopicPartitions
	}) {
		return fmt.Errorf("__consumer_offsets got no leaders within %v", setupTimeout)
	}
	return nil
}

// offsetsTopicPartitions is the simulated brokers' __consumer_offsets size.
const offsetsTopicPartitions = 3

// startGroups creates the members on the first topic's partitions.
func (w *World) startGroups() {
	if err := w.createOffsetsTopic(); err != nil {
		w.violation("setup", err.Error())
		return
	}
	t := w.options.Topics[0]
	g := &groupWorld{topic: t.Name, partitions: t.Partitions, rng: newStream(w.options.Seed, streamGroups),
		owners: map[ownerKey]int{}, syncedAt: map[int32]time.Duration{}, acked: map[int32]int64{}}
	w.groups = g
	for i := 0; i < w.groupMembers; i++ {
		m := &groupMember{index: i, id: netsim.NodeID(groupNodeBase + i), links: make([]clientLink, len(w.brokers)),
			coordinator: -1, findBroker: i % len(w.brokers), positions: map[int32]int64{}}
		for j := range m.links {
			m.links[j].conn = -1
		}
		m.nextFault = w.now + time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond
		g.members = append(g.members, m)
		w.schedule(w.now+time.Duration(i)*time.Millisecond, eventGroupWake, i, 0, nil)
	}
}

// streamGroups is the group workload's random stream.
const streamGroups = streamScenarioExtra + 100

func (g *groupWorld) sleep(w *World, m *groupMember, d time.Duration) {
	w.schedule(w.now+d, eventGroupWake, m.index, m.incarnation, nil)
}

func (g *groupWorld) wake(w *World, index, incarnation int) {
	m := g.members[index]
	if incarnation != m.incarnation {
		return
	}
	if m.down {
		m.down = false
		w.tracef("%s resumes (%s, generation %d)", m.name(), groupPhaseNames[m.phase], m.generation)
	}
	if !w.liveness && w.now >= m.nextFault {
		g.fault(w, m)
		return
	}
	if m.inflight != nil && w.now >= m.inflight.deadline {
		w.tracef("%s timeout corr=%d", m.name(), m.inflight.correlation)
		g.disconnect(w, m, m.inflight.broker)
		m.inflight = nil
		m.coordinator = -1
		g.sleep(w, m, reconnectBackoff)
		return
	}
	g.step(w, m)
}

// fault crashes, pauses or makes a member leave.
func (g *groupWorld) fault(w *World, m *groupMember) {
	m.nextFault = w.now + time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond
	down := time.Duration(500+g.rng.IntN(10_000)) * time.Millisecond
	switch g.rng.IntN(5) {
	case 0, 1: // crash: everything is forgotten, the connections drop
		w.tracef("%s crashes for %v", m.name(), down)
		for b := range m.links {
			g.disconnect(w, m, b)
		}
		g.reset(m)
		g.rest(w, m, down)
	case 2, 3: // pause: the process stops and later goes on as it was
		w.tracef("%s pauses for %v (%s, generation %d)", m.name(), down, groupPhaseNames[m.phase], m.generation)
		m.zombie = len(m.previousPositions) > 0 && g.rng.IntN(2) == 0
		g.rest(w, m, down)
	case 4: // leave the group cleanly, then come back as a new member
		if m.phase == phaseStable && m.inflight == nil {
			w.tracef("%s leaves", m.name())
			m.phase = phaseLeave
		}
		g.step(w, m)
	}
}

func (g *groupWorld) rest(w *World, m *groupMember, d time.Duration) {
	m.down = true
	m.inflight = nil
	m.incarnation++
	w.schedule(w.now+d, eventGroupWake, m.index, m.incarnation, nil)
}

// reset forgets the membership.
func (g *groupWorld) reset(m *groupMember) {
	m.coordinator = -1
	m.memberID = ""
	m.generation = -1
	m.phase = phaseFind
	m.assignment = nil
	m.leaderOf = nil
	m.revoke = false
	clear(m.positions)
}

func (g *groupWorld) disconnect(w *World, m *groupMember, broker int) {
	if m.links[broker].state == connUp {
		w.net.Close(w.now, m.links[broker].conn, m.id)
	}
	m.links[broker] = clientLink{conn: -1}
}

func (g *groupWorld) link(w *World, m *groupMember, broker int) bool {
	l := &m.links[broker]
	switch l.state {
	case connUp:
		return true
	case connIdle:
		l.state = connDialing
		l.conn = w.net.Dial(w.now, m.id, w.brokers[broker].id)
	}
	return false
}

func (g *groupWorld) onNetwork(w *World, ev netsim.Event) {
	m := g.members[int(ev.To)-groupNodeBase]
	broker := -1
	for i := range m.links {
		if m.links[i].conn == ev.Conn && m.links[i].state != connIdle {
			broker = i
		}
	}
	if broker < 0 {
		return
	}
	switch ev.Kind {
	case netsim.EventConnected:
		m.links[broker].state = connUp
		if !m.down {
			g.step(w, m)
		}
	case netsim.EventDialFailed, netsim.EventClosed, netsim.EventReset:
		m.links[broker] = clientLink{conn: -1}
		if m.inflight != nil && m.inflight.broker == broker {
			m.inflight = nil
		}
		if broker == m.coordinator {
			m.coordinator = -1
		}
		if !m.down {
			g.sleep(w, m, reconnectBackoff)
		}
	case netsim.EventDeliver:
		if !m.down {
			g.onResponse(w, m, broker, ev.Payload)
		}
	}
}

func (g *groupWorld) send(w *World, m *groupMember, broker int, req kmsg.Request) {
	m.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, m.nextCorr)
	m.inflight = &groupInflight{broker: broker, correlation: m.nextCorr, request: req, sent: w.now,
		deadline: w.now + w.options.RequestTimeout, acked: maps(g.acked)}
	w.net.Send(w.now, m.links[broker].conn, m.id, frame[4:])
	w.schedule(m.inflight.deadline, eventGroupWake, m.index, m.incarnation, nil)
}

func mapKeys[V any](m map[int32]V) func(func(int32) bool) {
	return func(yield func(int32) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func maps(in map[int32]int64) map[int32]int64 {
	out := make(map[int32]int64, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// step sends the member's next request.
func (g *groupWorld) step(w *World, m *groupMember) {
	if m.down || m.inflight != nil || m.phase == phaseDone {
		return
	}
	if m.coordinator < 0 {
		broker := m.findBroker
		if !g.link(w, m, broker) {
			if m.links[broker].state == connIdle {
				m.findBroker = (broker + 1) % len(w.brokers)
			}
			return
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(findCoordinatorVersion)
		req.CoordinatorKeys = []string{groupID}
		g.send(w, m, broker, req)
		return
	}
	if !g.link(w, m, m.coordinator) {
		return
	}
	if m.zombie {
		m.zombie = false
		req := kmsg.NewPtrOffsetCommitRequest()
		req.SetVersion(offsetCommitVersion)
		req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.previous
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = g.topic
		for _, p := range slices.Sorted(mapKeys(m.previousPositions)) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, m.previousPositions[p]
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		w.tracef("%s sends a commit of its previous generation %d", m.name(), m.previous)
		g.send(w, m, m.coordinator, req)
		m.inflight.zombie = true
		return
	}
	switch m.phase {
	case phaseFind, phaseJoin:
		m.phase = phaseJoin
		g.send(w, m, m.coordinator, g.joinRequest(m))
	case phaseSync:
		g.send(w, m, m.coordinator, g.syncRequest(m))
	case phaseOffsets:
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(offsetFetchVersion)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = groupID
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = g.topic, slices.Clone(m.assignment)
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g.send(w, m, m.coordinator, req)
	case phaseLeave:
		req := kmsg.NewPtrLeaveGroupRequest()
		req.SetVersion(leaveGroupVersion)
		req.Group = groupID
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.memberID
		req.Members = append(req.Members, lm)
		g.send(w, m, m.coordinator, req)
	case phaseStable:
		switch {
		case m.revoke || w.now >= m.nextCommit:
			g.send(w, m, m.coordinator, g.commitRequest(w, m))
		case w.now >= m.nextHeartbeat:
			req := kmsg.NewPtrHeartbeatRequest()
			req.SetVersion(heartbeatVersion)
			req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.generation
			g.send(w, m, m.coordinator, req)
		default:
			g.sleep(w, m, min(m.nextCommit, m.nextHeartbeat)-w.now)
		}
	}
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

// commitRequest "consumes" a few records of each owned partition and
// commits the positions.
func (g *groupWorld) commitRequest(w *World, m *groupMember) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(offsetCommitVersion)
	req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = g.topic
	for _, p := range m.assignment {
		if !m.revoke {
			m.positions[p] += int64(1 + g.rng.IntN(5))
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, m.positions[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func (g *groupWorld) onResponse(w *World, m *groupMember, broker int, payload []byte) {
	if m.inflight == nil || m.inflight.broker != broker || len(payload) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(payload))
	if corr < m.inflight.correlation {
		return // the answer to a request given up on while paused
	}
	if corr != m.inflight.correlation {
		w.violation("protocol", fmt.Sprintf("%s: response correlation %d, expected %d", m.name(), corr, m.inflight.correlation))
		return
	}
	in := m.inflight
	m.inflight = nil
	resp := in.request.ResponseKind()
	resp.SetVersion(in.request.GetVersion())
	body := payload[4:]
	if resp.IsFlexible() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		w.violation("protocol", fmt.Sprintf("%s: undecodable %s response: %v", m.name(), kmsg.NameForKey(resp.Key()), err))
		return
	}
	var code int16
	switch r := resp.(type) {
	case *kmsg.FindCoordinatorResponse:
		code = g.onFindCoordinator(w, m, r)
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
			g.rest(w, m, time.Duration(200+g.rng.IntN(3000))*time.Millisecond)
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
// or start over as a new member.
func (g *groupWorld) onError(w *World, m *groupMember, code int16) {
	w.tracef("%s %s: %s", m.name(), groupPhaseNames[m.phase], errorName(code))
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		m.coordinator = -1
	case kerr.RebalanceInProgress.Code:
		if m.phase == phaseStable && len(m.assignment) > 0 {
			m.revoke = true // commit what was consumed, then rejoin
		} else {
			m.phase = phaseJoin
		}
	case kerr.IllegalGeneration.Code:
		m.phase, m.assignment, m.revoke = phaseJoin, nil, false
	case kerr.UnknownMemberID.Code, kerr.FencedInstanceID.Code:
		m.memberID = ""
		m.phase, m.assignment, m.revoke = phaseJoin, nil, false
	case kerr.MemberIDRequired.Code:
		m.phase = phaseJoin
		g.step(w, m)
		return
	}
	g.sleep(w, m, errorBackoff)
}

func (g *groupWorld) onFindCoordinator(w *World, m *groupMember, r *kmsg.FindCoordinatorResponse) int16 {
	if len(r.Coordinators) != 1 {
		return kerr.CoordinatorNotAvailable.Code
	}
	c := r.Coordinators[0]
	if c.ErrorCode != 0 {
		m.findBroker = (m.findBroker + 1) % len(w.brokers)
		return c.ErrorCode
	}
	if c.NodeID < 0 || int(c.NodeID) >= len(w.brokers) {
		return kerr.CoordinatorNotAvailable.Code
	}
	m.coordinator = int(c.NodeID)
	if m.phase == phaseFind {
		m.phase = phaseJoin
	}
	return 0
}

func (g *groupWorld) onJoin(w *World, m *groupMember, r *kmsg.JoinGroupResponse) int16 {
	if r.MemberID != "" {
		m.memberID = r.MemberID
	}
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	if m.generation >= 0 && m.generation != r.Generation && len(m.positions) > 0 {
		m.previous, m.previousPositions = m.generation, maps(m.positions)
	}
	m.generation = r.Generation
	m.leaderOf = nil
	if r.LeaderID == m.memberID {
		for _, other := range r.Members {
			m.leaderOf = append(m.leaderOf, other.MemberID)
		}
	}
	m.phase = phaseSync
	m.assignment = nil
	w.tracef("%s joined generation %d (leader %v)", m.name(), m.generation, r.LeaderID == m.memberID)
	return 0
}

func (g *groupWorld) onSync(w *World, m *groupMember, in *groupInflight, r *kmsg.SyncGroupResponse) int16 {
	if r.ErrorCode != 0 {
		return r.ErrorCode
	}
	generation := in.request.(*kmsg.SyncGroupRequest).Generation
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

// onOffsets starts consumption at the committed offsets, which must hold
// every commit acknowledged before the request was sent.
func (g *groupWorld) onOffsets(w *World, m *groupMember, in *groupInflight, r *kmsg.OffsetFetchResponse) int16 {
	if len(r.Groups) != 1 {
		return kerr.CoordinatorNotAvailable.Code
	}
	rg := r.Groups[0]
	if rg.ErrorCode != 0 {
		return rg.ErrorCode
	}
	for _, t := range rg.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return p.ErrorCode
			}
			committed := max(p.Offset, 0)
			if acked, ok := in.acked[p.Partition]; ok && committed < acked {
				w.violation("group-offset-lost", fmt.Sprintf("%s took partition %d at committed offset %d, but %d was acknowledged before it asked",
					m.name(), p.Partition, p.Offset, acked))
			}
			m.positions[p.Partition] = committed
		}
	}
	m.phase = phaseStable
	return 0
}

func (g *groupWorld) onCommit(w *World, m *groupMember, in *groupInflight, r *kmsg.OffsetCommitResponse) int16 {
	req := in.request.(*kmsg.OffsetCommitRequest)
	var code int16
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				code = p.ErrorCode
				continue
			}
			offset := int64(-1)
			for _, rp := range req.Topics[0].Partitions {
				if rp.Partition == p.Partition {
					offset = rp.Offset
				}
			}
			for _, generation := range slices.Sorted(mapKeys(g.syncedAt)) {
				if at := g.syncedAt[generation]; generation > req.Generation && at < in.sent {
					w.violation("group-stale-commit", fmt.Sprintf("%s's commit of generation %d (partition %d offset %d) was accepted, though generation %d had synced before it was sent",
						m.name(), req.Generation, p.Partition, offset, generation))
					break
				}
			}
			if acked, ok := in.acked[p.Partition]; ok && offset < acked {
				w.violation("group-offset-backwards", fmt.Sprintf("%s's commit of partition %d at %d was acknowledged, below %d acknowledged before it was sent",
					m.name(), p.Partition, offset, acked))
			}
			g.acked[p.Partition] = max(g.acked[p.Partition], offset)
		}
	}
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
	}
	return 0
}

// startLiveness ends the members' faults; a paused or crashed member
// comes back at once.
func (g *groupWorld) startLiveness(w *World) {
	for _, m := range g.members {
		if m.down {
			m.incarnation++
			w.schedule(w.now, eventGroupWake, m.index, m.incarnation, nil)
		}
	}
}

// quiescent: every member is stable in the group's latest generation and
// has had a commit acknowledged since faults stopped.
func (g *groupWorld) quiescent() bool {
	for _, m := range g.members {
		if m.phase != phaseStable || !m.committedInLiveness {
			return false
		}
	}
	return true
}

func (g *groupWorld) summary() string {
	var parts []string
	for _, m := range g.members {
		if m.phase != phaseStable || !m.committedInLiveness {
			parts = append(parts, fmt.Sprintf("%s is in phase %s (generation %d, coordinator %d, committed since faults stopped: %v)",
				m.name(), groupPhaseNames[m.phase], m.generation, m.coordinator, m.committedInLiveness))
		}
	}
	return strings.Join(parts, "; ")
}

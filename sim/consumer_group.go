package sim

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/linearizability"
)

// The consumer-protocol group workload (KIP-848; cairn sim --group N
// --group-protocol consumer): members of one consumer group heartbeat
// with ConsumerGroupHeartbeat v1 under member ids they make up, the
// coordinator computes their assignment with the server-side assignor the
// seed names (uniform or range), and they consume the first topic for
// real while producers write to it and brokers suffer the scenario's
// faults. Members crash, pause, leave (epoch -1) and are cut off from some
// or all brokers for up to groupCutMax, longer than the consumer session
// timeout the simulated brokers run with (brokerConsumerSessionTimeout).
//
// A member behaves as a KIP-848 client: it heartbeats at the interval the
// coordinator returns, sends the partitions it owns when they changed (or
// after a heartbeat went unanswered), starts a partition only once the
// coordinator assigned it (OffsetFetch v9 with its member id and epoch,
// then Fetch as the classic workload does), and revokes what the
// coordinator takes away: it stops consuming it, commits what it
// processed of it (OffsetCommit v9 with its member epoch), then
// acknowledges by heartbeating without it. FENCED_MEMBER_EPOCH and
// UNKNOWN_MEMBER_ID drop everything and rejoin with epoch 0 under the
// same member id; a crash starts a new member id. NOT_COORDINATOR and
// COORDINATOR_NOT_AVAILABLE find the coordinator again. On half the
// seeds (streamConsumerStatic) some members are static: they send their
// group.instance.id, and a crash of a stable one is a restart that leaves
// with epoch -2 and comes back under a new member id and the same
// instance id. On a third of the seeds (streamConsumerRegex) some members
// subscribe with a SubscribedTopicRegex that matches the topic alone.
//
// This file holds what is KIP-848's: the phases (find, join, stable,
// leave), ConsumerGroupHeartbeat and the reconciliation of its
// assignment, revocation, member epochs and ids, and the checks of
// ownership, epochs and stale commits, and the end-of-run
// ConsumerGroupDescribe. The member machinery — faults and cuts,
// connections, metadata, fetching, processing, commits — and the checks
// of processing and commits it shares with the classic workload
// (group.go) are in group_member.go.
//
// The checks (the checker's records, in consumerGroupWorld, are apart
// from the member's own state):
//
//   - ownership: a member owns a partition from the heartbeat response
//     that gave it until it sends a heartbeat without it, leaves, crashes
//     or hears it is fenced. A partition given to B while A owns it is a
//     conflict, legitimate only if the coordinator had fenced A: the next
//     heartbeat A sends while still owning it must be answered
//     FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID; a success is a violation;
//   - the member epochs a member hears never go backwards within one
//     membership (a join with epoch 0 until fenced, gone or crashed);
//   - a commit acknowledged for a partition that another member was given
//     before the commit was sent, and still owns, is a violation (the
//     coordinator must refuse it: STALE_MEMBER_EPOCH, FENCED or UNKNOWN);
//   - committed offsets are never lost or moved backwards, a member that
//     takes a partition over starts at least at the highest acknowledged
//     commit, and a member commits only what it processed, in log order
//     without gap or repeat (the checks group_member.go shares with the
//     classic workload);
//   - at the end, every offset below each partition's committed offset
//     was processed by some member;
//   - a static member back at the member epoch it left at gets back
//     every partition it owned, none of them given to another member
//     while it was away;
//   - liveness: once faults stop, every member converges — all at one
//     member epoch, no revocation pending, every partition of the topic
//     owned by exactly one member — and has a commit acknowledged, and
//     the committed offsets reach what producers had acknowledged; the
//     coordinator describes each member with the subscription it sent
//     and, with as many partitions as members, each owns some.

// Consumer group workload settings.
const (
	consumerGroupNodeBase = 300
	consumerGroupID       = "sim-consumer-group"
	// consumerRebalanceTimeout is the members' rebalance timeout: how long
	// the coordinator waits for a revocation.
	consumerRebalanceTimeout = 8 * time.Second
	// The simulated brokers' group.consumer.heartbeat.interval.ms and
	// group.consumer.session.timeout.ms: short, so that a member cut off
	// for groupCutMax is fenced.
	brokerConsumerHeartbeatInterval = time.Second
	brokerConsumerSessionTimeout    = 6 * time.Second
	consumerHeartbeatVersion        = 1
	consumerOffsetCommitVersion     = 9
	consumerOffsetFetchVersion      = 9
	// streamConsumerGroups is the workload's random stream.
	streamConsumerGroups = streamScenarioExtra + 101
	// streamConsumerStatic draws which members are static, apart from
	// streamConsumerGroups so that seeds without static members keep
	// their traces.
	streamConsumerStatic = streamScenarioExtra + 102
	// streamConsumerRegex draws which members subscribe with a regex,
	// apart from the other streams for the same reason.
	streamConsumerRegex = streamScenarioExtra + 103
	// consumerStaticLeaveEpoch is the epoch of a static member's leave.
	consumerStaticLeaveEpoch = -2
)

// consumerStaleCommitCheckOff switches the stale-commit check off, for
// the mutant tests to show that the ownership check catches
// assign-before-revoke on its own. Set only by tests, before runs.
var consumerStaleCommitCheckOff bool

type consumerPhase uint8

const (
	consumerFind   consumerPhase = iota // find the coordinator, then join
	consumerJoin                        // heartbeat with epoch 0
	consumerStable                      // a member: heartbeat, revoke, consume
	consumerLeave                       // heartbeat with epoch -1
)

var consumerPhaseNames = [...]string{"find", "join", "stable", "leave"}

// consumerGroupWorld is the workload and what its checks remember; the
// members' machinery and the checks shared with the classic workload are
// memberWorld's (group_member.go).
type consumerGroupWorld struct {
	*memberWorld
	assignor string
	members  []*consumerMember
	// holders is, per partition, the members that own it (checker view).
	holders map[int32][]holding
	// conflicts are partitions given to one member while another owned
	// them, waiting for the other's next heartbeat to say whether the
	// coordinator had fenced it.
	conflicts []conflict
}

// holding is one member's ownership of a partition: by member and
// membership (life, join), given when.
type holding struct {
	member     int
	membership int
	since      time.Duration
}

// conflict: partition given to the member taker at time at, while holder
// owned it.
type conflict struct {
	partition int32
	holder    holding
	taker     int
	at        time.Duration
}

// consumerMember is a consumer-protocol member: a member with its member
// epoch and what it owns, revokes and has yet to start.
type consumerMember struct {
	member
	// life counts the member's crashes: its member id is made of it.
	// membership counts its joins (epoch 0), for the checker.
	life       int
	membership int
	epoch      int32
	heardEpoch int32
	phase      consumerPhase
	interval   time.Duration
	topicID    [16]byte
	// owned is what the member owns (sorted): given, not yet released.
	// revoking is what the coordinator took away of it, to commit and
	// then release; revokeCommitted says that commit was answered.
	// needOffsets are owned partitions whose committed offset is still to
	// be fetched; member.positions holds the partitions being consumed.
	owned           []int32
	revoking        []int32
	revokePositions map[int32]int64
	revokeCommitted bool
	needOffsets     []int32
	// sendOwned asks the next heartbeat to carry the owned partitions.
	sendOwned bool
	// previousID and previousEpoch are the member's last membership before
	// its current one: a zombie commit sends member.previousPositions with
	// its id and epoch, once.
	previousID    string
	previousEpoch int32
	// instanceID is a static member's group.instance.id (nil: dynamic).
	// staticLeaving: its restart leaves with epoch -2 first, then it is
	// down for staticDown. staticReturning: it is back under a new member
	// id, to be checked against staticFormer, what it owned (with nothing
	// to revoke) at epoch staticFormerEpoch when it left (nil: unchecked).
	instanceID         *string
	staticLeaving      bool
	staticDown         time.Duration
	staticReturning    bool
	staticFormer       []int32
	staticFormerEpoch  int32
	staticFormerWasSet bool
	// staticTaken: while it was away, another member was given one of
	// staticFormer.
	staticTaken bool
	// regex is the member's SubscribedTopicRegex, matching the topic
	// alone ("": it subscribes by name).
	regex string
}

// subscription describes how the member subscribes, for messages.
func (m *consumerMember) subscription() string {
	if m.regex != "" {
		return fmt.Sprintf("regex %q", m.regex)
	}
	return "name"
}

// heartbeating: a heartbeat is in flight, which may move the member's
// epoch or assignment on the coordinator before the member hears it.
func (m *consumerMember) heartbeating() bool {
	if m.inflight == nil {
		return false
	}
	_, ok := m.inflight.request.(*kmsg.ConsumerGroupHeartbeatRequest)
	return ok
}

// startConsumerGroups creates the members on the first topic.
func (w *World) startConsumerGroups() {
	if err := w.createOffsetsTopic(); err != nil {
		w.violation("setup", err.Error())
		return
	}
	g := &consumerGroupWorld{holders: map[int32][]holding{}}
	g.memberWorld = newMemberWorld(w, memberSettings{prefix: "cg", label: "consumer group", kind: "consumer-group", epochWord: "epoch",
		groupID: consumerGroupID, commitVersion: consumerOffsetCommitVersion, nodeBase: consumerGroupNodeBase,
		wakeEvent: eventConsumerGroupWake, mendEvent: eventConsumerGroupMend, cutFaultGapMin: time.Millisecond, fetchAtPosition: true},
		streamConsumerGroups)
	g.protocol = g
	g.assignor = [...]string{"uniform", "range"}[g.rng.IntN(2)]
	w.consumerGroups = g
	w.tracef("consumer group: %d members, assignor %s", w.groupMembers, g.assignor)
	// On half the seeds, some members are static (one at least).
	static := newStream(w.options.Seed, streamConsumerStatic)
	staticMembers := make([]bool, w.groupMembers)
	if w.groupMembers > 0 && static.IntN(2) == 0 {
		staticMembers[static.IntN(w.groupMembers)] = true
		for i := range staticMembers {
			staticMembers[i] = staticMembers[i] || static.IntN(3) == 0
		}
	}
	// On a third of the seeds, some members subscribe with a regex that
	// matches the topic alone, the others by name.
	regexes := newStream(w.options.Seed, streamConsumerRegex)
	regexSeed := regexes.IntN(3) == 0
	for i := 0; i < w.groupMembers; i++ {
		m := &consumerMember{}
		if regexSeed && regexes.IntN(3) != 0 {
			m.regex = [...]string{regexp.QuoteMeta(g.topic), "(?:" + regexp.QuoteMeta(g.topic) + "|sim-unmatched-.*)",
				regexp.QuoteMeta(g.topic[:len(g.topic)-1]) + "[" + regexp.QuoteMeta(g.topic[len(g.topic)-1:]) + "]"}[regexes.IntN(3)]
			w.tracef("cg%d subscribes with regex %q", i, m.regex)
		}
		if staticMembers[i] {
			m.instanceID = kmsg.StringPtr(fmt.Sprintf("sim-instance-%d", i))
			w.tracef("cg%d is static (instance %s)", i, *m.instanceID)
		}
		g.addMember(w, &m.member, i)
		m.revokePositions, m.interval = map[int32]int64{}, brokerConsumerHeartbeatInterval
		m.memberID = g.memberIDOf(m)
		m.nextFault = w.now + g.faultGap()
		g.members = append(g.members, m)
		g.sleepUntil(w, &m.member, w.now+time.Duration(i+1)*time.Millisecond)
	}
}

// memberIDOf is the member id a member makes up in its current life.
func (g *consumerGroupWorld) memberIDOf(m *consumerMember) string {
	return fmt.Sprintf("sim-%d-%d-%016x", m.index, m.life, g.rng.Uint64())
}

// The workload's part in the shared machinery (memberProtocol).

func (g *consumerGroupWorld) stepMember(w *World, m *member) { g.step(w, g.members[m.index]) }

func (g *consumerGroupWorld) faultMember(w *World, m *member) { g.fault(w, g.members[m.index]) }

func (g *consumerGroupWorld) memberState(m *member) string {
	cm := g.members[m.index]
	return fmt.Sprintf("%s, epoch %d", consumerPhaseNames[cm.phase], cm.epoch)
}

// groupRequestLost: a heartbeat may have been lost, so the next one
// carries the owned partitions.
func (g *consumerGroupWorld) groupRequestLost(m *member) { g.members[m.index].sendOwned = true }

func (g *consumerGroupWorld) onGroupResponse(w *World, m *member, in *memberRequest, resp kmsg.Response) {
	g.onCoordinatorResponse(w, g.members[m.index], in, resp)
}

func (g *consumerGroupWorld) checkOutOfRange(w *World, m *member, partition int32, offset int64) {
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: partition}
	g.check(w, "consumer-group-offset-out-of-range", fmt.Sprintf("%s's fetch of %s at %d was out of range (%d records must survive, %d acknowledged)",
		m.name(), tp, offset, w.mustCommit(tp), w.acknowledgedEnd[tp]))
}

// request sends req to the coordinator, noting what the member owns.
func (g *consumerGroupWorld) request(w *World, m *consumerMember, req kmsg.Request) *memberRequest {
	in := g.send(w, &m.member, m.coordinator, req, false)
	in.holding = slices.Clone(m.owned)
	return in
}

// fault crashes, pauses, cuts off or makes a member leave.
func (g *consumerGroupWorld) fault(w *World, m *consumerMember) {
	m.nextFault = w.now + g.faultGap()
	down := time.Duration(500+g.rng.IntN(10_000)) * time.Millisecond
	switch g.rng.IntN(7) {
	case 0, 1: // crash: a new process, a new member id
		if m.instanceID != nil && m.phase == consumerStable && m.inflight == nil {
			// A static member restarts: it leaves with epoch -2, then
			// comes back under a new member id and its instance id.
			w.tracef("%s restarts for %v: static leave (%s)", m.name(), down, g.memberState(&m.member))
			m.phase, m.staticLeaving, m.staticDown = consumerLeave, true, down
			g.step(w, m)
			return
		}
		w.tracef("%s crashes for %v", m.name(), down)
		g.disconnectAll(w, &m.member)
		g.dropMembership(w, m, "crash")
		g.newProcess(w, m, down)
	case 2, 3: // pause: later goes on as it was
		w.tracef("%s pauses for %v (%s)", m.name(), down, g.memberState(&m.member))
		m.zombie = len(m.previousPositions) > 0 && g.rng.IntN(2) == 0
		m.sendOwned = true
		g.rest(w, &m.member, down)
	case 4: // leave with epoch -1, then come back under the same id
		if m.phase == consumerStable && m.inflight == nil {
			w.tracef("%s leaves", m.name())
			m.phase = consumerLeave
		}
		g.step(w, m)
	case 5, 6:
		g.cutOff(w, &m.member)
		g.step(w, m)
	}
}

// newProcess starts the member again as a new process (after a crash or
// a static member's leave): a new member id, down for down.
func (g *consumerGroupWorld) newProcess(w *World, m *consumerMember, down time.Duration) {
	m.previousPositions, m.zombie = nil, false
	m.life++
	m.memberID = g.memberIDOf(m)
	m.coordinator = -1
	m.phase = consumerFind
	clear(m.leaders)
	clear(m.leaderEpochs)
	m.metadataStale = true
	g.rest(w, &m.member, down)
}

// dropMembership gives up everything the member owns (fenced, gone or
// crashed), keeping what it processed for a zombie commit, and ends its
// ownership in the checker.
func (g *consumerGroupWorld) dropMembership(w *World, m *consumerMember, why string) {
	if len(m.positions) > 0 || len(m.revokePositions) > 0 {
		m.previousID, m.previousEpoch = m.memberID, m.epoch
		m.previousPositions = maps(m.positions)
		for p, o := range m.revokePositions {
			m.previousPositions[p] = o
		}
		m.observed.previousSpanEnd = maps(m.observed.spanEnd)
	}
	for _, p := range m.owned {
		g.release(w, m, p)
	}
	// Conflicts against this membership can no longer be decided.
	g.conflicts = slices.DeleteFunc(g.conflicts, func(c conflict) bool {
		return c.holder.member == m.index && c.holder.membership == m.membership
	})
	if len(m.owned) > 0 {
		w.tracef("%s drops partitions %v (%s)", m.name(), m.owned, why)
	}
	m.owned, m.revoking, m.needOffsets = nil, nil, nil
	clear(m.revokePositions)
	clear(m.positions)
	clear(m.observed.spanEnd)
	m.revokeCommitted = false
	m.buffer = m.buffer[:0]
	m.span++
	m.epoch, m.heardEpoch = 0, 0
	m.membership++
	m.staticLeaving, m.staticReturning = false, false
}

// grant records that the coordinator gave m partition p: any other
// member still owning it is a conflict to decide.
func (g *consumerGroupWorld) grant(w *World, m *consumerMember, p int32) {
	for _, h := range g.holders[p] {
		if h.member != m.index {
			w.tracef("%s given partition %d while cg%d still owns it", m.name(), p, h.member)
			g.conflicts = append(g.conflicts, conflict{partition: p, holder: h, taker: m.index, at: w.now})
		}
	}
	g.holders[p] = append(g.holders[p], holding{member: m.index, membership: m.membership, since: w.now})
	for _, o := range g.members {
		if o != m && o.staticReturning && slices.Contains(o.staticFormer, p) {
			o.staticTaken = true
		}
	}
}

func (g *consumerGroupWorld) release(w *World, m *consumerMember, p int32) {
	g.holders[p] = slices.DeleteFunc(g.holders[p], func(h holding) bool { return h.member == m.index })
}

// supersededFor reports another member that was given partition p
// before the request in was sent, after m's own ownership of it began (or
// while m did not own it), and still owns it: a commit of p in that
// request must be refused.
func (g *consumerGroupWorld) supersededFor(m *consumerMember, in *memberRequest, p int32) (int, bool) {
	mine := time.Duration(-1)
	for _, h := range g.holders[p] {
		if h.member == m.index && (!in.zombie && h.membership == m.membership) {
			mine = h.since
		}
	}
	for _, h := range g.holders[p] {
		if h.member != m.index && h.since < in.sent && h.since > mine {
			return h.member, true
		}
	}
	return 0, false
}

// decideConflicts judges the conflicts against m's current membership
// once m's heartbeat, sent at sent while owning holding, is answered:
// fenced (legitimate: the coordinator had removed m) or not (a violation:
// the coordinator gave away a partition of a member it still kept).
func (g *consumerGroupWorld) decideConflicts(w *World, m *consumerMember, in *memberRequest, fenced bool) {
	g.conflicts = slices.DeleteFunc(g.conflicts, func(c conflict) bool {
		if c.holder.member != m.index || c.holder.membership != m.membership || c.at >= in.sent || !slices.Contains(in.holding, c.partition) {
			return false
		}
		if !fenced {
			w.violation("consumer-group-ownership", fmt.Sprintf("partition %d was given to cg%d at %v while %s owned it, and %s's heartbeat sent after that, still owning it, was answered as a member's (epoch %d)",
				c.partition, c.taker, c.at, m.name(), m.name(), m.epoch))
		}
		return true
	})
}

func (g *consumerGroupWorld) step(w *World, m *consumerMember) {
	if m.down {
		return
	}
	g.process(w, &m.member)
	g.stepGroup(w, m)
	if m.phase == consumerStable {
		g.stepFetch(w, &m.member, slices.Sorted(mapKeys(m.positions)))
	}
	if len(m.buffer) > 0 {
		g.sleepUntil(w, &m.member, m.nextProcess)
	}
}

// stepGroup sends the member's next request to the coordinator: a zombie
// commit if one is due, else the revocation (commit, then the heartbeat
// without the partitions), the offsets of new partitions, a periodic
// commit, or a heartbeat.
func (g *consumerGroupWorld) stepGroup(w *World, m *consumerMember) {
	if !g.coordinatorReady(w, &m.member) {
		return
	}
	if m.zombie && m.previousID == m.memberID && m.previousEpoch == m.epoch {
		m.zombie = false // not stale: the member is still at that epoch
	}
	if m.zombie {
		m.zombie = false
		req := g.commitOf(m.previousID, m.previousEpoch, m.previousPositions)
		w.tracef("%s sends a commit of its previous membership (epoch %d)", m.name(), m.previousEpoch)
		g.observeCommit(w, &m.member, req, m.observed.previousSpanEnd)
		g.request(w, m, req).zombie = true
		return
	}
	switch m.phase {
	case consumerFind, consumerJoin:
		m.phase = consumerJoin
		g.request(w, m, g.heartbeatRequest(m, 0))
	case consumerLeave:
		epoch := int32(-1)
		if m.staticLeaving {
			epoch = consumerStaticLeaveEpoch
		}
		g.request(w, m, g.heartbeatRequest(m, epoch))
	case consumerStable:
		g.stepStable(w, m)
	}
}

func (g *consumerGroupWorld) stepStable(w *World, m *consumerMember) {
	switch {
	case len(m.revoking) > 0 && !m.revokeCommitted && len(m.revokePositions) > 0:
		req := g.commitOf(m.memberID, m.epoch, m.revokePositions)
		g.observeCommit(w, &m.member, req, m.observed.spanEnd)
		g.request(w, m, req).revoke = true
	case len(m.revoking) > 0:
		// Revoked: release, and say so. What was committed of the
		// revoked partitions becomes the previous positions: a zombie
		// commit sends them again later, with this epoch.
		if len(m.revokePositions) > 0 {
			m.previousID, m.previousEpoch = m.memberID, m.epoch
			m.previousPositions = maps(m.revokePositions)
			m.observed.previousSpanEnd = maps(m.observed.spanEnd)
		}
		for _, p := range m.revoking {
			g.release(w, m, p)
			delete(m.observed.spanEnd, p)
		}
		m.owned = slices.DeleteFunc(m.owned, func(p int32) bool { return slices.Contains(m.revoking, p) })
		w.tracef("%s revokes partitions %v (epoch %d)", m.name(), m.revoking, m.epoch)
		m.revoking, m.revokeCommitted = nil, false
		clear(m.revokePositions)
		m.sendOwned = true
		g.request(w, m, g.heartbeatRequest(m, m.epoch))
	case w.now >= m.nextHeartbeat || m.sendOwned:
		// Heartbeats come before offsets and commits: a member whose
		// epoch is stale learns it only from a heartbeat.
		g.request(w, m, g.heartbeatRequest(m, m.epoch))
	case len(m.needOffsets) > 0:
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(consumerOffsetFetchVersion)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = consumerGroupID
		rg.MemberID, rg.MemberEpoch = kmsg.StringPtr(m.memberID), m.epoch
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = g.topic, slices.Clone(m.needOffsets)
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g.request(w, m, req)
	case w.now >= m.nextCommit && len(m.positions) > 0:
		req := g.commitOf(m.memberID, m.epoch, m.positions)
		g.observeCommit(w, &m.member, req, m.observed.spanEnd)
		g.request(w, m, req)
	default:
		at := m.nextHeartbeat
		if len(m.positions) > 0 {
			at = min(at, m.nextCommit)
		}
		g.sleepUntil(w, &m.member, at)
	}
}

// heartbeatRequest: a join (epoch 0) with the subscription, a leave
// (-1), or a heartbeat that carries the owned partitions when they
// changed since the last one answered.
func (g *consumerGroupWorld) heartbeatRequest(m *consumerMember, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(consumerHeartbeatVersion)
	req.Group, req.MemberID, req.MemberEpoch = consumerGroupID, m.memberID, epoch
	if m.instanceID != nil {
		req.InstanceID = kmsg.StringPtr(*m.instanceID)
	}
	switch {
	case epoch == 0:
		req.RebalanceTimeoutMillis = int32(consumerRebalanceTimeout / time.Millisecond)
		if m.regex != "" {
			req.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		} else {
			req.SubscribedTopicNames = []string{g.topic}
		}
		req.ServerAssignor = kmsg.StringPtr(g.assignor)
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	case epoch > 0 && m.sendOwned:
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if len(m.owned) > 0 {
			t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			t.TopicID, t.Partitions = m.topicID, slices.Clone(m.owned)
			req.Topics = append(req.Topics, t)
		}
	}
	return req
}

// onCoordinatorResponse handles the coordinator's answers.
func (g *consumerGroupWorld) onCoordinatorResponse(w *World, m *consumerMember, in *memberRequest, resp kmsg.Response) {
	var code int16
	switch r := resp.(type) {
	case *kmsg.FindCoordinatorResponse:
		code = g.onFindCoordinator(w, &m.member, r)
		if code == 0 {
			w.tracef("%s finds coordinator %d", m.name(), m.coordinator)
			if m.phase == consumerFind {
				m.phase = consumerJoin
			}
		}
	case *kmsg.ConsumerGroupHeartbeatResponse:
		code = g.onHeartbeat(w, m, in, r)
	case *kmsg.OffsetFetchResponse:
		code = g.onOffsets(w, m, in, r)
	case *kmsg.OffsetCommitResponse:
		code = g.onCommit(w, m, in, r)
	}
	if code != 0 {
		g.onError(w, m, in, code)
		return
	}
	g.step(w, m)
}

// onHeartbeat takes the member epoch and assignment the coordinator
// answered: new partitions are owned at once (their offsets fetched
// next), removed ones are revoked.
func (g *consumerGroupWorld) onHeartbeat(w *World, m *consumerMember, in *memberRequest, r *kmsg.ConsumerGroupHeartbeatResponse) int16 {
	req := in.request.(*kmsg.ConsumerGroupHeartbeatRequest)
	if r.ErrorCode != 0 {
		if req.MemberEpoch > 0 {
			fenced := r.ErrorCode == kerr.FencedMemberEpoch.Code || r.ErrorCode == kerr.UnknownMemberID.Code
			if fenced {
				g.decideConflicts(w, m, in, true)
			}
		}
		return r.ErrorCode
	}
	if req.MemberEpoch == consumerStaticLeaveEpoch {
		w.tracef("%s left (static, epoch %d, owning %v, revoking %v)", m.name(), m.epoch, m.owned, m.revoking)
		former, formerEpoch, checked := slices.Clone(m.owned), m.epoch, len(m.revoking) == 0
		g.disconnectAll(w, &m.member)
		g.dropMembership(w, m, "static leave")
		m.staticReturning, m.staticFormerWasSet, m.staticTaken = true, checked, false
		m.staticFormer, m.staticFormerEpoch = former, formerEpoch
		g.newProcess(w, m, m.staticDown)
		return 0
	}
	if req.MemberEpoch < 0 {
		w.tracef("%s left", m.name())
		g.dropMembership(w, m, "left")
		m.phase = consumerJoin
		g.rest(w, &m.member, time.Duration(200+g.rng.IntN(3000))*time.Millisecond)
		return 0
	}
	if req.MemberEpoch > 0 {
		g.decideConflicts(w, m, in, false)
	}
	if r.MemberID != nil && *r.MemberID != m.memberID {
		w.violation("consumer-group-protocol", fmt.Sprintf("%s: heartbeat answered for member id %q, sent as %q", m.name(), *r.MemberID, m.memberID))
	}
	if r.MemberEpoch < m.heardEpoch {
		w.violation("consumer-group-epoch", fmt.Sprintf("%s heard member epoch %d after %d in one membership", m.name(), r.MemberEpoch, m.heardEpoch))
	}
	if req.MemberEpoch == 0 {
		w.tracef("%s joined at epoch %d", m.name(), r.MemberEpoch)
		m.cutSinceJoin = false
		if m.staticReturning {
			g.checkStaticReturn(w, m, r)
		}
	}
	m.heardEpoch = max(m.heardEpoch, r.MemberEpoch)
	m.epoch = r.MemberEpoch
	m.phase = consumerStable
	if r.HeartbeatIntervalMillis > 0 {
		m.interval = time.Duration(r.HeartbeatIntervalMillis) * time.Millisecond
	}
	m.nextHeartbeat = w.now + m.interval
	if req.Topics != nil {
		m.sendOwned = false
	}
	if r.Assignment != nil {
		g.reconcile(w, m, r.Assignment)
	}
	return 0
}

// checkStaticReturn: a static member back under a new member id at the
// member epoch it left at (nothing changed meanwhile: its session did not
// expire, no member came or went, no subscription changed) gets back
// everything it owned — and its target at that epoch, which may add
// partitions others were still releasing when it left — and none of
// them was given to another member while it was away.
func (g *consumerGroupWorld) checkStaticReturn(w *World, m *consumerMember, r *kmsg.ConsumerGroupHeartbeatResponse) {
	m.staticReturning = false
	var target []int32
	if r.Assignment != nil {
		for _, t := range r.Assignment.Topics {
			target = append(target, t.Partitions...)
		}
	}
	slices.Sort(target)
	w.tracef("%s is back (static) at epoch %d with %v; it left at epoch %d owning %v", m.name(), r.MemberEpoch, target, m.staticFormerEpoch, m.staticFormer)
	missing := slices.DeleteFunc(slices.Clone(m.staticFormer), func(p int32) bool { return slices.Contains(target, p) })
	if m.staticFormerWasSet && r.MemberEpoch == m.staticFormerEpoch && len(missing) > 0 {
		w.violation("consumer-group-static", fmt.Sprintf("%s came back (instance %s) at epoch %d, the epoch it left at, assigned %v, without %v of what it owned when it left",
			m.name(), *m.instanceID, r.MemberEpoch, target, missing))
	}
	if m.staticFormerWasSet && r.MemberEpoch == m.staticFormerEpoch && m.staticTaken {
		w.violation("consumer-group-static", fmt.Sprintf("%s came back (instance %s) at epoch %d, the epoch it left at, but a partition of %v was given to another member while it was away",
			m.name(), *m.instanceID, r.MemberEpoch, m.staticFormer))
	}
}

func (g *consumerGroupWorld) reconcile(w *World, m *consumerMember, a *kmsg.ConsumerGroupHeartbeatResponseAssignment) {
	var target []int32
	for _, t := range a.Topics {
		m.topicID = t.TopicID
		target = append(target, t.Partitions...)
	}
	slices.Sort(target)
	var given, taken []int32
	for _, p := range target {
		if !slices.Contains(m.owned, p) {
			given = append(given, p)
		}
	}
	for _, p := range m.owned {
		if !slices.Contains(target, p) && !slices.Contains(m.revoking, p) {
			taken = append(taken, p)
		}
	}
	for _, p := range given {
		if slices.Contains(m.revoking, p) {
			// Given back before it was released: keep it, without a
			// new grant, and consume it from its committed offset.
			m.revoking = slices.DeleteFunc(m.revoking, func(q int32) bool { return q == p })
			delete(m.revokePositions, p)
			m.needOffsets = append(m.needOffsets, p)
			continue
		}
		g.grant(w, m, p)
		m.owned = append(m.owned, p)
		m.needOffsets = append(m.needOffsets, p)
		if _, ok := m.previousPositions[p]; ok && m.previousID == m.memberID && m.previousEpoch < m.epoch {
			// Given back a partition it revoked: the commit it made
			// then, delayed in the client, arrives now with its old
			// epoch. The member owns the partition again, but not
			// since that epoch, so it must be refused (KIP-1251).
			m.zombie = true
		}
	}
	slices.Sort(m.owned)
	for _, p := range taken {
		// Stop consuming it; what was processed is committed first.
		if pos, ok := m.positions[p]; ok {
			m.revokePositions[p] = pos
		}
		delete(m.positions, p)
		m.needOffsets = slices.DeleteFunc(m.needOffsets, func(q int32) bool { return q == p })
		m.revoking = append(m.revoking, p)
	}
	if len(taken) > 0 {
		m.buffer = slices.DeleteFunc(m.buffer, func(r fetchedRecord) bool { return slices.Contains(taken, r.partition) })
		m.revokeCommitted = false
	}
	if len(given) > 0 || len(taken) > 0 {
		m.sendOwned = true
		w.tracef("%s at epoch %d: assigned %v, given %v, to revoke %v", m.name(), m.epoch, target, given, taken)
	}
}

// onError reacts as a KIP-848 client does.
func (g *consumerGroupWorld) onError(w *World, m *consumerMember, in *memberRequest, code int16) {
	w.tracef("%s %s: %s", m.name(), kmsg.NameForKey(in.request.Key()), errorName(code))
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		m.coordinator = -1
		m.sendOwned = true
	case kerr.StaleMemberEpoch.Code:
		m.nextHeartbeat = w.now // learn the epoch
	case kerr.FencedMemberEpoch.Code, kerr.UnknownMemberID.Code:
		if _, ok := in.request.(*kmsg.ConsumerGroupHeartbeatRequest); !ok {
			m.nextHeartbeat = w.now // the heartbeat says whether it is fenced
		} else if m.phase != consumerJoin {
			if m.cutSinceJoin {
				w.tracef("%s hears it is fenced after a cut, having processed %d records since", m.name(), m.processedSinceCut)
			}
			g.dropMembership(w, m, "fenced")
			m.phase = consumerJoin
		}
	case kerr.InvalidRequest.Code, kerr.UnsupportedAssignor.Code, kerr.UnsupportedVersion.Code:
		w.violation("consumer-group-protocol", fmt.Sprintf("%s: %s answered %s", m.name(), kmsg.NameForKey(in.request.Key()), errorName(code)))
	}
	m.groupNotBefore = w.now + errorBackoff
	g.step(w, m)
}

// onOffsets starts the new partitions at their committed offsets, which
// must hold every commit acknowledged before the request was sent.
func (g *consumerGroupWorld) onOffsets(w *World, m *consumerMember, in *memberRequest, r *kmsg.OffsetFetchResponse) int16 {
	if code := offsetFetchError(r); code != 0 {
		return code
	}
	if in.span != m.span {
		return 0 // asked in a membership since dropped
	}
	for _, t := range r.Groups[0].Topics {
		for _, p := range t.Partitions {
			if !slices.Contains(m.needOffsets, p.Partition) {
				continue // revoked meanwhile
			}
			g.startPartition(w, &m.member, in, p)
			m.needOffsets = slices.DeleteFunc(m.needOffsets, func(q int32) bool { return q == p.Partition })
		}
	}
	return 0
}

// onCommit checks an acknowledged commit: not of a partition another
// member was given before it was sent and still owns (and the checks of
// ackCommit).
func (g *consumerGroupWorld) onCommit(w *World, m *consumerMember, in *memberRequest, r *kmsg.OffsetCommitResponse) int16 {
	req := in.request.(*kmsg.OffsetCommitRequest)
	code := g.ackCommit(w, &m.member, in, r, func(partition int32, offset int64) {
		if other, ok := g.supersededFor(m, in, partition); ok && !consumerStaleCommitCheckOff {
			w.violation("consumer-group-stale-commit", fmt.Sprintf("%s's commit (member %s, epoch %d) of partition %d at %d was accepted, though cg%d had been given the partition after it, before the commit was sent, and still owns it",
				m.name(), req.MemberID, req.Generation, partition, offset, other))
		}
	})
	if in.zombie {
		if code == 0 {
			w.tracef("%s's commit of epoch %d was accepted", m.name(), req.Generation)
		} else {
			w.tracef("%s's commit of epoch %d: %s", m.name(), req.Generation, errorName(code))
		}
		return 0
	}
	if in.revoke {
		// Revocation goes on whatever the commit's fate, except when the
		// coordinator moved: commit there first.
		if code != kerr.NotCoordinator.Code && code != kerr.CoordinatorNotAvailable.Code && code != kerr.CoordinatorLoadInProgress.Code {
			m.revokeCommitted = true
		}
		if code != 0 {
			w.tracef("%s's commit before revoking: %s", m.name(), errorName(code))
		}
	}
	if code == kerr.StaleMemberEpoch.Code || code == kerr.FencedMemberEpoch.Code || code == kerr.UnknownMemberID.Code {
		// The heartbeat will tell where the member stands.
		m.nextCommit = w.now + groupCommitInterval
		m.nextHeartbeat = w.now
		return 0
	}
	if code != 0 {
		return code
	}
	if w.liveness {
		m.committedInLiveness = true
	}
	m.nextCommit = w.now + groupCommitInterval
	return 0
}

// checkFinal: the coordinator agrees that the group converged, and every
// offset below each partition's committed offset was processed by some
// member, as the final read holds it.
func (g *consumerGroupWorld) checkFinal(w *World, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	g.checkDescribe(w)
	g.checkCoverage(w, final)
}

// checkDescribe asks the coordinator, at the instant the run became
// quiescent, for the group (ConsumerGroupDescribe): every member must be
// there at the epoch it heard, with the partitions it owns as its
// assignment and its target, and at the group's target assignment epoch
// — unless a member id of an earlier life, whose session has yet to
// expire, is still listed (its expiry moves the group's epochs on, and
// the members follow at their next heartbeat).
func (g *consumerGroupWorld) checkDescribe(w *World) {
	// The coordinator is whichever running broker answers for the group
	// (members may not have heard of a move yet).
	var r *kmsg.ConsumerGroupDescribeResponse
	coordinator := -1
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{consumerGroupID}
		resp, err := w.direct(b, req)
		if err != nil {
			w.violation("consumer-group-liveness", err.Error())
			return
		}
		if d := resp.(*kmsg.ConsumerGroupDescribeResponse); len(d.Groups) == 1 && d.Groups[0].ErrorCode != kerr.NotCoordinator.Code {
			r, coordinator = d, b.index
			break
		}
	}
	if r == nil {
		w.violation("consumer-group-liveness", "no broker coordinates the consumer group at the end")
		return
	}
	if r.Groups[0].ErrorCode != 0 {
		w.violation("consumer-group-liveness", fmt.Sprintf("ConsumerGroupDescribe at broker %d: %s", coordinator, errorName(r.Groups[0].ErrorCode)))
		return
	}
	group := r.Groups[0]
	described := map[string]kmsg.ConsumerGroupDescribeResponseGroupMember{}
	for _, dm := range group.Members {
		described[dm.MemberID] = dm
	}
	partitionsOf := func(a kmsg.Assignment) []int32 {
		var out []int32
		for _, t := range a.TopicPartitions {
			out = append(out, t.Partitions...)
		}
		slices.Sort(out)
		return out
	}
	for _, m := range g.members {
		dm, ok := described[m.memberID]
		if !ok {
			w.violation("consumer-group-liveness", fmt.Sprintf("%s (member %s) is not in the group the coordinator describes", m.name(), m.memberID))
			continue
		}
		delete(described, m.memberID)
		assigned, target := partitionsOf(dm.Assignment), partitionsOf(dm.TargetAssignment)
		if dm.MemberEpoch != m.epoch || !slices.Equal(assigned, m.owned) || !slices.Equal(target, m.owned) {
			w.violation("consumer-group-liveness", fmt.Sprintf("%s at the end: epoch %d owning %v; the coordinator has it at epoch %d assigned %v, target %v",
				m.name(), m.epoch, m.owned, dm.MemberEpoch, assigned, target))
		}
		if len(group.Members) == len(g.members) && m.epoch != group.AssignmentEpoch {
			w.violation("consumer-group-liveness", fmt.Sprintf("%s at the end: epoch %d, the group's target assignment epoch %d", m.name(), m.epoch, group.AssignmentEpoch))
		}
		// Every member subscribes to the topic, by name or by a regex
		// that matches it: with as many partitions as members, both
		// assignors give each one some.
		if len(group.Members) == len(g.members) && int(g.partitions) >= len(g.members) && len(m.owned) == 0 {
			w.violation("consumer-group-liveness", fmt.Sprintf("%s (subscribed by %s) owns nothing at the end, with %d partitions for %d members",
				m.name(), m.subscription(), g.partitions, len(g.members)))
		}
		if got := dm.SubscribedTopicRegex; m.regex != "" && (got == nil || *got != m.regex) || m.regex == "" && !slices.Equal(dm.SubscribedTopics, []string{g.topic}) {
			w.violation("consumer-group-liveness", fmt.Sprintf("%s subscribed by %s; the coordinator describes its subscription as names %v, regex %v",
				m.name(), m.subscription(), dm.SubscribedTopics, dm.SubscribedTopicRegex))
		}
	}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range described {
			if !yield(id) {
				return
			}
		}
	}) {
		if dm := described[id]; len(partitionsOf(dm.Assignment)) > 0 {
			w.violation("consumer-group-liveness", fmt.Sprintf("member %s of an earlier life still owns %v at the end", id, partitionsOf(dm.Assignment)))
		}
	}
	w.tracef("consumer group at the end: group epoch %d, target assignment epoch %d, %d members described", group.Epoch, group.AssignmentEpoch, len(group.Members))
}

// converged: every member stable at one member epoch with nothing to
// revoke or fetch offsets of, every partition owned by exactly one.
func (g *consumerGroupWorld) converged() bool {
	epoch := int32(-1)
	owners := make([]int, g.partitions)
	for _, m := range g.members {
		if m.phase != consumerStable || len(m.revoking) > 0 || len(m.needOffsets) > 0 || m.sendOwned || m.heartbeating() {
			return false
		}
		if epoch >= 0 && m.epoch != epoch {
			return false
		}
		epoch = m.epoch
		for _, p := range m.owned {
			owners[p]++
		}
	}
	for _, n := range owners {
		if n != 1 {
			return false
		}
	}
	return true
}

func (g *consumerGroupWorld) quiescent(w *World) bool {
	if !g.converged() {
		return false
	}
	for _, m := range g.members {
		if !m.committedInLiveness && len(m.positions) > 0 {
			return false
		}
	}
	return g.committedAll(w)
}

func (g *consumerGroupWorld) summary(w *World) string {
	var parts []string
	for _, m := range g.members {
		parts = append(parts, fmt.Sprintf("%s is in phase %s (epoch %d, owns %v, revoking %v, offsets to fetch %v, coordinator %d, committed since faults stopped: %v)",
			m.name(), consumerPhaseNames[m.phase], m.epoch, m.owned, m.revoking, m.needOffsets, m.coordinator, m.committedInLiveness))
	}
	return g.commitSummary(w, parts)
}

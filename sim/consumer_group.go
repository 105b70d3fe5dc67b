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

	"cairn/linearizability"
	"cairn/netsim"
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
// COORDINATOR_NOT_AVAILABLE find the coordinator again.
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
//     without gap or repeat (as the classic workload checks it);
//   - at the end, every offset below each partition's committed offset
//     was processed by some member;
//   - liveness: once faults stop, every member converges — all at one
//     member epoch, no revocation pending, every partition of the topic
//     owned by exactly one member — and has a commit acknowledged, and
//     the committed offsets reach what producers had acknowledged.

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

// consumerGroupWorld is the workload and what its checks remember.
type consumerGroupWorld struct {
	topic      string
	partitions int32
	assignor   string
	members    []*consumerMember
	rng        *rand.Rand
	// holders is, per partition, the members that own it (checker view).
	holders map[int32][]holding
	// conflicts are partitions given to one member while another owned
	// them, waiting for the other's next heartbeat to say whether the
	// coordinator had fenced it.
	conflicts []conflict
	// acked, resets, processed: as in groupWorld.
	acked            map[int32]int64
	resets           map[int32]int
	processed        map[int32]map[int64]string
	processedRecords int
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

type consumerMember struct {
	index    int
	id       netsim.NodeID
	links    [slots][]clientLink
	nextCorr int32
	inflight *consumerInflight
	fetching *consumerInflight

	coordinator int
	findBroker  int
	// life counts the member's crashes: its member id is made of it.
	// membership counts its joins (epoch 0), for the checker.
	life       int
	membership int
	memberID   string
	epoch      int32
	heardEpoch int32
	phase      consumerPhase
	interval   time.Duration
	topicID    [16]byte
	// owned is what the member owns (sorted): given, not yet released.
	// revoking is what the coordinator took away of it, to commit and
	// then release; revokeCommitted says that commit was answered.
	// needOffsets are owned partitions whose committed offset is still to
	// be fetched; positions holds the partitions being consumed.
	owned           []int32
	revoking        []int32
	revokePositions map[int32]int64
	revokeCommitted bool
	needOffsets     []int32
	positions       map[int32]int64
	// sendOwned asks the next heartbeat to carry the owned partitions.
	sendOwned bool

	buffer      []fetchedRecord
	nextProcess time.Duration
	span        int

	leaders        map[int32]int
	leaderEpochs   map[int32]int32
	metadataStale  bool
	metadataBroker int
	fetchRound     int

	nextHeartbeat  time.Duration
	nextCommit     time.Duration
	nextFault      time.Duration
	wakeAt         time.Duration
	groupNotBefore time.Duration
	fetchNotBefore time.Duration
	down           bool
	incarnation    int
	cut            [][2]netsim.NodeID
	cutSerial      int
	// cutInMembership says the member was cut off since it joined;
	// processedSinceCut counts the records it processed since.
	cutInMembership   bool
	processedSinceCut int

	committedInLiveness bool
	// previous* is the member's last membership before its current one:
	// a zombie commit sends its positions with its id and epoch, once.
	previousID        string
	previousEpoch     int32
	previousPositions map[int32]int64
	previousSpanEnd   map[int32]int64
	zombie            bool
	// spanEnd is, per partition consumed, the next offset the member must
	// process (the checker's).
	spanEnd map[int32]int64
}

type consumerInflight struct {
	broker      int
	correlation int32
	request     kmsg.Request
	sent        time.Duration
	deadline    time.Duration
	acked       map[int32]int64
	resets      map[int32]int
	zombie      bool
	revoke      bool
	span        int
	// holding is what the member owned when the request was sent.
	holding []int32
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

func (m *consumerMember) name() string { return "cg" + strconv.Itoa(m.index) }

// startConsumerGroups creates the members on the first topic.
func (w *World) startConsumerGroups() {
	if err := w.createOffsetsTopic(); err != nil {
		w.violation("setup", err.Error())
		return
	}
	t := w.options.Topics[0]
	g := &consumerGroupWorld{topic: t.Name, partitions: t.Partitions, rng: newStream(w.options.Seed, streamConsumerGroups),
		holders: map[int32][]holding{}, acked: map[int32]int64{}, resets: map[int32]int{}, processed: map[int32]map[int64]string{}}
	g.assignor = [...]string{"uniform", "range"}[g.rng.IntN(2)]
	w.consumerGroups = g
	w.tracef("consumer group: %d members, assignor %s", w.groupMembers, g.assignor)
	for i := 0; i < w.groupMembers; i++ {
		m := &consumerMember{index: i, id: netsim.NodeID(consumerGroupNodeBase + i), coordinator: -1, findBroker: i % len(w.brokers),
			positions: map[int32]int64{}, revokePositions: map[int32]int64{}, leaders: map[int32]int{}, leaderEpochs: map[int32]int32{},
			metadataStale: true, metadataBroker: i % len(w.brokers), spanEnd: map[int32]int64{}, interval: brokerConsumerHeartbeatInterval}
		m.memberID = g.memberIDOf(m)
		for slot := range m.links {
			m.links[slot] = make([]clientLink, len(w.brokers))
			for j := range m.links[slot] {
				m.links[slot][j].conn = -1
			}
		}
		m.nextFault = w.now + g.faultGap()
		g.members = append(g.members, m)
		g.sleepUntil(w, m, w.now+time.Duration(i+1)*time.Millisecond)
	}
}

// memberIDOf is the member id a member makes up in its current life.
func (g *consumerGroupWorld) memberIDOf(m *consumerMember) string {
	return fmt.Sprintf("sim-%d-%d-%016x", m.index, m.life, g.rng.Uint64())
}

func (g *consumerGroupWorld) faultGap() time.Duration {
	return time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond))) * time.Millisecond
}

func (g *consumerGroupWorld) sleepUntil(w *World, m *consumerMember, at time.Duration) {
	if m.wakeAt > w.now && m.wakeAt <= at {
		return
	}
	m.wakeAt = max(at, w.now)
	w.schedule(m.wakeAt, eventConsumerGroupWake, m.index, m.incarnation, nil)
}

func (g *consumerGroupWorld) wake(w *World, index, incarnation int) {
	m := g.members[index]
	if incarnation != m.incarnation {
		return
	}
	if m.down {
		m.down = false
		m.nextProcess = max(m.nextProcess, w.now)
		w.tracef("%s resumes (%s, epoch %d)", m.name(), consumerPhaseNames[m.phase], m.epoch)
	}
	if !w.liveness && w.now >= m.nextFault {
		g.fault(w, m)
		return
	}
	if in := m.inflight; in != nil && w.now >= in.deadline {
		w.tracef("%s timeout corr=%d", m.name(), in.correlation)
		g.disconnect(w, m, slotGroup, in.broker)
		m.inflight = nil
		m.coordinator = -1
		m.sendOwned = true
		m.groupNotBefore = w.now + reconnectBackoff
	}
	if in := m.fetching; in != nil && w.now >= in.deadline {
		w.tracef("%s fetch timeout corr=%d", m.name(), in.correlation)
		g.disconnect(w, m, slotFetch, in.broker)
		m.fetchNotBefore = w.now + reconnectBackoff
	}
	g.step(w, m)
}

// fault crashes, pauses, cuts off or makes a member leave.
func (g *consumerGroupWorld) fault(w *World, m *consumerMember) {
	m.nextFault = w.now + g.faultGap()
	down := time.Duration(500+g.rng.IntN(10_000)) * time.Millisecond
	switch g.rng.IntN(7) {
	case 0, 1: // crash: a new process, a new member id
		w.tracef("%s crashes for %v", m.name(), down)
		for slot := range m.links {
			for b := range m.links[slot] {
				g.disconnect(w, m, slot, b)
			}
		}
		g.dropMembership(w, m, "crash")
		m.previousPositions, m.zombie = nil, false
		m.life++
		m.memberID = g.memberIDOf(m)
		m.coordinator = -1
		m.phase = consumerFind
		clear(m.leaders)
		clear(m.leaderEpochs)
		m.metadataStale = true
		g.rest(w, m, down)
	case 2, 3: // pause: later goes on as it was
		w.tracef("%s pauses for %v (%s, epoch %d)", m.name(), down, consumerPhaseNames[m.phase], m.epoch)
		m.zombie = len(m.previousPositions) > 0 && g.rng.IntN(2) == 0
		m.sendOwned = true
		g.rest(w, m, down)
	case 4: // leave with epoch -1, then come back under the same id
		if m.phase == consumerStable && m.inflight == nil {
			w.tracef("%s leaves", m.name())
			m.phase = consumerLeave
		}
		g.step(w, m)
	case 5, 6:
		g.cutOff(w, m)
		g.step(w, m)
	}
}

// cutOff is groupWorld.cutOff for a consumer-protocol member.
func (g *consumerGroupWorld) cutOff(w *World, m *consumerMember) {
	g.mend(w, m)
	mode := g.rng.IntN(3)
	withCoordinator := g.rng.IntN(2) == 0
	var brokers []int
	for b := range w.brokers {
		switch {
		case mode == 0, mode == 1 && (b == m.coordinator || m.coordinator < 0):
			brokers = append(brokers, b)
		case mode == 2 && (g.rng.IntN(2) == 0 || withCoordinator && b == m.coordinator):
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		brokers = append(brokers, max(m.coordinator, 0))
	}
	ways := g.rng.IntN(3)
	d := groupCutMin + time.Duration(g.rng.Int64N(int64(groupCutMax-groupCutMin)))
	for _, b := range brokers {
		id := w.brokers[b].id
		if ways != 2 {
			m.cut = append(m.cut, [2]netsim.NodeID{m.id, id})
		}
		if ways != 1 {
			m.cut = append(m.cut, [2]netsim.NodeID{id, m.id})
		}
	}
	for _, c := range m.cut {
		w.net.Cut(w.now, c[0], c[1])
	}
	m.cutSerial++
	m.cutInMembership, m.processedSinceCut = true, 0
	m.nextFault = max(m.nextFault, w.now+d+g.faultGap())
	w.tracef("%s cut off from brokers %v (%s) for %v (%s, epoch %d, coordinator %d)", m.name(), brokers,
		[...]string{"both ways", "outbound", "inbound"}[ways], d, consumerPhaseNames[m.phase], m.epoch, m.coordinator)
	w.schedule(w.now+d, eventConsumerGroupMend, m.index, m.cutSerial, nil)
}

func (g *consumerGroupWorld) mendCut(w *World, index, serial int) {
	m := g.members[index]
	if serial != m.cutSerial || len(m.cut) == 0 {
		return
	}
	w.tracef("%s is reachable again", m.name())
	g.mend(w, m)
}

func (g *consumerGroupWorld) mend(w *World, m *consumerMember) {
	for _, c := range m.cut {
		w.net.Mend(w.now, c[0], c[1])
	}
	m.cut = m.cut[:0]
}

func (g *consumerGroupWorld) rest(w *World, m *consumerMember, d time.Duration) {
	m.down = true
	m.inflight, m.fetching = nil, nil
	m.incarnation++
	m.wakeAt = 0
	g.sleepUntil(w, m, w.now+d)
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
		m.previousSpanEnd = maps(m.spanEnd)
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
	clear(m.spanEnd)
	m.revokeCommitted = false
	m.buffer = m.buffer[:0]
	m.span++
	m.epoch, m.heardEpoch = 0, 0
	m.membership++
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
}

func (g *consumerGroupWorld) release(w *World, m *consumerMember, p int32) {
	g.holders[p] = slices.DeleteFunc(g.holders[p], func(h holding) bool { return h.member == m.index })
}

// supersededFor reports another member that was given partition p
// before the request in was sent, after m's own ownership of it began (or
// while m did not own it), and still owns it: a commit of p in that
// request must be refused.
func (g *consumerGroupWorld) supersededFor(m *consumerMember, in *consumerInflight, p int32) (int, bool) {
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
func (g *consumerGroupWorld) decideConflicts(w *World, m *consumerMember, in *consumerInflight, fenced bool) {
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

func (g *consumerGroupWorld) disconnect(w *World, m *consumerMember, slot, broker int) {
	if m.links[slot][broker].state == connUp {
		w.net.Close(w.now, m.links[slot][broker].conn, m.id)
	}
	m.links[slot][broker] = clientLink{conn: -1}
	g.lostConnection(m, slot, broker)
}

func (g *consumerGroupWorld) lostConnection(m *consumerMember, slot, broker int) {
	switch slot {
	case slotGroup:
		if m.inflight != nil && m.inflight.broker == broker {
			m.inflight = nil
			m.sendOwned = true
		}
		if broker == m.coordinator {
			m.coordinator = -1
		}
	case slotFetch:
		if m.fetching != nil && m.fetching.broker == broker {
			m.fetching = nil
			m.metadataStale = true
		}
	}
}

func (g *consumerGroupWorld) link(w *World, m *consumerMember, slot, broker int) bool {
	l := &m.links[slot][broker]
	switch l.state {
	case connUp:
		return true
	case connIdle:
		l.state = connDialing
		l.conn = w.net.Dial(w.now, m.id, w.brokers[broker].id)
	}
	return false
}

func (g *consumerGroupWorld) onNetwork(w *World, ev netsim.Event) {
	m := g.members[int(ev.To)-consumerGroupNodeBase]
	slot, broker := -1, -1
	for s := range m.links {
		for i := range m.links[s] {
			if m.links[s][i].conn == ev.Conn && m.links[s][i].state != connIdle {
				slot, broker = s, i
			}
		}
	}
	if broker < 0 {
		return
	}
	switch ev.Kind {
	case netsim.EventConnected:
		m.links[slot][broker].state = connUp
		if !m.down {
			g.step(w, m)
		}
	case netsim.EventDialFailed, netsim.EventClosed, netsim.EventReset:
		m.links[slot][broker] = clientLink{conn: -1}
		g.lostConnection(m, slot, broker)
		if slot == slotGroup {
			m.groupNotBefore = max(m.groupNotBefore, w.now+reconnectBackoff)
		} else {
			m.fetchNotBefore = max(m.fetchNotBefore, w.now+reconnectBackoff)
		}
		if !m.down {
			g.step(w, m)
		}
	case netsim.EventDeliver:
		if !m.down {
			g.onResponse(w, m, slot, broker, ev.Payload)
		}
	}
}

func (g *consumerGroupWorld) send(w *World, m *consumerMember, broker int, req kmsg.Request, fetch bool) *consumerInflight {
	m.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, m.nextCorr)
	in := &consumerInflight{broker: broker, correlation: m.nextCorr, request: req, sent: w.now,
		deadline: w.now + w.options.RequestTimeout, span: m.span, holding: slices.Clone(m.owned)}
	slot := slotGroup
	if fetch {
		m.fetching = in
		slot = slotFetch
	} else {
		in.acked = maps(g.acked)
		in.resets = make(map[int32]int, len(g.resets))
		for p, n := range g.resets {
			in.resets[p] = n
		}
		m.inflight = in
	}
	w.net.Send(w.now, m.links[slot][broker].conn, m.id, frame[4:])
	w.schedule(in.deadline, eventConsumerGroupWake, m.index, m.incarnation, nil)
	return in
}

func (g *consumerGroupWorld) step(w *World, m *consumerMember) {
	if m.down {
		return
	}
	g.process(w, m)
	g.stepGroup(w, m)
	g.stepFetch(w, m)
	if len(m.buffer) > 0 {
		g.sleepUntil(w, m, m.nextProcess)
	}
}

func (g *consumerGroupWorld) process(w *World, m *consumerMember) {
	for len(m.buffer) > 0 && m.nextProcess <= w.now {
		r := m.buffer[0]
		m.buffer = m.buffer[1:]
		m.positions[r.partition] = r.offset + 1
		g.observeProcessed(w, m, r)
		if m.cutInMembership {
			m.processedSinceCut++
		}
		m.nextProcess += groupRecordProcessTime
	}
	if len(m.buffer) == 0 {
		m.buffer = nil
	}
}

// stepGroup sends the member's next request to the coordinator: a zombie
// commit if one is due, else the revocation (commit, then the heartbeat
// without the partitions), the offsets of new partitions, a periodic
// commit, or a heartbeat.
func (g *consumerGroupWorld) stepGroup(w *World, m *consumerMember) {
	if m.inflight != nil {
		return
	}
	if w.now < m.groupNotBefore {
		g.sleepUntil(w, m, m.groupNotBefore)
		return
	}
	if m.coordinator < 0 {
		broker := m.findBroker
		if !g.link(w, m, slotGroup, broker) {
			if m.links[slotGroup][broker].state == connIdle {
				m.findBroker = (broker + 1) % len(w.brokers)
			}
			return
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(findCoordinatorVersion)
		req.CoordinatorKeys = []string{consumerGroupID}
		g.send(w, m, broker, req, false)
		return
	}
	if !g.link(w, m, slotGroup, m.coordinator) {
		return
	}
	if m.zombie && m.previousID == m.memberID && m.previousEpoch == m.epoch {
		m.zombie = false // not stale: the member is still at that epoch
	}
	if m.zombie {
		m.zombie = false
		req := g.commitOf(m.previousID, m.previousEpoch, m.previousPositions)
		w.tracef("%s sends a commit of its previous membership (epoch %d)", m.name(), m.previousEpoch)
		g.observeCommit(w, m, req, m.previousSpanEnd)
		g.send(w, m, m.coordinator, req, false).zombie = true
		return
	}
	switch m.phase {
	case consumerFind, consumerJoin:
		m.phase = consumerJoin
		g.send(w, m, m.coordinator, g.heartbeatRequest(m, 0), false)
	case consumerLeave:
		g.send(w, m, m.coordinator, g.heartbeatRequest(m, -1), false)
	case consumerStable:
		g.stepStable(w, m)
	}
}

func (g *consumerGroupWorld) stepStable(w *World, m *consumerMember) {
	switch {
	case len(m.revoking) > 0 && !m.revokeCommitted && len(m.revokePositions) > 0:
		req := g.commitOf(m.memberID, m.epoch, m.revokePositions)
		g.observeCommit(w, m, req, m.spanEnd)
		g.send(w, m, m.coordinator, req, false).revoke = true
	case len(m.revoking) > 0:
		// Revoked: release, and say so. What was committed of the
		// revoked partitions becomes the previous positions: a zombie
		// commit sends them again later, with this epoch.
		if len(m.revokePositions) > 0 {
			m.previousID, m.previousEpoch = m.memberID, m.epoch
			m.previousPositions = maps(m.revokePositions)
			m.previousSpanEnd = maps(m.spanEnd)
		}
		for _, p := range m.revoking {
			g.release(w, m, p)
			delete(m.spanEnd, p)
		}
		m.owned = slices.DeleteFunc(m.owned, func(p int32) bool { return slices.Contains(m.revoking, p) })
		w.tracef("%s revokes partitions %v (epoch %d)", m.name(), m.revoking, m.epoch)
		m.revoking, m.revokeCommitted = nil, false
		clear(m.revokePositions)
		m.sendOwned = true
		g.send(w, m, m.coordinator, g.heartbeatRequest(m, m.epoch), false)
	case w.now >= m.nextHeartbeat || m.sendOwned:
		// Heartbeats come before offsets and commits: a member whose
		// epoch is stale learns it only from a heartbeat.
		g.send(w, m, m.coordinator, g.heartbeatRequest(m, m.epoch), false)
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
		g.send(w, m, m.coordinator, req, false)
	case w.now >= m.nextCommit && len(m.positions) > 0:
		req := g.commitOf(m.memberID, m.epoch, m.positions)
		g.observeCommit(w, m, req, m.spanEnd)
		g.send(w, m, m.coordinator, req, false)
	default:
		at := m.nextHeartbeat
		if len(m.positions) > 0 {
			at = min(at, m.nextCommit)
		}
		g.sleepUntil(w, m, at)
	}
}

// heartbeatRequest: a join (epoch 0) with the subscription, a leave
// (-1), or a heartbeat that carries the owned partitions when they
// changed since the last one answered.
func (g *consumerGroupWorld) heartbeatRequest(m *consumerMember, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(consumerHeartbeatVersion)
	req.Group, req.MemberID, req.MemberEpoch = consumerGroupID, m.memberID, epoch
	switch {
	case epoch == 0:
		req.RebalanceTimeoutMillis = int32(consumerRebalanceTimeout / time.Millisecond)
		req.SubscribedTopicNames = []string{g.topic}
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

func (g *consumerGroupWorld) commitOf(memberID string, epoch int32, positions map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(consumerOffsetCommitVersion)
	req.Group, req.MemberID, req.Generation = consumerGroupID, memberID, epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = g.topic
	for _, p := range slices.Sorted(mapKeys(positions)) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, positions[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// stepFetch is groupWorld.stepFetch over the partitions being consumed.
func (g *consumerGroupWorld) stepFetch(w *World, m *consumerMember) {
	if m.fetching != nil || m.phase != consumerStable || len(m.positions) == 0 || len(m.buffer) > 0 {
		return
	}
	if w.now < m.fetchNotBefore {
		g.sleepUntil(w, m, m.fetchNotBefore)
		return
	}
	brokers := len(w.brokers)
	if m.metadataStale {
		broker := m.metadataBroker
		if !g.link(w, m, slotFetch, broker) {
			if m.links[slotFetch][broker].state == connIdle {
				m.metadataBroker = (broker + 1) % brokers
			}
			return
		}
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(metadataVersion)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(g.topic)
		req.Topics = append(req.Topics, rt)
		g.send(w, m, broker, req, true)
		return
	}
	consuming := slices.Sorted(mapKeys(m.positions))
	for _, p := range consuming {
		if _, ok := m.leaders[p]; !ok {
			m.metadataStale = true
		}
	}
	for k := 0; k < brokers; k++ {
		broker := (m.fetchRound + k) % brokers
		req := g.fetchRequest(m, consuming, broker)
		if req == nil {
			continue
		}
		if !g.link(w, m, slotFetch, broker) {
			return
		}
		m.fetchRound = (broker + 1) % brokers
		g.send(w, m, broker, req, true)
		return
	}
	m.metadataStale = true
	m.fetchNotBefore = w.now + errorBackoff
	g.sleepUntil(w, m, m.fetchNotBefore)
}

func (g *consumerGroupWorld) fetchRequest(m *consumerMember, consuming []int32, broker int) *kmsg.FetchRequest {
	var req *kmsg.FetchRequest
	for _, p := range consuming {
		if leader, ok := m.leaders[p]; !ok || leader != broker {
			continue
		}
		if req == nil {
			req = kmsg.NewPtrFetchRequest()
			req.SetVersion(fetchVersion)
			req.ReplicaID = -1
			req.MaxWaitMillis = groupFetchWaitMillis
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			req.SessionEpoch = -1
			req.Topics = append(req.Topics, kmsg.FetchRequestTopic{Topic: g.topic})
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = m.positions[p]
		rp.PartitionMaxBytes = groupFetchBytesMax
		rp.CurrentLeaderEpoch = m.leaderEpochs[p]
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	return req
}

func (g *consumerGroupWorld) onResponse(w *World, m *consumerMember, slot, broker int, payload []byte) {
	if len(payload) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(payload))
	if corr > m.nextCorr {
		w.violation("protocol", fmt.Sprintf("%s: response correlation %d, never sent", m.name(), corr))
		return
	}
	var in *consumerInflight
	switch {
	case slot == slotGroup && m.inflight != nil && m.inflight.broker == broker && m.inflight.correlation == corr:
		in, m.inflight = m.inflight, nil
	case slot == slotFetch && m.fetching != nil && m.fetching.broker == broker && m.fetching.correlation == corr:
		in, m.fetching = m.fetching, nil
	default:
		return
	}
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
	case *kmsg.MetadataResponse:
		g.onMetadata(w, m, r)
		g.step(w, m)
		return
	case *kmsg.FetchResponse:
		if g.onFetch(w, m, in, r) {
			m.metadataStale = true
			m.fetchNotBefore = w.now + errorBackoff
		}
		g.step(w, m)
		return
	case *kmsg.FindCoordinatorResponse:
		code = g.onFindCoordinator(w, m, r)
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

func (g *consumerGroupWorld) onFindCoordinator(w *World, m *consumerMember, r *kmsg.FindCoordinatorResponse) int16 {
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
	w.tracef("%s finds coordinator %d", m.name(), m.coordinator)
	if m.phase == consumerFind {
		m.phase = consumerJoin
	}
	return 0
}

// onHeartbeat takes the member epoch and assignment the coordinator
// answered: new partitions are owned at once (their offsets fetched
// next), removed ones are revoked.
func (g *consumerGroupWorld) onHeartbeat(w *World, m *consumerMember, in *consumerInflight, r *kmsg.ConsumerGroupHeartbeatResponse) int16 {
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
	if req.MemberEpoch < 0 {
		w.tracef("%s left", m.name())
		g.dropMembership(w, m, "left")
		m.phase = consumerJoin
		g.rest(w, m, time.Duration(200+g.rng.IntN(3000))*time.Millisecond)
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
		m.cutInMembership = false
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
func (g *consumerGroupWorld) onError(w *World, m *consumerMember, in *consumerInflight, code int16) {
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
			if m.cutInMembership {
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
func (g *consumerGroupWorld) onOffsets(w *World, m *consumerMember, in *consumerInflight, r *kmsg.OffsetFetchResponse) int16 {
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
		}
	}
	if in.span != m.span {
		return 0 // asked in a membership since dropped
	}
	for _, t := range rg.Topics {
		for _, p := range t.Partitions {
			if !slices.Contains(m.needOffsets, p.Partition) {
				continue // revoked meanwhile
			}
			committed := max(p.Offset, 0)
			if acked, ok := in.acked[p.Partition]; ok && committed < acked {
				w.violation("consumer-group-offset-lost", fmt.Sprintf("%s took partition %d at committed offset %d, but %d was acknowledged before it asked",
					m.name(), p.Partition, p.Offset, acked))
			}
			m.positions[p.Partition] = committed
			m.spanEnd[p.Partition] = committed
			m.needOffsets = slices.DeleteFunc(m.needOffsets, func(q int32) bool { return q == p.Partition })
			w.tracef("%s starts partition %d at %d (committed %d)", m.name(), p.Partition, committed, p.Offset)
		}
	}
	return 0
}

// onCommit checks an acknowledged commit: not of a partition another
// member was given before it was sent and still owns, not below what was
// acknowledged before it was sent.
func (g *consumerGroupWorld) onCommit(w *World, m *consumerMember, in *consumerInflight, r *kmsg.OffsetCommitResponse) int16 {
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
			if other, ok := g.supersededFor(m, in, p.Partition); ok && !consumerStaleCommitCheckOff {
				w.violation("consumer-group-stale-commit", fmt.Sprintf("%s's commit (member %s, epoch %d) of partition %d at %d was accepted, though cg%d had been given the partition after it, before the commit was sent, and still owns it",
					m.name(), req.MemberID, req.Generation, p.Partition, offset, other))
			}
			if acked, ok := in.acked[p.Partition]; ok && offset < acked {
				w.violation("consumer-group-offset-backwards", fmt.Sprintf("%s's commit of partition %d at %d was acknowledged, below %d acknowledged before it was sent",
					m.name(), p.Partition, offset, acked))
			}
			if in.resets[p.Partition] == g.resets[p.Partition] {
				g.acked[p.Partition] = max(g.acked[p.Partition], offset)
			}
		}
	}
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

func (g *consumerGroupWorld) onMetadata(w *World, m *consumerMember, r *kmsg.MetadataResponse) {
	m.metadataBroker = (m.metadataBroker + 1) % len(w.brokers)
	for _, t := range r.Topics {
		if t.Topic == nil || *t.Topic != g.topic {
			continue
		}
		for _, p := range t.Partitions {
			delete(m.leaders, p.Partition)
			if p.ErrorCode == 0 && p.Leader >= 0 && int(p.Leader) < len(w.brokers) {
				m.leaders[p.Partition], m.leaderEpochs[p.Partition] = int(p.Leader), p.LeaderEpoch
			}
		}
	}
	m.metadataStale = false
}

// onFetch is groupWorld.onFetch: buffer what was fetched of partitions
// still consumed, from the fetch offset on.
func (g *consumerGroupWorld) onFetch(w *World, m *consumerMember, in *consumerInflight, r *kmsg.FetchResponse) (backoff bool) {
	if in.span != m.span {
		return false
	}
	if r.ErrorCode != 0 {
		w.tracef("%s fetch error %s", m.name(), errorName(r.ErrorCode))
		return true
	}
	asked := in.request.(*kmsg.FetchRequest).Topics[0].Partitions
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			offset := int64(-1)
			for _, a := range asked {
				if a.Partition == rp.Partition {
					offset = a.FetchOffset
				}
			}
			if rt.Topic != g.topic || offset < 0 {
				w.violation("protocol", fmt.Sprintf("%s: fetch answered for %s-%d, never asked", m.name(), rt.Topic, rp.Partition))
				continue
			}
			if position, ok := m.positions[rp.Partition]; !ok || position != offset {
				continue // revoked, or taken again, since
			}
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				g.resetOffset(w, m, rp.Partition, offset)
				continue
			default:
				w.tracef("%s fetch %s-%d at %d: %s", m.name(), g.topic, rp.Partition, offset, errorName(rp.ErrorCode))
				backoff = true
				continue
			}
			records, err := decodeBatches(rp.RecordBatches)
			if err != nil {
				w.violation("served-corrupt-batch", fmt.Sprintf("%s: %s-%d from offset %d: %v", m.name(), g.topic, rp.Partition, offset, err))
				continue
			}
			fetched := 0
			for _, rec := range records {
				if rec.Offset >= offset {
					if len(m.buffer) == 0 {
						m.nextProcess = w.now + groupRecordProcessTime
					}
					m.buffer = append(m.buffer, fetchedRecord{partition: rp.Partition, offset: rec.Offset, value: rec.Value})
					fetched++
				}
			}
			if fetched > 0 {
				w.tracef("%s fetched %s-%d %d records from %d (high watermark %d)", m.name(), g.topic, rp.Partition, fetched, offset, rp.HighWatermark)
			}
		}
	}
	return backoff
}

// resetOffset: as groupWorld.resetOffset, never within the failure budget.
func (g *consumerGroupWorld) resetOffset(w *World, m *consumerMember, partition int32, offset int64) {
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: partition}
	g.check(w, "consumer-group-offset-out-of-range", fmt.Sprintf("%s's fetch of %s at %d was out of range (%d records must survive, %d acknowledged)",
		m.name(), tp, offset, w.mustCommit(tp), w.acknowledgedEnd[tp]))
	m.positions[partition] = 0
	m.spanEnd[partition] = 0
	g.acked[partition] = 0
	g.resets[partition]++
}

func (g *consumerGroupWorld) check(w *World, kind, detail string) {
	if !w.options.SpecChecksOff {
		w.violation(kind, detail)
	}
}

func (g *consumerGroupWorld) observeProcessed(w *World, m *consumerMember, r fetchedRecord) {
	g.processedRecords++
	end, ok := m.spanEnd[r.partition]
	switch {
	case !ok:
		g.check(w, "consumer-group-processing", fmt.Sprintf("%s processed %s-%d offset %d, a partition it was not consuming", m.name(), g.topic, r.partition, r.offset))
	case r.offset > end:
		g.check(w, "consumer-group-skip", fmt.Sprintf("%s processed %s-%d offset %d after %d: offsets %d-%d skipped", m.name(), g.topic, r.partition, r.offset, end-1, end, r.offset-1))
	case r.offset < end:
		g.check(w, "consumer-group-order", fmt.Sprintf("%s processed %s-%d offset %d again, or out of order, after %d", m.name(), g.topic, r.partition, r.offset, end-1))
	}
	m.spanEnd[r.partition] = r.offset + 1
	seen := g.processed[r.partition]
	if seen == nil {
		seen = map[int64]string{}
		g.processed[r.partition] = seen
	}
	if v, ok := seen[r.offset]; ok && v != r.value {
		g.check(w, "consumer-group-inconsistent-read", fmt.Sprintf("%s processed %q at %s-%d offset %d, where %q was processed before", m.name(), r.value, g.topic, r.partition, r.offset, v))
	}
	seen[r.offset] = r.value
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: r.partition}
	w.readEnd[tp] = max(w.readEnd[tp], r.offset+1)
}

func (g *consumerGroupWorld) observeCommit(w *World, m *consumerMember, req *kmsg.OffsetCommitRequest, spans map[int32]int64) {
	for _, rp := range req.Topics[0].Partitions {
		if end, ok := spans[rp.Partition]; !ok || rp.Offset > end {
			g.check(w, "consumer-group-commit-unprocessed", fmt.Sprintf("%s commits %s-%d at %d (epoch %d), but processed it only up to %d",
				m.name(), g.topic, rp.Partition, rp.Offset, req.Generation, end))
		}
	}
}

// checkFinal: the coordinator agrees that the group converged, and every
// offset below each partition's committed offset was processed by some
// member, as the final read holds it.
func (g *consumerGroupWorld) checkFinal(w *World, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	g.checkDescribe(w)
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		log := map[int64]string{}
		for _, r := range final[tp] {
			log[r.Offset] = r.Value
		}
		committed := g.acked[p]
		seen := g.processed[p]
		w.tracef("consumer group: %s committed at %d; %d offsets processed, %d records in the final read", tp, committed, len(seen), len(final[tp]))
		for offset := int64(0); offset < committed; offset++ {
			v, ok := seen[offset]
			if !ok {
				w.violation("consumer-group-skipped-record", fmt.Sprintf("%s offset %d (%q) is below the committed offset %d, and no member processed it",
					tp, offset, log[offset], committed))
				break
			}
			if logged, ok := log[offset]; !ok || logged != v {
				w.violation("consumer-group-inconsistent-read", fmt.Sprintf("a member processed %q at %s offset %d; the final read has %q", v, tp, offset, logged))
				break
			}
		}
	}
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

func (g *consumerGroupWorld) startLiveness(w *World) {
	for _, m := range g.members {
		g.mend(w, m)
		if m.down {
			m.incarnation++
			m.wakeAt = 0
			g.sleepUntil(w, m, w.now)
		}
	}
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
	for p := int32(0); p < g.partitions; p++ {
		if g.acked[p] < w.mustCommit(linearizability.TopicPartition{Topic: g.topic, Partition: p}) {
			return false
		}
	}
	return true
}

func (g *consumerGroupWorld) summary(w *World) string {
	var parts []string
	for _, m := range g.members {
		parts = append(parts, fmt.Sprintf("%s is in phase %s (epoch %d, owns %v, revoking %v, offsets to fetch %v, coordinator %d, committed since faults stopped: %v)",
			m.name(), consumerPhaseNames[m.phase], m.epoch, m.owned, m.revoking, m.needOffsets, m.coordinator, m.committedInLiveness))
	}
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		if end := w.mustCommit(tp); g.acked[p] < end {
			parts = append(parts, fmt.Sprintf("the group committed %s only up to %d of %d", tp, g.acked[p], end))
		}
	}
	return strings.Join(parts, "; ")
}

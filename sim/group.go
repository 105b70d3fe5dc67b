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
	"cairn/core/mutant"
	"cairn/linearizability"
	"cairn/netsim"
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
	// groupFaultGapMax bounds the time between a member's faults.
	groupFaultGapMax = 8 * time.Second
	// groupCutMin and groupCutMax bound how long a member stays cut off
	// from brokers; the longest outlast the session timeout.
	groupCutMin = 500 * time.Millisecond
	groupCutMax = 15 * time.Second
	// groupRecordProcessTime is how long a member takes to process one
	// record.
	groupRecordProcessTime = 2 * time.Millisecond
	// groupFetchWaitMillis is a member's fetch long-poll bound, short so
	// that heartbeats and commits are not held up behind it.
	groupFetchWaitMillis = 100
	// groupFetchBytesMax bounds what one fetch brings per partition.
	groupFetchBytesMax = 16 << 10
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
	// acked is the highest acknowledged commit per partition (lowered only
	// by an explicit reset); resets counts each partition's explicit
	// resets, so that a commit sent before one does not raise acked after.
	acked  map[int32]int64
	resets map[int32]int
	// processed holds, per partition, the value at every offset any member
	// processed (the union of their processing).
	processed map[int32]map[int64]string
	// processedRecords counts records processed, for the trace.
	processedRecords int
}

type ownerKey struct {
	generation int32
	partition  int32
}

// groupObserved is what the checker saw of one member, apart from the
// member's own state: per partition, the end of the span it processed
// since it took the partition (the next offset it must process), and the
// same for its previous generation.
type groupObserved struct {
	spanEnd         map[int32]int64
	previousSpanEnd map[int32]int64
}

// fetchedRecord is one record a member fetched and has yet to process.
type fetchedRecord struct {
	partition int32
	offset    int64
	value     string
}

// A member keeps two connections per broker, one per slot, as real
// clients keep the coordinator's connection apart from the fetch
// connections: a slow commit never holds a fetch response behind it.
const (
	slotGroup = iota
	slotFetch
	slots
)

type groupMember struct {
	index int
	id    netsim.NodeID
	// links are the member's connections, by slot and broker.
	links    [slots][]clientLink
	nextCorr int32
	// inflight is the one request to the coordinator (or FindCoordinator);
	// fetching is the one Fetch or Metadata request, on a slot of its own
	// as in a real client, so that consumption goes on while the
	// coordinator is unreachable.
	inflight    *groupInflight
	fetching    *groupInflight
	coordinator int
	findBroker  int
	memberID    string
	generation  int32
	leaderOf    []string // the members, when this member leads
	phase       groupPhase
	assignment  []int32
	// positions is, per owned partition, the offset after the last
	// record processed: what the member commits.
	positions map[int32]int64
	// buffer holds what was fetched and not yet processed, in log order
	// per partition; nextProcess is when its head is processed; span
	// counts assignments, so that a fetch answered after the assignment
	// changed is dropped.
	buffer      []fetchedRecord
	nextProcess time.Duration
	span        int
	// leaders and leaderEpochs are the group topic's partition leaders as
	// Metadata last named them; metadataStale asks for a refresh.
	leaders        map[int32]int
	leaderEpochs   map[int32]int32
	metadataStale  bool
	metadataBroker int
	fetchRound     int
	// revoke asks for a commit before rejoining (commit on revoke).
	revoke        bool
	nextHeartbeat time.Duration
	nextCommit    time.Duration
	nextFault     time.Duration
	// wakeAt is the member's earliest pending timer (0: none);
	// groupNotBefore and fetchNotBefore hold each slot back after an error
	// or a lost connection (its backoff).
	wakeAt         time.Duration
	groupNotBefore time.Duration
	fetchNotBefore time.Duration
	// down is set while the member is crashed or paused; incarnation
	// makes the wakes of an earlier life stale.
	down        bool
	incarnation int
	// cut lists the directions of the member's current cut (netsim.Cut);
	// cutSerial makes the mend of an earlier cut stale.
	cut       [][2]netsim.NodeID
	cutSerial int
	// cutInGeneration says the member was cut off since it last joined;
	// processedSinceCut counts what it processed since then.
	cutInGeneration   bool
	processedSinceCut int
	// committedInLiveness says a commit was acknowledged since faults
	// stopped.
	committedInLiveness bool
	// previous is the member's last generation before its current one and
	// what it had processed then; zombie asks to send, once, a commit of
	// it, as a commit delayed inside a client (a paused thread) would
	// arrive.
	previous          int32
	previousPositions map[int32]int64
	zombie            bool
	observed          groupObserved
}

type groupInflight struct {
	broker      int
	correlation int32
	request     kmsg.Request
	sent        time.Duration
	deadline    time.Duration
	// acked is the highest acknowledged commit per partition when the
	// request was sent, and resets the partitions' explicit resets then.
	acked  map[int32]int64
	resets map[int32]int
	// zombie marks a commit of the member's previous generation: its
	// answer changes nothing in the member.
	zombie bool
	// span is the member's span when a fetch was sent.
	span int
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
		owners: map[ownerKey]int{}, syncedAt: map[int32]time.Duration{}, acked: map[int32]int64{}, resets: map[int32]int{},
		processed: map[int32]map[int64]string{}}
	w.groups = g
	for i := 0; i < w.groupMembers; i++ {
		m := &groupMember{index: i, id: netsim.NodeID(groupNodeBase + i),
			coordinator: -1, findBroker: i % len(w.brokers), positions: map[int32]int64{},
			leaders: map[int32]int{}, leaderEpochs: map[int32]int32{}, metadataStale: true, metadataBroker: i % len(w.brokers),
			observed: groupObserved{spanEnd: map[int32]int64{}, previousSpanEnd: map[int32]int64{}}}
		for slot := range m.links {
			m.links[slot] = make([]clientLink, len(w.brokers))
			for j := range m.links[slot] {
				m.links[slot][j].conn = -1
			}
		}
		m.nextFault = w.now + time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond
		g.members = append(g.members, m)
		g.sleepUntil(w, m, w.now+time.Duration(i+1)*time.Millisecond)
	}
}

// streamGroups is the group workload's random stream.
const streamGroups = streamScenarioExtra + 100

// sleepUntil sets the member's timer for at, unless one is already set
// no later (the member keeps one pending timer, not one per call).
func (g *groupWorld) sleepUntil(w *World, m *groupMember, at time.Duration) {
	if m.wakeAt > w.now && m.wakeAt <= at {
		return
	}
	m.wakeAt = max(at, w.now)
	w.schedule(m.wakeAt, eventGroupWake, m.index, m.incarnation, nil)
}

func (g *groupWorld) wake(w *World, index, incarnation int) {
	m := g.members[index]
	if incarnation != m.incarnation {
		return
	}
	if m.down {
		m.down = false
		m.nextProcess = max(m.nextProcess, w.now)
		w.tracef("%s resumes (%s, generation %d)", m.name(), groupPhaseNames[m.phase], m.generation)
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
func (g *groupWorld) fault(w *World, m *groupMember) {
	m.nextFault = w.now + time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond
	down := time.Duration(500+g.rng.IntN(10_000)) * time.Millisecond
	switch g.rng.IntN(7) {
	case 0, 1: // crash: everything is forgotten, the connections drop
		w.tracef("%s crashes for %v", m.name(), down)
		for slot := range m.links {
			for b := range m.links[slot] {
				g.disconnect(w, m, slot, b)
			}
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
	case 5, 6: // cut off from some or all brokers, the process running on
		g.cutOff(w, m)
		g.step(w, m)
	}
}

// cutOff cuts the member off from every broker, from its coordinator
// alone (it still reaches the partitions' leaders, so it goes on
// consuming while its session expires), or from a random few (the
// coordinator among them one time in two) — a third each — both ways or
// one way, for groupCutMin to groupCutMax. It replaces the member's
// current cut, and the member's next fault waits for this one to end, so
// that the member lives through the cut and its aftermath.
func (g *groupWorld) cutOff(w *World, m *groupMember) {
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
	ways := g.rng.IntN(3) // 0: both ways; 1: only what the member sends; 2: only what it receives
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
	m.cutInGeneration, m.processedSinceCut = true, 0
	m.nextFault = max(m.nextFault, w.now+d+time.Duration(g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond)
	w.tracef("%s cut off from brokers %v (%s) for %v (%s, generation %d, coordinator %d)", m.name(), brokers,
		[...]string{"both ways", "outbound", "inbound"}[ways], d, groupPhaseNames[m.phase], m.generation, m.coordinator)
	w.schedule(w.now+d, eventGroupMend, m.index, m.cutSerial, nil)
}

// mendCut ends the member's cut numbered serial, if it is still the
// current one.
func (g *groupWorld) mendCut(w *World, index, serial int) {
	m := g.members[index]
	if serial != m.cutSerial || len(m.cut) == 0 {
		return
	}
	w.tracef("%s is reachable again", m.name())
	g.mend(w, m)
}

func (g *groupWorld) mend(w *World, m *groupMember) {
	for _, c := range m.cut {
		w.net.Mend(w.now, c[0], c[1])
	}
	m.cut = m.cut[:0]
}

func (g *groupWorld) rest(w *World, m *groupMember, d time.Duration) {
	m.down = true
	m.inflight, m.fetching = nil, nil
	m.incarnation++
	m.wakeAt = 0
	g.sleepUntil(w, m, w.now+d)
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

func (g *groupWorld) disconnect(w *World, m *groupMember, slot, broker int) {
	if m.links[slot][broker].state == connUp {
		w.net.Close(w.now, m.links[slot][broker].conn, m.id)
	}
	m.links[slot][broker] = clientLink{conn: -1}
	g.lostConnection(m, slot, broker)
}

// lostConnection forgets the request in flight on a connection that is
// gone.
func (g *groupWorld) lostConnection(m *groupMember, slot, broker int) {
	switch slot {
	case slotGroup:
		if m.inflight != nil && m.inflight.broker == broker {
			m.inflight = nil
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

func (g *groupWorld) link(w *World, m *groupMember, slot, broker int) bool {
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

func (g *groupWorld) onNetwork(w *World, ev netsim.Event) {
	m := g.members[int(ev.To)-groupNodeBase]
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

// send puts req in flight to broker, in the coordinator's slot or (fetch)
// the consumption slot.
func (g *groupWorld) send(w *World, m *groupMember, broker int, req kmsg.Request, fetch bool) *groupInflight {
	m.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, m.nextCorr)
	in := &groupInflight{broker: broker, correlation: m.nextCorr, request: req, sent: w.now,
		deadline: w.now + w.options.RequestTimeout, span: m.span}
	if fetch {
		m.fetching = in
	} else {
		in.acked = maps(g.acked)
		in.resets = make(map[int32]int, len(g.resets))
		for p, n := range g.resets {
			in.resets[p] = n
		}
		m.inflight = in
	}
	slot := slotGroup
	if fetch {
		slot = slotFetch
	}
	w.net.Send(w.now, m.links[slot][broker].conn, m.id, frame[4:])
	w.schedule(in.deadline, eventGroupWake, m.index, m.incarnation, nil)
	return in
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

// step processes what is due, then sends the member's next requests.
func (g *groupWorld) step(w *World, m *groupMember) {
	if m.down || m.phase == phaseDone {
		return
	}
	g.process(w, m)
	g.stepGroup(w, m)
	g.stepFetch(w, m)
	if len(m.buffer) > 0 {
		g.sleepUntil(w, m, m.nextProcess)
	}
}

// process handles the buffered records whose processing time has come,
// in order.
func (g *groupWorld) process(w *World, m *groupMember) {
	for len(m.buffer) > 0 && m.nextProcess <= w.now {
		r := m.buffer[0]
		m.buffer = m.buffer[1:]
		m.positions[r.partition] = r.offset + 1
		g.observeProcessed(w, m, r)
		if m.cutInGeneration {
			m.processedSinceCut++
		}
		m.nextProcess += groupRecordProcessTime
	}
	if len(m.buffer) == 0 {
		m.buffer = nil
	}
}

// stepGroup sends the member's next request to the coordinator.
func (g *groupWorld) stepGroup(w *World, m *groupMember) {
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
		req.CoordinatorKeys = []string{groupID}
		g.send(w, m, broker, req, false)
		return
	}
	if !g.link(w, m, slotGroup, m.coordinator) {
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
		g.observeCommit(w, m, req, m.observed.previousSpanEnd)
		g.send(w, m, m.coordinator, req, false).zombie = true
		return
	}
	switch m.phase {
	case phaseFind, phaseJoin:
		m.phase = phaseJoin
		g.send(w, m, m.coordinator, g.joinRequest(m), false)
	case phaseSync:
		g.send(w, m, m.coordinator, g.syncRequest(m), false)
	case phaseOffsets:
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(offsetFetchVersion)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = groupID
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = g.topic, slices.Clone(m.assignment)
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		g.send(w, m, m.coordinator, req, false)
	case phaseLeave:
		req := kmsg.NewPtrLeaveGroupRequest()
		req.SetVersion(leaveGroupVersion)
		req.Group = groupID
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.memberID
		req.Members = append(req.Members, lm)
		g.send(w, m, m.coordinator, req, false)
	case phaseStable:
		switch {
		case m.revoke || w.now >= m.nextCommit:
			req := g.commitOf(m.memberID, m.generation, g.committable(m))
			g.observeCommit(w, m, req, m.observed.spanEnd)
			g.send(w, m, m.coordinator, req, false)
		case w.now >= m.nextHeartbeat:
			req := kmsg.NewPtrHeartbeatRequest()
			req.SetVersion(heartbeatVersion)
			req.Group, req.MemberID, req.Generation = groupID, m.memberID, m.generation
			g.send(w, m, m.coordinator, req, false)
		default:
			g.sleepUntil(w, m, min(m.nextCommit, m.nextHeartbeat))
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

// commitOf is an OffsetCommit of the given positions, in partition order.
func (g *groupWorld) commitOf(memberID string, generation int32, positions map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(offsetCommitVersion)
	req.Group, req.MemberID, req.Generation = groupID, memberID, generation
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

// stepFetch sends the member's next Fetch (or the Metadata it needs
// first) once it has processed everything fetched before: the partitions
// it owns that one broker leads, brokers taking turns. It fetches while
// stable in the generation it believes in, whether or not the coordinator
// is reachable, as a real consumer goes on polling until it hears it is
// fenced.
func (g *groupWorld) stepFetch(w *World, m *groupMember) {
	if m.fetching != nil || m.phase != phaseStable || len(m.assignment) == 0 || len(m.buffer) > 0 {
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
	for _, p := range m.assignment {
		if _, ok := m.leaders[p]; !ok {
			// A partition without a known leader asks for fresh
			// metadata next round; the others are fetched this one, so
			// metadata and fetches take turns while it has none.
			m.metadataStale = true
		}
	}
	for k := 0; k < brokers; k++ {
		broker := (m.fetchRound + k) % brokers
		req := g.fetchRequest(m, broker)
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
	m.metadataStale = true // no owned partition has a known leader
	m.fetchNotBefore = w.now + errorBackoff
	g.sleepUntil(w, m, m.fetchNotBefore)
}

func (g *groupWorld) fetchRequest(m *groupMember, broker int) *kmsg.FetchRequest {
	var req *kmsg.FetchRequest
	for _, p := range m.assignment {
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

func (g *groupWorld) onResponse(w *World, m *groupMember, slot, broker int, payload []byte) {
	if len(payload) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(payload))
	if corr > m.nextCorr {
		w.violation("protocol", fmt.Sprintf("%s: response correlation %d, never sent", m.name(), corr))
		return
	}
	var in *groupInflight
	switch {
	case slot == slotGroup && m.inflight != nil && m.inflight.broker == broker && m.inflight.correlation == corr:
		in, m.inflight = m.inflight, nil
	case slot == slotFetch && m.fetching != nil && m.fetching.broker == broker && m.fetching.correlation == corr:
		in, m.fetching = m.fetching, nil
	default:
		return // the answer to a request given up on (a timeout, a pause)
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
// or start over as a new member. Losing the generation ends consumption
// of what it assigned.
func (g *groupWorld) onError(w *World, m *groupMember, code int16) {
	w.tracef("%s %s: %s", m.name(), groupPhaseNames[m.phase], errorName(code))
	fenced := code == kerr.IllegalGeneration.Code || code == kerr.UnknownMemberID.Code || code == kerr.FencedInstanceID.Code
	if fenced && m.cutInGeneration && m.phase == phaseStable {
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
	g.dropAssignment(m)
	m.generation = r.Generation
	m.cutInGeneration = false
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

func (g *groupWorld) onSync(w *World, m *groupMember, in *groupInflight, r *kmsg.SyncGroupResponse) int16 {
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
		}
	}
	for _, t := range rg.Topics {
		for _, p := range t.Partitions {
			committed := max(p.Offset, 0)
			if acked, ok := in.acked[p.Partition]; ok && committed < acked {
				w.violation("group-offset-lost", fmt.Sprintf("%s took partition %d at committed offset %d, but %d was acknowledged before it asked",
					m.name(), p.Partition, p.Offset, acked))
			}
			m.positions[p.Partition] = committed
			m.observed.spanEnd[p.Partition] = committed
			w.tracef("%s starts partition %d at %d (committed %d)", m.name(), p.Partition, committed, p.Offset)
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
			if in.resets[p.Partition] == g.resets[p.Partition] {
				g.acked[p.Partition] = max(g.acked[p.Partition], offset)
			}
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
		g.dropAssignment(m)
	}
	return 0
}
func (g *groupWorld) onMetadata(w *World, m *groupMember, r *kmsg.MetadataResponse) {
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

// onFetch buffers the records fetched for processing, skipping those
// before the fetch offset (a batch may begin before it), as clients do.
// It reports whether the member should refresh metadata and back off.
func (g *groupWorld) onFetch(w *World, m *groupMember, in *groupInflight, r *kmsg.FetchResponse) (backoff bool) {
	if in.span != m.span {
		return false // fetched for an assignment since given up
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
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				g.resetOffset(w, m, rp.Partition, offset)
				continue
			default:
				// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
				// UNKNOWN_LEADER_EPOCH, a storage error: ask who leads.
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

// resetOffset is auto.offset.reset=earliest after OFFSET_OUT_OF_RANGE: an
// explicit reset, which may move the partition's committed offset back.
// Within the failure budget it never happens: a member fetches from where
// the group committed or from where it processed, and either is at most
// what consumers read (mustCommit), which the partition's leader must
// hold. So the checker reports it.
func (g *groupWorld) resetOffset(w *World, m *groupMember, partition int32, offset int64) {
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: partition}
	g.check(w, "group-offset-out-of-range", fmt.Sprintf("%s's fetch of %s at %d was out of range (%d records must survive, %d acknowledged): the group's offset points past the log, or committed records are gone",
		m.name(), tp, offset, w.mustCommit(tp), w.acknowledgedEnd[tp]))
	w.tracef("%s %s offset %d out of range: explicit reset to the earliest offset", m.name(), tp, offset)
	m.positions[partition] = 0
	m.observed.spanEnd[partition] = 0
	g.acked[partition] = 0
	g.resets[partition]++
}

// check reports a violation found by a check of the member's own
// consumption as it happens; Options.SpecChecksOff switches these off, as
// it does the per-event predicates, to show what the end-of-run check of
// the group's coverage finds on its own.
func (g *groupWorld) check(w *World, kind, detail string) {
	if !w.options.SpecChecksOff {
		w.violation(kind, detail)
	}
}

// observeProcessed checks one record a member processes: the next offset
// of its span, and the same record every member and the final read see
// there.
func (g *groupWorld) observeProcessed(w *World, m *groupMember, r fetchedRecord) {
	g.processedRecords++
	end, ok := m.observed.spanEnd[r.partition]
	switch {
	case !ok:
		g.check(w, "group-processing", fmt.Sprintf("%s processed %s-%d offset %d, a partition it was not consuming", m.name(), g.topic, r.partition, r.offset))
	case r.offset > end:
		g.check(w, "group-skip", fmt.Sprintf("%s processed %s-%d offset %d after %d: offsets %d-%d skipped", m.name(), g.topic, r.partition, r.offset, end-1, end, r.offset-1))
	case r.offset < end:
		g.check(w, "group-order", fmt.Sprintf("%s processed %s-%d offset %d again, or out of order, after %d", m.name(), g.topic, r.partition, r.offset, end-1))
	}
	m.observed.spanEnd[r.partition] = r.offset + 1
	seen := g.processed[r.partition]
	if seen == nil {
		seen = map[int64]string{}
		g.processed[r.partition] = seen
	}
	if v, ok := seen[r.offset]; ok && v != r.value {
		g.check(w, "group-inconsistent-read", fmt.Sprintf("%s processed %q at %s-%d offset %d, where %q was processed before", m.name(), r.value, g.topic, r.partition, r.offset, v))
	}
	seen[r.offset] = r.value
	// What a member read is committed, as for the scenario's consumers.
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: r.partition}
	w.readEnd[tp] = max(w.readEnd[tp], r.offset+1)
}

// observeCommit checks, as a commit is sent, that each offset is at most
// the end of what the member processed of that partition in the span the
// commit is of (spans).
func (g *groupWorld) observeCommit(w *World, m *groupMember, req *kmsg.OffsetCommitRequest, spans map[int32]int64) {
	for _, rp := range req.Topics[0].Partitions {
		if end, ok := spans[rp.Partition]; !ok || rp.Offset > end {
			g.check(w, "group-commit-unprocessed", fmt.Sprintf("%s commits %s-%d at %d (generation %d), but processed it only up to %d",
				m.name(), g.topic, rp.Partition, rp.Offset, req.Generation, end))
		}
	}
}

// checkFinal runs at the end of a run: for each partition, every offset
// below the final committed offset was processed by some member, and what
// they processed is what the final read holds there.
func (g *groupWorld) checkFinal(w *World, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		log := map[int64]string{}
		for _, r := range final[tp] {
			log[r.Offset] = r.Value
		}
		committed := g.acked[p]
		seen := g.processed[p]
		w.tracef("group: %s committed at %d; %d offsets processed, %d records in the final read", tp, committed, len(seen), len(final[tp]))
		for offset := int64(0); offset < committed; offset++ {
			v, ok := seen[offset]
			if !ok {
				w.violation("group-skipped-record", fmt.Sprintf("%s offset %d (%q) is below the committed offset %d, and no member processed it",
					tp, offset, log[offset], committed))
				break
			}
			if logged, ok := log[offset]; !ok || logged != v {
				w.violation("group-inconsistent-read", fmt.Sprintf("a member processed %q at %s offset %d; the final read has %q", v, tp, offset, logged))
				break
			}
		}
	}
}

// startLiveness ends the members' faults: cuts mend, and a paused or
// crashed member comes back at once.
func (g *groupWorld) startLiveness(w *World) {
	for _, m := range g.members {
		g.mend(w, m)
		if m.down {
			m.incarnation++
			m.wakeAt = 0
			g.sleepUntil(w, m, w.now)
		}
	}
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
	for p := int32(0); p < g.partitions; p++ {
		if g.acked[p] < w.mustCommit(linearizability.TopicPartition{Topic: g.topic, Partition: p}) {
			return false
		}
	}
	return true
}

func (g *groupWorld) summary(w *World) string {
	var parts []string
	for _, m := range g.members {
		if m.phase != phaseStable || !m.committedInLiveness {
			parts = append(parts, fmt.Sprintf("%s is in phase %s (generation %d, coordinator %d, committed since faults stopped: %v)",
				m.name(), groupPhaseNames[m.phase], m.generation, m.coordinator, m.committedInLiveness))
		}
	}
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		if end := w.mustCommit(tp); g.acked[p] < end {
			parts = append(parts, fmt.Sprintf("the group committed %s only up to %d of %d", tp, g.acked[p], end))
		}
	}
	return strings.Join(parts, "; ")
}

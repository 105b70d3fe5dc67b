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
	"cairn/linearizability"
	"cairn/netsim"
	"cairn/replica/transport"
)

// The member machinery the two consumer group workloads share: the
// classic protocol's (group.go: JoinGroup, SyncGroup, Heartbeat) and
// KIP-848's (consumer_group.go: ConsumerGroupHeartbeat). Each workload's
// member embeds a member and each workload embeds a memberWorld; what is
// here does not depend on the protocol:
//
//   - the member's timer (sleepUntil, wake), its faults' schedule, its
//     rests (a crash or a pause) and its network cuts (netsim.Cut and
//     Mend, cutOff);
//   - its connections, one per slot and broker (link, disconnect,
//     onNetwork), its requests, one in flight per slot (send), and the
//     decoding of their answers (onResponse);
//   - __consumer_offsets (createOffsetsTopic), and finding the coordinator
//     (coordinatorReady, onFindCoordinator);
//   - consumption: Metadata for the partitions' leaders and their leader
//     epochs, Fetch from the leaders (KIP-320; NOT_LEADER_OR_FOLLOWER and
//     the epoch errors refresh metadata, OFFSET_OUT_OF_RANGE resets to the
//     earliest offset), and processing in order at groupRecordProcessTime
//     a record (stepFetch, onFetch, process);
//   - commits (commitOf, ackCommit) and the start of a partition at its
//     committed offset (startPartition);
//   - the checks both workloads run on processing and commits
//     (observeProcessed, observeCommit, ackCommit, startPartition), the
//     end-of-run coverage check (checkCoverage) and the liveness
//     condition on committed offsets (committedAll).
//
// What is protocol-specific reaches the workload through memberProtocol.

// Settings of both workloads' members.
const (
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
	// findCoordinatorVersion is the highest the brokers advertise.
	findCoordinatorVersion = 4
)

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
	controller.node.HandleFrame(w.wallTime(), directConn, transport.Payload(frame))
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

// memberSettings are what tells the two workloads' members apart in the
// shared machinery.
type memberSettings struct {
	// prefix begins member names (g0, cg0); label names the group in the
	// trace; kind begins the names of violations; epochWord names what a
	// commit carries (a generation, a member epoch).
	prefix, label, kind, epochWord string
	groupID                        string
	commitVersion                  int16
	nodeBase                       int
	wakeEvent, mendEvent           eventKind
	// cutFaultGapMin is added to the random wait after a cut before the
	// member's next fault (the workloads were written with 0 and 1ms).
	cutFaultGapMin time.Duration
	// fetchAtPosition drops what a fetch brought of a partition no longer
	// consumed at the offset fetched (the consumer protocol revokes and
	// gives partitions one at a time, without a new span).
	fetchAtPosition bool
}

// memberProtocol is what a workload adds to the shared machinery.
type memberProtocol interface {
	// stepMember processes what is due and sends the member's next
	// requests.
	stepMember(w *World, m *member)
	// faultMember crashes, pauses, cuts off or makes the member leave.
	faultMember(w *World, m *member)
	// memberState is the member's phase and generation or epoch, for the
	// trace.
	memberState(m *member) string
	// groupRequestLost says the request in flight to the coordinator is
	// gone with its connection.
	groupRequestLost(m *member)
	// onGroupResponse handles the coordinator's answer to in.
	onGroupResponse(w *World, m *member, in *memberRequest, resp kmsg.Response)
	// checkOutOfRange reports a fetch answered OFFSET_OUT_OF_RANGE, before
	// the explicit reset.
	checkOutOfRange(w *World, m *member, partition int32, offset int64)
}

// memberWorld is what the workloads share of their world: the group's
// topic, the random stream, the members, and the checker's records of
// commits and processing.
type memberWorld struct {
	memberSettings
	protocol   memberProtocol
	topic      string
	partitions int32
	rng        *rand.Rand
	// byIndex holds the members by index (each workload keeps them too,
	// as its own type).
	byIndex []*member
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

func newMemberWorld(w *World, settings memberSettings, stream uint64) *memberWorld {
	t := w.options.Topics[0]
	return &memberWorld{memberSettings: settings, topic: t.Name, partitions: t.Partitions, rng: newStream(w.options.Seed, stream),
		acked: map[int32]int64{}, resets: map[int32]int{}, processed: map[int32]map[int64]string{}}
}

// groupObserved is what the checker saw of one member, apart from the
// member's own state: per partition, the end of the span it processed
// since it took the partition (the next offset it must process), and the
// same for its previous generation or membership.
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

// member is what the members of both workloads have.
type member struct {
	index  int
	id     netsim.NodeID
	prefix string
	// links are the member's connections, by slot and broker.
	links    [slots][]clientLink
	nextCorr int32
	// inflight is the one request to the coordinator (or FindCoordinator);
	// fetching is the one Fetch or Metadata request, on a slot of its own
	// as in a real client, so that consumption goes on while the
	// coordinator is unreachable.
	inflight    *memberRequest
	fetching    *memberRequest
	coordinator int
	findBroker  int
	memberID    string
	// positions is, per partition consumed, the offset after the last
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
	nextHeartbeat  time.Duration
	nextCommit     time.Duration
	nextFault      time.Duration
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
	// cutSinceJoin says the member was cut off since it last joined (its
	// generation or membership); processedSinceCut counts what it
	// processed since then.
	cutSinceJoin      bool
	processedSinceCut int
	// committedInLiveness says a commit was acknowledged since faults
	// stopped.
	committedInLiveness bool
	// previousPositions is what the member had processed in its previous
	// generation or membership; zombie asks to send, once, a commit of it,
	// as a commit delayed inside a client (a paused thread) would arrive.
	previousPositions map[int32]int64
	zombie            bool
	observed          groupObserved
}

// memberRequest is a request in flight.
type memberRequest struct {
	broker      int
	correlation int32
	request     kmsg.Request
	sent        time.Duration
	deadline    time.Duration
	// acked is the highest acknowledged commit per partition when the
	// request was sent, and resets the partitions' explicit resets then.
	acked  map[int32]int64
	resets map[int32]int
	// zombie marks a commit of the member's previous generation or
	// membership: its answer changes nothing in the member.
	zombie bool
	// span is the member's span when a fetch was sent.
	span int
	// revoke marks a consumer-protocol commit before a revocation, and
	// holding is what a consumer-protocol member owned when it sent the
	// request.
	revoke  bool
	holding []int32
}

func (m *member) name() string { return m.prefix + strconv.Itoa(m.index) }

// addMember sets up m as member index, without its first fault.
func (g *memberWorld) addMember(w *World, m *member, index int) {
	*m = member{index: index, id: netsim.NodeID(g.nodeBase + index), prefix: g.prefix,
		coordinator: -1, findBroker: index % len(w.brokers), positions: map[int32]int64{},
		leaders: map[int32]int{}, leaderEpochs: map[int32]int32{}, metadataStale: true, metadataBroker: index % len(w.brokers),
		observed: groupObserved{spanEnd: map[int32]int64{}, previousSpanEnd: map[int32]int64{}}}
	for slot := range m.links {
		m.links[slot] = make([]clientLink, len(w.brokers))
		for j := range m.links[slot] {
			m.links[slot][j].conn = -1
		}
	}
	g.byIndex = append(g.byIndex, m)
}

// faultGap is a random time to a member's next fault.
func (g *memberWorld) faultGap() time.Duration {
	return time.Duration(1+g.rng.IntN(int(groupFaultGapMax/time.Millisecond))) * time.Millisecond
}

// sleepUntil sets the member's timer for at, unless one is already set
// no later (the member keeps one pending timer, not one per call).
func (g *memberWorld) sleepUntil(w *World, m *member, at time.Duration) {
	if m.wakeAt > w.now && m.wakeAt <= at {
		return
	}
	m.wakeAt = max(at, w.now)
	w.schedule(m.wakeAt, g.wakeEvent, m.index, m.incarnation, nil)
}

// wake runs the member's timer: it resumes a rested member, runs a fault
// that is due, gives up on requests past their deadline, and steps.
func (g *memberWorld) wake(w *World, index, incarnation int) {
	m := g.byIndex[index]
	if incarnation != m.incarnation {
		return
	}
	if m.down {
		m.down = false
		m.nextProcess = max(m.nextProcess, w.now)
		w.tracef("%s resumes (%s)", m.name(), g.protocol.memberState(m))
	}
	if !w.liveness && w.now >= m.nextFault {
		g.protocol.faultMember(w, m)
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
	g.protocol.stepMember(w, m)
}

// cutOff cuts the member off from every broker, from its coordinator
// alone (it still reaches the partitions' leaders, so it goes on
// consuming while its session expires), or from a random few (the
// coordinator among them one time in two) — a third each — both ways or
// one way, for groupCutMin to groupCutMax. It replaces the member's
// current cut, and the member's next fault waits for this one to end, so
// that the member lives through the cut and its aftermath.
func (g *memberWorld) cutOff(w *World, m *member) {
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
	m.cutSinceJoin, m.processedSinceCut = true, 0
	m.nextFault = max(m.nextFault, w.now+d+g.cutFaultGapMin+time.Duration(g.rng.IntN(int(groupFaultGapMax/time.Millisecond)))*time.Millisecond)
	w.tracef("%s cut off from brokers %v (%s) for %v (%s, coordinator %d)", m.name(), brokers,
		[...]string{"both ways", "outbound", "inbound"}[ways], d, g.protocol.memberState(m), m.coordinator)
	w.schedule(w.now+d, g.mendEvent, m.index, m.cutSerial, nil)
}

// mendCut ends the member's cut numbered serial, if it is still the
// current one.
func (g *memberWorld) mendCut(w *World, index, serial int) {
	m := g.byIndex[index]
	if serial != m.cutSerial || len(m.cut) == 0 {
		return
	}
	w.tracef("%s is reachable again", m.name())
	g.mend(w, m)
}

func (g *memberWorld) mend(w *World, m *member) {
	for _, c := range m.cut {
		w.net.Mend(w.now, c[0], c[1])
	}
	m.cut = m.cut[:0]
}

// rest takes the member down for d (a crash or a pause): its requests
// are given up and the timers of its earlier life are stale.
func (g *memberWorld) rest(w *World, m *member, d time.Duration) {
	m.down = true
	m.inflight, m.fetching = nil, nil
	m.incarnation++
	m.wakeAt = 0
	g.sleepUntil(w, m, w.now+d)
}

// startLiveness ends the members' faults: cuts mend, and a paused or
// crashed member comes back at once.
func (g *memberWorld) startLiveness(w *World) {
	for _, m := range g.byIndex {
		g.mend(w, m)
		if m.down {
			m.incarnation++
			m.wakeAt = 0
			g.sleepUntil(w, m, w.now)
		}
	}
}

// disconnectAll drops all the member's connections (a crash).
func (g *memberWorld) disconnectAll(w *World, m *member) {
	for slot := range m.links {
		for b := range m.links[slot] {
			g.disconnect(w, m, slot, b)
		}
	}
}

func (g *memberWorld) disconnect(w *World, m *member, slot, broker int) {
	if m.links[slot][broker].state == connUp {
		w.net.Close(w.now, m.links[slot][broker].conn, m.id)
	}
	m.links[slot][broker] = clientLink{conn: -1}
	g.lostConnection(m, slot, broker)
}

// lostConnection forgets the request in flight on a connection that is
// gone.
func (g *memberWorld) lostConnection(m *member, slot, broker int) {
	switch slot {
	case slotGroup:
		if m.inflight != nil && m.inflight.broker == broker {
			m.inflight = nil
			g.protocol.groupRequestLost(m)
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

// link reports whether the member's connection to broker in slot is up,
// dialing it if it is idle.
func (g *memberWorld) link(w *World, m *member, slot, broker int) bool {
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

func (g *memberWorld) onNetwork(w *World, ev netsim.Event) {
	m := g.byIndex[int(ev.To)-g.nodeBase]
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
			g.protocol.stepMember(w, m)
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
			g.protocol.stepMember(w, m)
		}
	case netsim.EventDeliver:
		if !m.down {
			g.onResponse(w, m, slot, broker, ev.Payload)
		}
	}
}

// send puts req in flight to broker, in the coordinator's slot or (fetch)
// the consumption slot.
func (g *memberWorld) send(w *World, m *member, broker int, req kmsg.Request, fetch bool) *memberRequest {
	m.nextCorr++
	frame := w.formatter.AppendRequest(nil, req, m.nextCorr)
	in := &memberRequest{broker: broker, correlation: m.nextCorr, request: req, sent: w.now,
		deadline: w.now + w.options.RequestTimeout, span: m.span}
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
	w.net.Send(w.now, m.links[slot][broker].conn, m.id, transport.Payload(frame))
	w.schedule(in.deadline, g.wakeEvent, m.index, m.incarnation, nil)
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

// onResponse matches a response to the request in flight on its slot,
// decodes it, and handles Metadata and Fetch; the coordinator's answers
// go to the workload.
func (g *memberWorld) onResponse(w *World, m *member, slot, broker int, payload []byte) {
	if len(payload) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(payload))
	if corr > m.nextCorr {
		w.violation("protocol", fmt.Sprintf("%s: response correlation %d, never sent", m.name(), corr))
		return
	}
	var in *memberRequest
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
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		g.onMetadata(w, m, r)
		g.protocol.stepMember(w, m)
	case *kmsg.FetchResponse:
		if g.onFetch(w, m, in, r) {
			m.metadataStale = true
			m.fetchNotBefore = w.now + errorBackoff
		}
		g.protocol.stepMember(w, m)
	default:
		g.protocol.onGroupResponse(w, m, in, resp)
	}
}

// process handles the buffered records whose processing time has come,
// in order.
func (g *memberWorld) process(w *World, m *member) {
	for len(m.buffer) > 0 && m.nextProcess <= w.now {
		r := m.buffer[0]
		m.buffer = m.buffer[1:]
		m.positions[r.partition] = r.offset + 1
		g.observeProcessed(w, m, r)
		if m.cutSinceJoin {
			m.processedSinceCut++
		}
		m.nextProcess += groupRecordProcessTime
	}
	if len(m.buffer) == 0 {
		m.buffer = nil
	}
}

// coordinatorReady reports whether the member can send its coordinator a
// request now: none is in flight, its backoff is over, it knows the
// coordinator (else it sends FindCoordinator) and its connection is up.
func (g *memberWorld) coordinatorReady(w *World, m *member) bool {
	if m.inflight != nil {
		return false
	}
	if w.now < m.groupNotBefore {
		g.sleepUntil(w, m, m.groupNotBefore)
		return false
	}
	if m.coordinator < 0 {
		broker := m.findBroker
		if !g.link(w, m, slotGroup, broker) {
			if m.links[slotGroup][broker].state == connIdle {
				m.findBroker = (broker + 1) % len(w.brokers)
			}
			return false
		}
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(findCoordinatorVersion)
		req.CoordinatorKeys = []string{g.groupID}
		g.send(w, m, broker, req, false)
		return false
	}
	return g.link(w, m, slotGroup, m.coordinator)
}

// onFindCoordinator takes the coordinator FindCoordinator named.
func (g *memberWorld) onFindCoordinator(w *World, m *member, r *kmsg.FindCoordinatorResponse) int16 {
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
	return 0
}

// commitOf is an OffsetCommit of the given positions, in partition order.
func (g *memberWorld) commitOf(memberID string, generation int32, positions map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(g.commitVersion)
	req.Group, req.MemberID, req.Generation = g.groupID, memberID, generation
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

// ackCommit checks the answer to an OffsetCommit and records what it
// acknowledged: stale (the workload's check) runs on each partition
// acknowledged, then no acknowledged commit may be below one acknowledged
// before it was sent. It returns the last partition error.
func (g *memberWorld) ackCommit(w *World, m *member, in *memberRequest, r *kmsg.OffsetCommitResponse, stale func(partition int32, offset int64)) int16 {
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
			stale(p.Partition, offset)
			if acked, ok := in.acked[p.Partition]; ok && offset < acked {
				w.violation(g.kind+"-offset-backwards", fmt.Sprintf("%s's commit of partition %d at %d was acknowledged, below %d acknowledged before it was sent",
					m.name(), p.Partition, offset, acked))
			}
			if in.resets[p.Partition] == g.resets[p.Partition] {
				g.acked[p.Partition] = max(g.acked[p.Partition], offset)
			}
		}
	}
	return code
}

// offsetFetchError is the error of an OffsetFetch answer, if any.
func offsetFetchError(r *kmsg.OffsetFetchResponse) int16 {
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
	return 0
}

// startPartition starts consuming a partition at its committed offset
// (the earliest offset where none is), which must hold every commit
// acknowledged before the OffsetFetch was sent.
func (g *memberWorld) startPartition(w *World, m *member, in *memberRequest, p kmsg.OffsetFetchResponseGroupTopicPartition) {
	committed := max(p.Offset, 0)
	if acked, ok := in.acked[p.Partition]; ok && committed < acked {
		w.violation(g.kind+"-offset-lost", fmt.Sprintf("%s took partition %d at committed offset %d, but %d was acknowledged before it asked",
			m.name(), p.Partition, p.Offset, acked))
	}
	m.positions[p.Partition] = committed
	m.observed.spanEnd[p.Partition] = committed
	w.tracef("%s starts partition %d at %d (committed %d)", m.name(), p.Partition, committed, p.Offset)
}

// stepFetch sends the member's next Fetch (or the Metadata it needs
// first) once it has processed everything fetched before: of the
// partitions it consumes, those one broker leads, brokers taking turns.
// The workload calls it while the member is stable in the generation or
// epoch it believes in, whether or not the coordinator is reachable, as a
// real consumer goes on polling until it hears it is fenced.
func (g *memberWorld) stepFetch(w *World, m *member, consuming []int32) {
	if m.fetching != nil || len(consuming) == 0 || len(m.buffer) > 0 {
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
	for _, p := range consuming {
		if _, ok := m.leaders[p]; !ok {
			// A partition without a known leader asks for fresh
			// metadata next round; the others are fetched this one, so
			// metadata and fetches take turns while it has none.
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
	m.metadataStale = true // no partition consumed has a known leader
	m.fetchNotBefore = w.now + errorBackoff
	g.sleepUntil(w, m, m.fetchNotBefore)
}

// fetchRequest fetches the partitions of consuming that broker leads, at
// their positions and with their leader epochs (nil: none).
func (g *memberWorld) fetchRequest(m *member, consuming []int32, broker int) *kmsg.FetchRequest {
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

func (g *memberWorld) onMetadata(w *World, m *member, r *kmsg.MetadataResponse) {
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
func (g *memberWorld) onFetch(w *World, m *member, in *memberRequest, r *kmsg.FetchResponse) (backoff bool) {
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
			if g.fetchAtPosition {
				if position, ok := m.positions[rp.Partition]; !ok || position != offset {
					continue // revoked, or taken again, since
				}
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
// hold. So the checker reports it (checkOutOfRange).
func (g *memberWorld) resetOffset(w *World, m *member, partition int32, offset int64) {
	g.protocol.checkOutOfRange(w, m, partition, offset)
	m.positions[partition] = 0
	m.observed.spanEnd[partition] = 0
	g.acked[partition] = 0
	g.resets[partition]++
}

// check reports a violation found by a check of the member's own
// consumption as it happens; Options.SpecChecksOff switches these off, as
// it does the per-event predicates, to show what the end-of-run check of
// the group's coverage finds on its own.
func (g *memberWorld) check(w *World, kind, detail string) {
	if !w.options.SpecChecksOff {
		w.violation(kind, detail)
	}
}

// observeProcessed checks one record a member processes: the next offset
// of its span, and the same record every member and the final read see
// there.
func (g *memberWorld) observeProcessed(w *World, m *member, r fetchedRecord) {
	g.processedRecords++
	end, ok := m.observed.spanEnd[r.partition]
	switch {
	case !ok:
		g.check(w, g.kind+"-processing", fmt.Sprintf("%s processed %s-%d offset %d, a partition it was not consuming", m.name(), g.topic, r.partition, r.offset))
	case r.offset > end:
		g.check(w, g.kind+"-skip", fmt.Sprintf("%s processed %s-%d offset %d after %d: offsets %d-%d skipped", m.name(), g.topic, r.partition, r.offset, end-1, end, r.offset-1))
	case r.offset < end:
		g.check(w, g.kind+"-order", fmt.Sprintf("%s processed %s-%d offset %d again, or out of order, after %d", m.name(), g.topic, r.partition, r.offset, end-1))
	}
	m.observed.spanEnd[r.partition] = r.offset + 1
	seen := g.processed[r.partition]
	if seen == nil {
		seen = map[int64]string{}
		g.processed[r.partition] = seen
	}
	if v, ok := seen[r.offset]; ok && v != r.value {
		g.check(w, g.kind+"-inconsistent-read", fmt.Sprintf("%s processed %q at %s-%d offset %d, where %q was processed before", m.name(), r.value, g.topic, r.partition, r.offset, v))
	}
	seen[r.offset] = r.value
	// What a member read is committed, as for the scenario's consumers.
	tp := linearizability.TopicPartition{Topic: g.topic, Partition: r.partition}
	w.readEnd[tp] = max(w.readEnd[tp], r.offset+1)
}

// observeCommit checks, as a commit is sent, that each offset is at most
// the end of what the member processed of that partition in the span the
// commit is of (spans).
func (g *memberWorld) observeCommit(w *World, m *member, req *kmsg.OffsetCommitRequest, spans map[int32]int64) {
	for _, rp := range req.Topics[0].Partitions {
		if end, ok := spans[rp.Partition]; !ok || rp.Offset > end {
			g.check(w, g.kind+"-commit-unprocessed", fmt.Sprintf("%s commits %s-%d at %d (%s %d), but processed it only up to %d",
				m.name(), g.topic, rp.Partition, rp.Offset, g.epochWord, req.Generation, end))
		}
	}
}

// checkCoverage runs at the end of a run: for each partition, every
// offset below the final committed offset was processed by some member,
// and what they processed is what the final read holds there.
func (g *memberWorld) checkCoverage(w *World, final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		log := map[int64]string{}
		for _, r := range final[tp] {
			log[r.Offset] = r.Value
		}
		committed := g.acked[p]
		seen := g.processed[p]
		w.tracef("%s: %s committed at %d; %d offsets processed, %d records in the final read", g.label, tp, committed, len(seen), len(final[tp]))
		for offset := int64(0); offset < committed; offset++ {
			v, ok := seen[offset]
			if !ok {
				w.violation(g.kind+"-skipped-record", fmt.Sprintf("%s offset %d (%q) is below the committed offset %d, and no member processed it",
					tp, offset, log[offset], committed))
				break
			}
			if logged, ok := log[offset]; !ok || logged != v {
				w.violation(g.kind+"-inconsistent-read", fmt.Sprintf("a member processed %q at %s offset %d; the final read has %q", v, tp, offset, logged))
				break
			}
		}
	}
}

// committedAll: every partition's committed offset has reached what must
// survive (mustCommit).
func (g *memberWorld) committedAll(w *World) bool {
	for p := int32(0); p < g.partitions; p++ {
		if g.acked[p] < w.mustCommit(linearizability.TopicPartition{Topic: g.topic, Partition: p}) {
			return false
		}
	}
	return true
}

// commitSummary appends to parts the partitions whose committed offset
// falls short of what must survive, and joins them.
func (g *memberWorld) commitSummary(w *World, parts []string) string {
	for p := int32(0); p < g.partitions; p++ {
		tp := linearizability.TopicPartition{Topic: g.topic, Partition: p}
		if end := w.mustCommit(tp); g.acked[p] < end {
			parts = append(parts, fmt.Sprintf("the group committed %s only up to %d of %d", tp, g.acked[p], end))
		}
	}
	return strings.Join(parts, "; ")
}

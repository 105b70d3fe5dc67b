package sim

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/controller"
	"cairn/linearizability"
	"cairn/netsim"
	"cairn/replica"
	"cairn/replica/transport"
	"cairn/specs"
)

// epoch is virtual time zero as the brokers see it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Client endpoints are numbered after the brokers, far enough away that the
// trace tells them apart.
const clientNodeBase = 100

// eventsMax bounds a run: a run that has not ended by then is a bug in the
// simulator or a livelock in the broker, and is reported as a violation.
const eventsMax = 5_000_000

// Violation is one broken guarantee.
type Violation struct {
	Kind   string
	Detail string
	At     time.Duration
}

func (v Violation) String() string { return fmt.Sprintf("%s at %v: %s", v.Kind, v.At, v.Detail) }

// World is one run: the brokers, the clients, the network, the clock, and
// what happened.
type World struct {
	options     Options
	now         time.Duration
	epoch       time.Time
	queue       eventQueue
	sequence    uint64
	net         *netsim.Network
	brokers     []*broker
	clients     []*client
	formatter   *kmsg.RequestFormatter
	diskRng     *rand.Rand
	workloadRng *rand.Rand
	latencyRng  *rand.Rand
	history     linearizability.History
	violations  []Violation
	liveness    bool
	safetyStart time.Duration
	events      int64
	// acknowledgedEnd is, per partition, one past the highest offset any
	// producer saw acknowledged.
	acknowledgedEnd map[linearizability.TopicPartition]int64
	// lastStatus is each live replica's last snapshot, for progress
	// checks, by broker and partition slot.
	lastStatus brokerTable[core.PartitionStatus]
	// slots numbers the partitions for the dense tables (invariants.go).
	slots partitionSlots
	// live is checkInvariants' buffer of the running replicas' statuses,
	// and replicaCheck the inputs of its last passing replica check.
	live         []core.PartitionStatus
	replicaCheck replicaCheckCache
	// replicaInputs counts the changes to committedEnd, lostDisk and
	// lostDataAt: what specs.CheckReplicas reads besides the statuses.
	replicaInputs uint64
	// metadata is the simulated controller quorum (clustered runs only),
	// and image the fold of its committed entries, as every broker applies
	// them.
	metadata     *metadataLog
	metadataTerm int
	image        *controller.Image
	// lostDisk holds, per broker whose disk was lost and whose new
	// registration has not committed yet, the directory it lost. Once it
	// commits, lostDataAt holds per partition the epoch that registration
	// gave it: the controller has taken the broker out of every ISR, and a
	// leader's view of an older epoch may still count it (see
	// specs.CheckReplicas).
	lostDisk map[int]controller.DirectoryID
	// namedEpochs holds the leader epochs of fetches being answered
	// (fence.go).
	namedEpochs map[fetchKey]namedEpochs
	// sends maps a pipelined produce request to the history entry and
	// attempt it carries, so that its arrival at a broker is recorded.
	sends map[sendKey]sendRef
	// cutLeader is the broker the last FaultCutLeader cut off, or -1.
	cutLeader int
	// aimed is the state of the control faults (aimed.go).
	aimed      aimedFaults
	lostDataAt brokerTable[int32]
	// committedEnd is, per partition, one past the highest offset any
	// producer saw acknowledged with acks=all: the records every in-sync
	// replica must hold.
	committedEnd map[linearizability.TopicPartition]int64
	// readEnd is, per partition, one past the highest offset a consumer read.
	readEnd map[linearizability.TopicPartition]int64
	// padding is the shared source of records' padding bytes.
	padding   []byte
	traceHash hash.Hash64
	traceOut  io.Writer
	traceLine []byte
	// groupMembers is the size of the consumer group workload (group.go);
	// groups is that workload, nil without one.
	groupMembers int
	groups       *groupWorld
	// consumerGroups is the KIP-848 consumer group workload
	// (consumer_group.go), run instead of groups when
	// Options.GroupProtocol is "consumer"; nil without one.
	consumerGroups *consumerGroupWorld
	// synced is the synced-bytes check's ledger (synced.go).
	synced syncedLedger
}

func newWorld(options Options, trace io.Writer) *World {
	w := &World{
		options:         options,
		epoch:           epoch,
		formatter:       kmsg.NewRequestFormatter(kmsg.FormatterClientID("sim")),
		diskRng:         newStream(options.Seed, streamDisk),
		workloadRng:     newStream(options.Seed, streamWorkload),
		latencyRng:      newStream(options.Seed, streamLatency),
		acknowledgedEnd: map[linearizability.TopicPartition]int64{},
		committedEnd:    map[linearizability.TopicPartition]int64{},
		readEnd:         map[linearizability.TopicPartition]int64{},
		image:           controller.NewImage(),
		lostDisk:        map[int]controller.DirectoryID{},
		namedEpochs:     map[fetchKey]namedEpochs{},
		sends:           map[sendKey]sendRef{},
		cutLeader:       -1,
		traceHash:       fnv.New64a(),
		traceOut:        trace,
		padding:         make([]byte, paddingBytesMax),
	}
	for i := range w.padding {
		w.padding[i] = byte(i*7 + 3)
	}
	w.net = netsim.New(newStream(options.Seed, streamNetwork), options.Network)
	return w
}

func (w *World) wallTime() time.Time { return w.epoch.Add(w.now) }

// tracef appends one line to the trace: always hashed, printed with --trace.
func (w *World) tracef(format string, args ...any) {
	w.traceLine = w.traceLine[:0]
	w.traceLine = fmt.Appendf(w.traceLine, "%12.6f ", w.now.Seconds())
	w.traceLine = fmt.Appendf(w.traceLine, format, args...)
	w.traceLine = append(w.traceLine, '\n')
	w.traceHash.Write(w.traceLine)
	if w.traceOut != nil {
		w.traceOut.Write(w.traceLine)
	}
}

func (w *World) violation(kind, detail string) {
	w.tracef("VIOLATION %s: %s", kind, detail)
	w.violations = append(w.violations, Violation{Kind: kind, Detail: detail, At: w.now})
}

func (w *World) record(op linearizability.Op) int {
	w.history = append(w.history, op)
	return len(w.history) - 1
}

func (w *World) acknowledged(op *linearizability.Op) {
	tp := op.TopicPartition()
	end := op.BaseOffset + int64(len(op.Values))
	if end > w.acknowledgedEnd[tp] {
		w.acknowledgedEnd[tp] = end
	}
	if op.Acks == -1 && end > w.committedEnd[tp] {
		w.committedEnd[tp] = end
		w.replicaInputs++
	}
}

func (w *World) forgetStatus(broker int) {
	w.lastStatus.clear(broker)
}

// setup starts the brokers, creates the topics through the protocol, and
// starts the clients.
func (w *World) setup() error {
	for i := 0; i < w.options.Brokers; i++ {
		w.brokers = append(w.brokers, newBroker(w, i))
	}
	if w.options.Brokers > 1 {
		w.metadata = newMetadataLog(w.options.Brokers)
	}
	for _, b := range w.brokers {
		if err := b.start(w); err != nil {
			return fmt.Errorf("broker %d: %w", b.index, err)
		}
	}
	if w.metadata != nil {
		w.electMetadataLeader(0)
		if !w.runUntil(setupTimeout, w.allBrokersRegistered) {
			return fmt.Errorf("brokers did not register within %v", setupTimeout)
		}
	}
	if err := w.createTopics(); err != nil {
		return err
	}
	clients := w.options.Producers + w.options.Consumers
	for i := 0; i < clients; i++ {
		c := newClient(w, i)
		if i < w.options.Producers {
			c.role = roleProducer
			c.producesLeft = w.options.ProducesPerProducer
		} else {
			c.role = roleConsumer
			c.session = i
			for _, t := range w.options.Topics {
				for p := int32(0); p < t.Partitions; p++ {
					c.positions = append(c.positions, position{topic: t.Name, partition: p})
				}
			}
		}
		w.clients = append(w.clients, c)
		w.schedule(w.now+time.Duration(i)*time.Millisecond, eventClientWake, i, 0, nil)
	}
	switch {
	case w.groupMembers > 0 && w.options.GroupProtocol == GroupProtocolConsumer:
		w.startConsumerGroups()
	case w.groupMembers > 0:
		w.startGroups()
	}
	for i := range w.options.Faults {
		w.schedule(w.now+w.options.Faults[i].At, eventFault, i, 0, nil)
	}
	w.safetyStart = w.now
	w.schedule(w.now+w.options.SafetyDuration, eventLiveness, 0, 0, nil)
	return nil
}

// setupTimeout bounds how long a cluster may take to form and create its
// topics before the workload starts.
const setupTimeout = 30 * time.Second

// runUntil runs the event loop until done holds or limit passes.
func (w *World) runUntil(limit time.Duration, done func() bool) bool {
	end := w.now + limit
	for !done() {
		if !w.step() || w.now > end || len(w.violations) > 0 {
			return done()
		}
	}
	return true
}

// allBrokersRegistered reports whether the controller's image has every
// broker registered and unfenced, as every broker sees it.
func (w *World) allBrokersRegistered() bool {
	for _, b := range w.brokers {
		if b.node == nil || b.node.LiveBrokers() < len(w.brokers) {
			return false
		}
	}
	return true
}

// topicsReady reports whether every partition has a leader.
func (w *World) topicsReady() bool {
	leaders := 0
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		for _, p := range b.node.Partitions() {
			if p.Role == core.RoleLeader {
				leaders++
			}
		}
	}
	want := 0
	for _, t := range w.options.Topics {
		want += int(t.Partitions)
	}
	return leaders >= want
}

func (w *World) createTopics() error {
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, t := range w.options.Topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.Name
		rt.NumPartitions = t.Partitions
		rt.ReplicationFactor = int16(w.options.ReplicationFactor)
		if w.options.MinInsyncReplicas > 1 {
			rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{
				Name: "min.insync.replicas", Value: kmsg.StringPtr(fmt.Sprint(w.options.MinInsyncReplicas))})
		}
		req.Topics = append(req.Topics, rt)
	}
	if w.metadata == nil {
		resp, err := w.direct(w.brokers[0], req)
		if err != nil {
			return err
		}
		for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
			if t.ErrorCode != 0 {
				return fmt.Errorf("create topic %s: %s", t.Topic, errorName(t.ErrorCode))
			}
		}
		return nil
	}
	// Clustered: the controller answers only once its records commit,
	// which takes the event loop; its answer is not needed, the leaders are.
	controller := w.brokers[w.metadata.leader]
	frame := w.formatter.AppendRequest(nil, req, 1)
	controller.node.HandleFrame(w.wallTime(), directConn, transport.Payload(frame))
	controller.flush(w)
	if !w.runUntil(setupTimeout, w.topicsReady) {
		return fmt.Errorf("topics got no leaders within %v", setupTimeout)
	}
	return nil
}

// directConn is the connection id of requests the simulator itself makes
// straight into a node (setup and the final read), off the network.
const directConn = replica.ConnID(1 << 62)

// direct sends req to the broker's node without the network and runs the
// node until it answers. Its Ready goes through replica.Node.Execute like
// every other: the answer on directConn is kept, everything else goes to
// the broker's own driver, except that fsyncs run at once.
func (w *World) direct(b *broker, req kmsg.Request) (kmsg.Response, error) {
	frame := w.formatter.AppendRequest(nil, req, 1)
	b.node.HandleFrame(w.wallTime(), directConn, transport.Payload(frame))
	d := &directDriver{brokerDriver: brokerDriver{b, w}}
	for round := 0; round < 100 && d.answer == nil; round++ {
		b.node.Execute(d)
		syncs := d.syncs
		d.syncs = nil
		for _, task := range syncs {
			b.node.SyncDone(w.wallTime(), task, task.Run())
		}
	}
	if d.answer == nil {
		return nil, fmt.Errorf("%s: no answer from broker %d", kmsg.NameForKey(req.Key()), b.index)
	}
	b.node.ConnClosed(directConn)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body, err := transport.ResponseBody(transport.Payload(d.answer), resp)
	if err != nil {
		return nil, err
	}
	return resp, resp.ReadFrom(body)
}

// directDriver is the broker's driver for a direct request: it keeps the
// answer on directConn and the fsyncs to run once Execute returns.
type directDriver struct {
	brokerDriver
	answer []byte
	syncs  []*replica.SyncTask
}

func (d *directDriver) Send(id replica.ConnID, frame []byte) {
	if id == directConn {
		d.answer = frame
		return
	}
	d.brokerDriver.Send(id, frame)
}

func (d *directDriver) Close(id replica.ConnID) {
	if id != directConn {
		d.brokerDriver.Close(id)
	}
}

func (d *directDriver) StartSync(task *replica.SyncTask) { d.syncs = append(d.syncs, task) }

// run is the event loop: take the earliest of the network's events and the
// simulator's own, run it, check every predicate.
func (w *World) run() {
	end := w.safetyStart + w.options.SafetyDuration + w.options.LivenessDuration
	for len(w.violations) == 0 {
		if !w.step() {
			break
		}
		if w.liveness && w.quiescent() {
			w.tracef("quiescent: every operation finished")
			return
		}
		if w.now > end {
			w.violation("liveness", w.pendingSummary())
			return
		}
		if w.events > eventsMax {
			w.violation("liveness", fmt.Sprintf("no end after %d events", eventsMax))
			return
		}
	}
}

// step runs the earliest pending event and checks every predicate. It
// returns false when nothing is left to happen.
func (w *World) step() bool {
	netAt, netOK := w.net.Next()
	if !netOK && len(w.queue) == 0 {
		return false
	}
	if netOK && (len(w.queue) == 0 || netAt <= w.queue[0].at) {
		w.now = netAt
		w.onNetwork(w.net.Pop())
	} else {
		e := heap.Pop(&w.queue).(*event)
		w.now = e.at
		w.onEvent(e)
	}
	w.events++
	w.checkInvariants()
	return true
}

func (w *World) onNetwork(ev netsim.Event) {
	if int(ev.To) >= consumerGroupNodeBase && w.consumerGroups != nil {
		w.consumerGroups.onNetwork(w, ev)
		return
	}
	if int(ev.To) >= groupNodeBase && w.groups != nil {
		w.groups.onNetwork(w, ev)
		return
	}
	if int(ev.To) >= clientNodeBase {
		w.clients[int(ev.To)-clientNodeBase].onNetwork(w, ev)
		return
	}
	w.brokers[int(ev.To)].deliver(w, ev)
}

func (w *World) onEvent(e *event) {
	switch e.kind {
	case eventSyncDone, eventBrokerTick:
		w.brokers[e.target].onEvent(w, e)
	case eventClientWake:
		w.clients[e.target].wake(w)
	case eventGroupWake:
		w.groups.wake(w, e.target, e.incarnation)
	case eventGroupMend:
		w.groups.mendCut(w, e.target, e.incarnation)
	case eventConsumerGroupWake:
		w.consumerGroups.wake(w, e.target, e.incarnation)
	case eventConsumerGroupMend:
		w.consumerGroups.mendCut(w, e.target, e.incarnation)
	case eventFault:
		w.applyFault(w.options.Faults[e.target])
	case eventAimedMend:
		cut := e.payload.(aimedCut)
		w.net.Mend(w.now, cut.from, cut.to)
	case eventAimedRelease:
		w.releaseHeld(e.payload.(*heldAlter))
	case eventAimedCrash:
		if b := w.brokers[e.target]; e.incarnation == b.incarnation && !w.liveness {
			b.crash(w, e.payload.(time.Duration))
		}
	case eventRestart:
		b := w.brokers[e.target]
		if e.incarnation == b.incarnation {
			b.restart(w)
		}
	case eventResume:
		if b := w.brokers[e.target]; e.incarnation == b.incarnation {
			b.resume(w)
		}
	case eventHealDisk:
		if !w.liveness {
			w.brokers[e.target].toggles[FaultKind(e.incarnation)].Disable()
		}
	case eventHealNetwork:
		if !w.liveness {
			w.net.Heal(w.now)
		}
	case eventLiveness:
		w.startLiveness()
	case eventMetadataCommit:
		w.commitMetadata(e.incarnation)
	case eventMetadataDeliver, eventMetadataFailed:
		w.brokers[e.target].onEvent(w, e)
	case eventMetadataElection:
		if m := w.metadata; m != nil && (m.leader < 0 || w.brokers[m.leader].node == nil || w.brokers[m.leader].paused) {
			next := w.liveBrokerAfter(max(m.leader, 0))
			w.electMetadataLeader(next)
			if next < 0 {
				w.scheduleMetadataElection()
			}
		}
	}
}

// metadataElectionTimeout is how long the quorum takes to replace a leader
// that crashed, paused or was cut off.
const metadataElectionTimeout = time.Second

func (w *World) scheduleMetadataElection() {
	w.schedule(w.now+metadataElectionTimeout, eventMetadataElection, 0, 0, nil)
}

func (w *World) applyFault(f Fault) {
	if w.liveness {
		return
	}
	w.tracef("FAULT %s", f)
	var b *broker
	if f.Broker >= 0 {
		b = w.brokers[f.Broker] // the faults that pick their broker when they strike have -1
	}
	switch f.Kind {
	case FaultDropAnswer, FaultDuplicateRequest, FaultDelayRequest, FaultCrashOnRejoin, FaultCrashAfterISRChange, FaultPauseController:
		w.armControlFault(f)
	case FaultCrash:
		b.crash(w, f.Duration)
	case FaultDiskLoss:
		b.loseDisk(w, f.Duration)
	case FaultCutLeader:
		w.cutLeader = w.replicatedLeader()
		if w.cutLeader < 0 {
			w.tracef("no leader to cut")
			return
		}
		var rest []netsim.NodeID
		for _, other := range w.brokers {
			if other.index != w.cutLeader {
				rest = append(rest, other.id)
			}
		}
		w.tracef("cut leader b%d", w.cutLeader)
		w.net.Partition(w.now, [][]netsim.NodeID{{w.brokers[w.cutLeader].id}, rest}, true)
		if w.metadata != nil && w.metadata.leader == w.cutLeader {
			// Cut off from the quorum's majority, it loses the quorum's
			// leadership too, as a Raft leader would.
			w.electMetadataLeader(w.liveBrokerAfter(w.cutLeader))
		}
		w.schedule(w.now+f.Duration, eventHealNetwork, 0, 0, nil)
	case FaultCrashSuccessor:
		if successor := w.successorOf(int32(w.cutLeader)); w.cutLeader >= 0 && successor >= 0 {
			w.brokers[successor].crash(w, f.Duration)
		} else {
			w.tracef("no successor of b%d to crash", w.cutLeader)
		}
	case FaultPause:
		b.pause(w, f.Duration)
	case FaultWriteError, FaultSyncError, FaultReadError, FaultNoSpace, FaultBitFlip:
		b.rates[f.Kind].numerator, b.rates[f.Kind].denominator = f.Numerator, f.Denominator
		b.toggles[f.Kind].Enable()
		w.schedule(w.now+f.Duration, eventHealDisk, f.Broker, int(f.Kind), nil)
	case FaultIsolate:
		w.net.Isolate(w.now, b.id)
		w.schedule(w.now+f.Duration, eventHealNetwork, 0, 0, nil)
	case FaultPartitionClient:
		w.net.Partition(w.now, [][]netsim.NodeID{{w.clients[f.Client].id}, {b.id}}, f.Symmetric)
		w.schedule(w.now+f.Duration, eventHealNetwork, 0, 0, nil)
	case FaultControllerMove:
		if w.metadata != nil {
			w.electMetadataLeader(w.liveBrokerAfter(w.metadata.leader))
		}
	case FaultMetadataOutage:
		if w.metadata != nil {
			w.electMetadataLeader(-1)
			w.schedule(w.now+f.Duration, eventMetadataElection, 0, 0, nil)
		}
	case FaultPartitionBrokers:
		var side, rest []netsim.NodeID
		for _, other := range w.brokers {
			if other.index == f.Broker || other.index == f.Client%len(w.brokers) {
				side = append(side, other.id)
			} else {
				rest = append(rest, other.id)
			}
		}
		if len(rest) > 0 {
			w.net.Partition(w.now, [][]netsim.NodeID{side, rest}, f.Symmetric)
			w.schedule(w.now+f.Duration, eventHealNetwork, 0, 0, nil)
		}
	case FaultClog:
		c := w.clients[f.Client].id
		from, to := c, b.id
		if f.Duration%2 == 0 {
			from, to = b.id, c
		}
		w.net.Clog(w.now, from, to, w.now+f.Duration)
	}
}

// replicatedLeader returns the leader of the first partition (by name)
// with more than one replica, or -1.
func (w *World) replicatedLeader() int {
	for _, t := range w.image.Topics() {
		for _, p := range w.image.Partitions(t.Name) {
			if p.Leader >= 0 && len(p.Replicas) > 1 {
				return int(p.Leader)
			}
		}
	}
	return -1
}

// successorOf returns the broker that leads the first partition (by name)
// with away in its ELR, or -1.
func (w *World) successorOf(away int32) int {
	for _, t := range w.image.Topics() {
		for _, p := range w.image.Partitions(t.Name) {
			if p.Leader >= 0 && p.Leader != away && slices.Contains(p.ELR, away) {
				return int(p.Leader)
			}
		}
	}
	return -1
}

// startLiveness ends the safety phase: every fault stops, every broker is
// up and healthy, and from here on every operation must finish.
func (w *World) startLiveness() {
	w.tracef("LIVENESS: faults stop")
	w.liveness = true
	if w.groups != nil {
		w.groups.startLiveness(w)
	}
	if w.consumerGroups != nil {
		w.consumerGroups.startLiveness(w)
	}
	w.net.Heal(w.now)
	// Steady loss is a fault too: at one message in ten, retransmission
	// timeouts of a second and more keep followers out of ISRs sized at
	// min.insync.replicas, and the run would measure the weather.
	w.net.Calm()
	if m := w.metadata; m != nil && (m.leader < 0 || w.brokers[m.leader].node == nil) {
		w.scheduleMetadataElection()
	}
	for _, b := range w.brokers {
		for _, t := range b.toggles {
			if t != nil {
				t.Disable()
			}
		}
		for _, c := range w.clients {
			w.net.Clog(w.now, c.id, b.id, w.now)
			w.net.Clog(w.now, b.id, c.id, w.now)
		}
		b.resume(w)
		if b.node == nil && w.metadata != nil {
			b.restart(w)
		}
		if b.failed() {
			// A log that failed its fsync stays offline until restart,
			// as an operator would do.
			b.crash(w, 0)
		}
	}
}

// quiescent reports whether the workload is finished: every producer done
// and idle, every consumer caught up with the high watermark it last saw.
func (w *World) quiescent() bool {
	for _, c := range w.clients {
		if c.role == roleProducer && (!c.done || c.inflight != nil) {
			return false
		}
	}
	for _, b := range w.brokers {
		if b.node == nil || b.paused {
			return false
		}
	}
	if !w.partitionsCommitted() {
		return false
	}
	if w.groups != nil && !w.groups.quiescent(w) {
		return false
	}
	if w.consumerGroups != nil && !w.consumerGroups.quiescent(w) {
		return false
	}
	for _, c := range w.clients {
		if c.role != roleConsumer {
			continue
		}
		for _, p := range c.positions {
			if !p.caughtUp || p.offset < w.mustCommit(linearizability.TopicPartition{Topic: p.topic, Partition: p.partition}) {
				return false
			}
		}
	}
	return true
}

// mustCommit is one past the last offset that must survive into the final
// read: every acknowledged record on a single broker, the acks=all ones in
// a cluster (an acks=1 record may be lost when its leader fails before a
// follower copies it; package linearizability judges those).
func (w *World) mustCommit(tp linearizability.TopicPartition) int64 {
	end := w.committedEnd[tp]
	if w.metadata == nil {
		end = w.acknowledgedEnd[tp]
	}
	// What a consumer has read is committed too, even if a new leader's
	// high watermark has not caught up with it yet.
	return max(end, w.readEnd[tp])
}

// leaderHighWatermarks is, per partition with a live leader, that
// leader's high watermark.
func (w *World) leaderHighWatermarks() map[linearizability.TopicPartition]int64 {
	leaders := map[linearizability.TopicPartition]int64{}
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		for _, p := range b.node.Partitions() {
			if p.Role == core.RoleLeader {
				leaders[linearizability.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.HighWatermark
			}
		}
	}
	return leaders
}

// partitionsCommitted reports whether every partition has a leader whose
// high watermark covers everything acknowledged.
func (w *World) partitionsCommitted() bool {
	leaders := w.leaderHighWatermarks()
	for _, t := range w.options.Topics {
		for p := int32(0); p < t.Partitions; p++ {
			tp := linearizability.TopicPartition{Topic: t.Name, Partition: p}
			hw, ok := leaders[tp]
			if !ok || hw < w.mustCommit(tp) {
				return false
			}
		}
	}
	return true
}

// uncommittedSummary names each partition that holds the run back because
// no leader's high watermark covers what it must commit, with what each
// of its replicas says (describeReplicas).
func (w *World) uncommittedSummary() []string {
	leaderHW := w.leaderHighWatermarks()
	var parts []string
	for _, t := range w.options.Topics {
		for i := int32(0); i < t.Partitions; i++ {
			tp := linearizability.TopicPartition{Topic: t.Name, Partition: i}
			need := w.mustCommit(tp)
			hw, led := leaderHW[tp]
			var what string
			switch {
			case !led:
				what = "has no leader"
			case hw < need:
				what = fmt.Sprintf("is committed to %d of %d", hw, need)
			default:
				continue
			}
			parts = append(parts, fmt.Sprintf("%s-%d %s: %s", tp.Topic, tp.Partition, what, w.describeReplicas(tp)))
		}
	}
	return parts
}

// describeReplicas says what every running replica of tp reports: its
// role, whom it follows in which epoch, its ISR, where its log ends, what
// it holds durably, and whether its log failed or a truncation waits.
func (w *World) describeReplicas(tp linearizability.TopicPartition) string {
	var replicas []string
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		for _, p := range b.node.Partitions() {
			if p.Topic != tp.Topic || p.Partition != tp.Partition {
				continue
			}
			var notes string
			if p.Failed {
				notes += ", log failed"
			}
			if p.TruncatePending {
				notes += ", truncation pending"
			}
			if b.paused {
				notes += ", paused"
			}
			replicas = append(replicas, fmt.Sprintf("broker %d %s (leader %d epoch %d partition epoch %d, isr %v, end %d, durable %d, hw %d%s)",
				b.index, p.Role, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR, p.EndOffset, p.DurableOffset, p.HighWatermark, notes))
		}
	}
	if len(replicas) == 0 {
		return "no running replica"
	}
	return strings.Join(replicas, ", ")
}

func (w *World) pendingSummary() string {
	var parts []string
	for _, c := range w.clients {
		switch {
		case c.role == roleProducer && (!c.done || c.inflight != nil):
			part := fmt.Sprintf("%s has %d produce(s) left", c.name(), c.producesLeft)
			if c.lastAnswer != "" {
				tp := c.lastAnswerTP
				part += fmt.Sprintf(", last answered %s for %s-%d: %s", c.lastAnswer, tp.Topic, tp.Partition, w.describeReplicas(tp))
			}
			parts = append(parts, part)
		case c.role == roleConsumer:
			for _, p := range c.positions {
				acknowledged := w.mustCommit(linearizability.TopicPartition{Topic: p.topic, Partition: p.partition})
				if !p.caughtUp || p.offset < acknowledged {
					parts = append(parts, fmt.Sprintf("%s stuck at %s-%d offset %d (high watermark %d, acknowledged to %d)",
						c.name(), p.topic, p.partition, p.offset, p.highWatermark, acknowledged))
				}
			}
		}
	}
	for _, b := range w.brokers {
		if b.node == nil || b.paused {
			parts = append(parts, fmt.Sprintf("broker %d is not running", b.index))
		}
	}
	if m := w.metadata; m != nil && (m.leader < 0 || w.brokers[m.leader].node == nil) {
		parts = append(parts, "the metadata quorum has no leader")
	}
	parts = append(parts, w.uncommittedSummary()...)
	if w.groups != nil && !w.groups.quiescent(w) {
		parts = append(parts, w.groups.summary(w))
	}
	if w.consumerGroups != nil && !w.consumerGroups.quiescent(w) {
		parts = append(parts, w.consumerGroups.summary(w))
	}
	if len(parts) == 0 {
		// quiescent found something unfinished that none of the above
		// names: a gap in this summary, said as such.
		parts = append(parts, "nothing above is stuck, yet the workload is not quiescent")
	}
	return fmt.Sprintf("not finished %v after faults stopped: %s", w.options.LivenessDuration, strings.Join(parts, "; "))
}

// checkInvariants evaluates the specs predicates on every live replica,
// then across replicas.
func (w *World) checkInvariants() {
	if w.options.SpecChecksOff {
		return
	}
	check := func(err error) {
		if err != nil {
			w.violation("spec", err.Error())
		}
	}
	live := w.live[:0]
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		for _, p := range b.node.Partitions() {
			slot := w.slots.slot(p.Topic, p.Partition)
			if p.Failed && b.injected.Count() == 0 {
				// Only a disk fault may take a partition offline; without
				// one, the broker failed itself (a refused truncate, say).
				check(fmt.Errorf("replica %d of %s-%d went offline with no disk fault injected", b.index, p.Topic, p.Partition))
			}
			check(specs.CheckOffsets(p.PartitionStatus))
			// A failed log stopped midway (a truncation the core made and
			// the storage could not): it serves nothing past the core's
			// end, and a restart recovers from the storage.
			if !p.TruncatePending && !p.Failed {
				check(specs.CheckLogAgrees(p.PartitionStatus, p.LogEndOffset, p.LogDurableOffset))
			}
			if prev, ok := w.lastStatus.get(b.index, slot); ok {
				check(specs.CheckProgress(prev, p.PartitionStatus))
			}
			if w.metadata == nil {
				check(specs.CheckAcknowledgedDurable(p.PartitionStatus, w.acknowledgedEnd[linearizability.TopicPartition{Topic: p.Topic, Partition: p.Partition}]))
			}
			w.lastStatus.put(b.index, slot, p.PartitionStatus)
			if !b.paused {
				live = append(live, p.PartitionStatus)
			}
		}
	}
	w.live = live
	if w.metadata != nil && !w.replicaCheck.unchanged(live, w.replicaInputs) {
		err := specs.CheckReplicas(live, func(topic string, partition int32) int64 {
			return w.committedEnd[linearizability.TopicPartition{Topic: topic, Partition: partition}]
		}, func(topic string, partition, replica int32) int32 {
			return w.lostDataEpoch(linearizability.TopicPartition{Topic: topic, Partition: partition}, replica)
		})
		if err != nil {
			w.replicaCheck.valid = false
			check(err)
		} else {
			w.replicaCheck.remember(live, w.replicaInputs)
		}
	}
}

// finalRead reads every partition from the start, straight from the node.
func (w *World) finalRead() map[linearizability.TopicPartition][]linearizability.FetchedRecord {
	final := map[linearizability.TopicPartition][]linearizability.FetchedRecord{}
	for _, t := range w.options.Topics {
		for p := int32(0); p < t.Partitions; p++ {
			tp := linearizability.TopicPartition{Topic: t.Name, Partition: p}
			b := w.leaderOf(tp)
			if b == nil {
				w.violation("liveness", fmt.Sprintf("no leader for %s at the final read", tp))
				return final
			}
			offset := int64(0)
			for round := 0; round < 10000; round++ {
				req := kmsg.NewPtrFetchRequest()
				req.SetVersion(fetchVersion)
				req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic = t.Name
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, offset, 1<<20, -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp, err := w.direct(b, req)
				if err != nil {
					w.violation("final-read", err.Error())
					return final
				}
				part := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
				if part.ErrorCode != 0 {
					w.violation("final-read", fmt.Sprintf("%s-%d at offset %d: %s", t.Name, p, offset, errorName(part.ErrorCode)))
					break
				}
				records, err := decodeBatches(part.RecordBatches)
				if err != nil {
					w.violation("served-corrupt-batch", fmt.Sprintf("final read %s-%d at %d: %v", t.Name, p, offset, err))
					break
				}
				for _, r := range records {
					if r.Offset >= offset {
						final[tp] = append(final[tp], r)
					}
				}
				if len(records) == 0 {
					break
				}
				offset = records[len(records)-1].Offset + 1
			}
		}
	}
	return final
}

// checkLogMatching compares, at the end of a run, every live replica's log
// with its leader's below the leader's high watermark: the committed
// prefix must be the same batches — same offsets, epochs and CRCs — on
// every replica that holds it (log matching).
func (w *World) checkLogMatching() {
	for _, t := range w.options.Topics {
		for p := int32(0); p < t.Partitions; p++ {
			tp := linearizability.TopicPartition{Topic: t.Name, Partition: p}
			leader := w.leaderOf(tp)
			if leader == nil {
				continue
			}
			hw := int64(0)
			var isr []int32
			for _, s := range leader.node.Partitions() {
				if s.Topic == t.Name && s.Partition == p {
					hw, isr = s.HighWatermark, s.ISR
				}
			}
			want, err := leader.node.Digests(t.Name, p, hw)
			if err != nil {
				continue // a read fault; the final read judges the leader
			}
			for _, b := range w.brokers {
				// A replica outside the ISR may still hold a divergent
				// suffix it has yet to truncate; log matching is the
				// promise about in-sync replicas.
				if b == leader || b.node == nil || !slices.Contains(isr, int32(b.index)) {
					continue
				}
				got, err := b.node.Digests(t.Name, p, hw)
				if err != nil {
					continue // not a replica, or unreadable now
				}
				for i := range got {
					if i >= len(want) || got[i] != want[i] {
						w.violation("log-matching", fmt.Sprintf("%s: replica %d and leader %d differ at batch %d below the high watermark %d: %+v vs %+v",
							tp, b.index, leader.index, i, hw, got[i], digestAt(want, i)))
						break
					}
				}
			}
		}
	}
}

func digestAt(d []replica.BatchDigest, i int) any {
	if i < len(d) {
		return d[i]
	}
	return "nothing"
}

// leaderOf returns the broker leading a partition in the newest epoch.
func (w *World) leaderOf(tp linearizability.TopicPartition) *broker {
	var best *broker
	bestEpoch := int32(-1)
	for _, b := range w.brokers {
		if b.node == nil {
			continue
		}
		for _, p := range b.node.Partitions() {
			if p.Topic == tp.Topic && p.Partition == tp.Partition && p.Role == core.RoleLeader && p.LeaderEpoch > bestEpoch {
				best, bestEpoch = b, p.LeaderEpoch
			}
		}
	}
	return best
}

// traceSum is the run's trace hash.
func (w *World) traceSum() uint64 { return w.traceHash.Sum64() }

// describeRequest names a request frame for the trace.
func describeRequest(frame []byte) string {
	if len(frame) < 8 {
		return fmt.Sprintf("<%d bytes>", len(frame))
	}
	key := transport.RequestKey(frame)
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	return fmt.Sprintf("%s v%d corr=%d (%d bytes)", kmsg.NameForKey(key), version, transport.RequestCorrelation(frame), len(frame))
}

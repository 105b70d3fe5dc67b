package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/controller"
	"cairn/replica/transport"
)

// A metadata log entry is one batch of controller records, prefixed with
// who proposed it: the proposing node and its proposal sequence number. A
// node recognizes its own batches by them, to release the answers that
// waited for the commit and to notice when the log took something else.
const entryHeaderBytes = 12

func encodeEntry(proposer int32, seq uint64, records []controller.Record) []byte {
	b := make([]byte, entryHeaderBytes, entryHeaderBytes+64)
	binary.BigEndian.PutUint32(b, uint32(proposer))
	binary.BigEndian.PutUint64(b[4:], seq)
	return append(b, controller.EncodeBatch(records)...)
}

// DecodeMetadataEntry returns the records of one metadata log entry, for
// drivers and tests that follow the log (the simulator keeps its own image
// of the committed metadata).
func DecodeMetadataEntry(entry []byte) ([]controller.Record, error) {
	_, _, records, err := decodeEntry(entry)
	return records, err
}

func decodeEntry(entry []byte) (proposer int32, seq uint64, records []controller.Record, err error) {
	if len(entry) < entryHeaderBytes {
		return 0, 0, nil, errors.New("metadata entry shorter than its header")
	}
	proposer = int32(binary.BigEndian.Uint32(entry))
	seq = binary.BigEndian.Uint64(entry[4:])
	records, err = controller.DecodeBatch(entry[entryHeaderBytes:])
	return proposer, seq, records, err
}

// pendingAnswer is a response held until the metadata it depends on commits.
type pendingAnswer struct {
	seq     uint64 // the proposal that must commit first
	conn    ConnID
	respSeq uint64
	header  transport.RequestHeader
	resp    kmsg.Response
}

// metadataState is the node's view of the cluster metadata and, when the
// node is the active controller, the controller itself.
type metadataState struct {
	image        *controller.Image
	applied      uint64 // index of the last applied entry
	controllerID int32  // the active controller as this node knows it; -1 unknown
	active       *controller.Controller
	local        *localMetadataLog // standalone only
	incarnation  int64
	// proposalSeq numbers this node's proposals; committedSeq is the last
	// of them seen committed.
	proposalSeq, committedSeq uint64
	answers                   []pendingAnswer
	// alters are this node's own partitions' ISR proposals made to its
	// active controller, by the proposal that carries each: if the
	// controller is dropped before that commits, the leader must hear
	// that its proposal was lost (a remote controller's answer says
	// NOT_CONTROLLER), or it would wait for it forever.
	alters        []pendingAlter
	nextHeartbeat time.Time
	// registeredAt is, per broker, the metadata index at which its current
	// registration committed: a broker that has applied that far has seen
	// itself registered, which is what "caught up" means for unfencing.
	registeredAt map[int32]uint64
	// unopened says some partition assigned here failed to open.
	unopened              bool
	nextPreferredElection time.Time
	// dirty lists partitions whose metadata changed since they were last
	// reconciled, in the order the changes arrived; applyTime is when.
	dirty     []partitionKey
	applyTime time.Time
}

// pendingAlter is an ISR proposal held by this node's active controller.
type pendingAlter struct {
	seq       uint64 // the proposal that carries it
	partition partitionKey
}

type partitionKey struct {
	topic     string
	partition int32
}

// settle reconciles the partitions whose metadata changed. It runs once a
// burst of metadata entries is applied — never per entry — so that a node
// replaying the log after a restart acts only on the latest state: a
// historical leadership with a smaller ISR, applied to today's longer log,
// would commit records no other replica holds.
func (n *Node) settle() {
	dirty := n.meta.dirty
	n.meta.dirty = nil
	seen := map[partitionKey]bool{}
	for i := len(dirty) - 1; i >= 0; i-- {
		k := dirty[i]
		if seen[k] {
			continue
		}
		seen[k] = true
	}
	for _, k := range dirty {
		if seen[k] {
			delete(seen, k)
			n.reconcilePartition(n.meta.applyTime, k.topic, k.partition)
		}
	}
}

// markAllDirty queues every hosted partition for reconciling.
func (n *Node) markAllDirty(now time.Time) {
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p != nil {
				n.meta.dirty = append(n.meta.dirty, partitionKey{name, p.index})
			}
		}
	}
	n.meta.applyTime = now
}

// reconcileAll retries every partition the image assigns to this node.
func (n *Node) reconcileAll(now time.Time) {
	n.meta.unopened = false
	for _, t := range n.meta.image.Topics() {
		for _, ip := range n.meta.image.Partitions(t.Name) {
			if slices.Contains(ip.Replicas, n.config.NodeID) && n.partition(t.Name, ip.Partition) == nil {
				n.reconcilePartition(now, t.Name, ip.Partition)
			}
		}
	}
}

// MetadataFailed reports whether the node can no longer write its local
// metadata log (a failed fsync); it recovers only by restarting.
func (n *Node) MetadataFailed() bool {
	return n.meta.local != nil && n.meta.local.failed != nil
}

// heartbeatInterval is how often a broker tells the controller it lives.
const heartbeatInterval = time.Second

// ApplyMetadata applies one committed entry of the metadata log. Entries
// must arrive in log order; a repeat of an applied index is ignored.
func (n *Node) ApplyMetadata(now time.Time, index uint64, entry []byte) {
	if index <= n.meta.applied {
		return
	}
	n.meta.applied = index
	proposer, seq, records, err := decodeEntry(entry)
	if err != nil {
		n.logger.Error("undecodable metadata entry", "index", index, "err", err)
		n.dropController(now, "undecodable entry")
		return
	}
	if err := n.meta.image.ApplyBatch(records); err != nil {
		// Every node refuses the same batch the same way, so images stay
		// equal; the proposer's controller, though, assumed it applied.
		n.logger.Warn("metadata batch refused", "index", index, "proposer", proposer, "err", err)
		if proposer == n.config.NodeID {
			n.dropController(now, "own batch refused")
		}
		records = nil
	}
	if n.meta.active != nil && (proposer != n.config.NodeID || seq != n.meta.committedSeq+1) {
		n.dropController(now, "the log holds a batch this controller did not propose next")
	}
	if proposer == n.config.NodeID {
		n.meta.committedSeq = max(n.meta.committedSeq, seq)
		n.releaseAnswers()
	}
	for _, r := range records {
		n.reconcile(now, r)
	}
}

// SetControllerLeader tells the node which node leads the metadata quorum
// (-1: none known). The leader runs the active controller, built from the
// committed image, so the driver must call it for this node only once the
// node has applied every entry committed before its leadership began.
func (n *Node) SetControllerLeader(now time.Time, leader int32) {
	changed := leader != n.meta.controllerID
	n.meta.controllerID = leader
	if leader != n.config.NodeID {
		n.dropController(now, "leadership moved")
	} else if n.meta.active == nil {
		n.meta.active = controller.New(n.controllerConfig(), n.meta.image)
		n.meta.committedSeq = n.meta.proposalSeq
	}
	if changed && leader >= 0 {
		// A new controller knows no sessions: tell it at once.
		n.meta.nextHeartbeat = time.Time{}
		n.heartbeat(now)
	}
}

func (n *Node) controllerConfig() controller.Config {
	return controller.Config{
		SessionTimeout:           n.config.SessionTimeout,
		UncleanRestartLeavesISR:  n.config.Durability == core.ReplicationAcks,
		MinInsyncReplicasDefault: n.minInsyncDefault(),
		ClusterID:                n.clusterID,
	}
}

// dropController discards the active controller: its image can no longer be
// trusted to equal the log. Answers waiting on its proposals fail, and so do
// the ISR proposals of this node's own partitions that it held.
func (n *Node) dropController(now time.Time, why string) {
	if n.meta.active == nil {
		return
	}
	n.logger.Info("controller stepping down", "reason", why)
	n.meta.active = nil
	for _, a := range n.meta.answers {
		setTopLevelError(a.resp, kerr.NotController.Code)
		n.respond(a.conn, a.respSeq, a.header, a.resp)
	}
	n.meta.answers = n.meta.answers[:0]
	alters := n.meta.alters
	n.meta.alters = nil
	if n.meta.controllerID == n.config.NodeID {
		// Still the quorum leader: rebuild from the committed image.
		n.meta.active = controller.New(n.controllerConfig(), n.meta.image)
		n.meta.committedSeq = n.meta.proposalSeq
	}
	for _, a := range alters {
		if p := n.partition(a.partition.topic, a.partition.partition); p != nil {
			p.core.ProposalFailed(now)
			n.afterCore(now, p)
		}
	}
}

// commitController hands the active controller's records to the metadata
// log: synchronously to the local log of a standalone broker, or as a
// proposal for the driver to replicate. It returns the proposal's sequence
// number, which answers that depend on it wait for, or 0 if there was
// nothing to commit.
func (n *Node) commitController(now time.Time) uint64 {
	c := n.meta.active
	if c == nil || !c.HasReady() {
		return 0
	}
	records := c.Ready().Records
	c.Advance()
	n.meta.proposalSeq++
	seq := n.meta.proposalSeq
	entry := encodeEntry(n.config.NodeID, seq, records)
	if n.meta.local == nil {
		n.ready.Proposals = append(n.ready.Proposals, entry)
		return seq
	}
	index, err := n.meta.local.append(entry)
	if err != nil {
		n.logger.Error("metadata log append failed", "err", err)
		n.dropController(now, "metadata append failed")
		return seq
	}
	n.ApplyMetadata(now, index, entry)
	return seq
}

// ProposalFailed tells the node that a proposal it made did not commit (the
// quorum leader changed, or the proposal timed out). The controller's image
// may be ahead of the log, so it is rebuilt.
func (n *Node) ProposalFailed(now time.Time) { n.dropController(now, "proposal failed") }

// answerAfter holds resp until proposal seq commits; seq 0 answers now.
func (n *Node) answerAfter(seq uint64, id ConnID, respSeq uint64, h transport.RequestHeader, resp kmsg.Response) {
	if seq == 0 || seq <= n.meta.committedSeq {
		n.respond(id, respSeq, h, resp)
		return
	}
	n.meta.answers = append(n.meta.answers, pendingAnswer{seq: seq, conn: id, respSeq: respSeq, header: h, resp: resp})
}

func (n *Node) releaseAnswers() {
	kept := n.meta.answers[:0]
	for _, a := range n.meta.answers {
		if a.seq <= n.meta.committedSeq {
			n.respond(a.conn, a.respSeq, a.header, a.resp)
		} else {
			kept = append(kept, a)
		}
	}
	n.meta.answers = kept
	n.meta.alters = slices.DeleteFunc(n.meta.alters, func(a pendingAlter) bool { return a.seq <= n.meta.committedSeq })
}

// setTopLevelError marks every entry of a held response with code.
func setTopLevelError(resp kmsg.Response, code int16) {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		for i := range r.Topics {
			r.Topics[i].ErrorCode = code
		}
	case *kmsg.DeleteTopicsResponse:
		for i := range r.Topics {
			r.Topics[i].ErrorCode = code
		}
	case *kmsg.AlterPartitionResponse:
		r.ErrorCode = code
	case *kmsg.BrokerHeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.BrokerRegistrationResponse:
		r.ErrorCode = code
	case *kmsg.AllocateProducerIDsResponse:
		r.ErrorCode = code
	case *kmsg.ElectLeadersResponse:
		r.ErrorCode = code
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				r.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
}

// reconcile brings the hosted partitions in line with one applied record.
func (n *Node) reconcile(now time.Time, r controller.Record) {
	switch r := r.(type) {
	case controller.RegisterBroker:
		if n.meta.registeredAt == nil {
			n.meta.registeredAt = map[int32]uint64{}
		}
		n.meta.registeredAt[r.ID] = n.meta.applied
		if r.ID == n.config.NodeID && r.Incarnation == n.meta.incarnation {
			n.markAllDirty(now)
		}
	case controller.CreateTopic:
		n.ensureTopic(r.Name)
	case controller.AllocateProducerIDs:
		n.producerIDsCommitted(r)
	case controller.PartitionRecord:
		n.meta.dirty = append(n.meta.dirty, partitionKey{r.Topic, r.Partition})
		n.meta.applyTime = now
	case controller.PartitionChange:
		n.meta.dirty = append(n.meta.dirty, partitionKey{r.Topic, r.Partition})
		n.meta.applyTime = now
	case controller.DeleteTopic:
		n.settle()
		if t, ok := n.topics[r.Name]; ok {
			n.removeTopic(t)
		}
	}
}

// ensureTopic returns the local record of a topic in the image.
func (n *Node) ensureTopic(name string) *topic {
	if t, ok := n.topics[name]; ok {
		return t
	}
	it, ok := n.meta.image.Topic(name)
	if !ok {
		return nil
	}
	t := &topic{name: name, id: it.ID, configs: it.Configs, partitions: make([]*partition, it.PartitionCount)}
	n.topics[name] = t
	n.insertTopicName(name)
	return t
}

// reconcilePartition opens, updates or removes one partition's local
// replica to match the image.
func (n *Node) reconcilePartition(now time.Time, topicName string, index int32) {
	ip, ok := n.meta.image.Partition(topicName, index)
	t := n.ensureTopic(topicName)
	if !ok || t == nil || index < 0 || int(index) >= len(t.partitions) {
		return
	}
	p := t.partitions[index]
	hosted := slices.Contains(ip.Replicas, n.config.NodeID)
	switch {
	case hosted && p == nil:
		opened, err := n.openPartition(t, index, now)
		if err != nil {
			// Retried from Tick: a disk that failed a read now may not
			// fail it again, and meanwhile clients get NOT_LEADER.
			n.logger.Error("opening partition", "topic", topicName, "partition", index, "err", err)
			n.meta.unopened = true
			return
		}
		t.partitions[index], p = opened, opened
	case !hosted && p != nil:
		n.closePartition(p, true)
		t.partitions[index] = nil
		return
	case !hosted:
		return
	}
	before, epochBefore := p.core.Role(), p.core.LeaderEpoch()
	leader := ip.Leader
	if leader == n.config.NodeID && !n.registeredNow() {
		// A leadership from before this process started: the previous
		// process may have lost unsynced records that followers hold, so
		// writing on in the same epoch could put two different batches
		// at one offset. Wait for the controller to re-elect this broker
		// in a new epoch after it registers.
		leader = -1
	}
	p.core.SetLeadership(now, core.Leadership{Leader: leader, LeaderEpoch: ip.LeaderEpoch,
		PartitionEpoch: ip.PartitionEpoch, Replicas: ip.Replicas, ISR: ip.ISR})
	if p.core.Role() == core.RoleLeader && p.core.LeaderEpoch() != epochBefore {
		p.producerBecameLeader()
	}
	log := n.logger.Debug
	if p.core.Role() != before {
		log = n.logger.Info
	}
	log("leadership", "topic", topicName, "partition", index, "role", p.core.Role().String(),
		"was", before.String(), "leader", ip.Leader, "epoch", ip.LeaderEpoch, "isr", ip.ISR, "end", p.core.EndOffset(),
		"high-watermark", p.core.HighWatermark())
	n.afterCore(now, p)
}

// registeredNow reports whether the image holds this process's own
// registration (its incarnation), not a previous process's.
func (n *Node) registeredNow() bool {
	b, ok := n.meta.image.Broker(n.config.NodeID)
	return ok && b.Incarnation == n.meta.incarnation
}

// heartbeat keeps this broker's controller session alive and, the first
// time, registers it. A standalone broker talks to its own controller.
func (n *Node) heartbeat(now time.Time) {
	if now.Before(n.meta.nextHeartbeat) {
		return
	}
	n.meta.nextHeartbeat = now.Add(heartbeatInterval)
	if n.meta.controllerID == n.config.NodeID && n.meta.active != nil {
		n.selfHeartbeat(now)
		return
	}
	if n.meta.controllerID >= 0 {
		n.sendHeartbeat(now)
	}
}

// selfHeartbeat registers and heartbeats this broker with the controller it
// hosts.
func (n *Node) selfHeartbeat(now time.Time) {
	c := n.meta.active
	if b, ok := n.meta.image.Broker(n.config.NodeID); !ok || b.Incarnation != n.meta.incarnation {
		if err := c.RegisterBroker(now, n.registration()); err != nil {
			n.logger.Error("registering with the controller", "err", err)
			return
		}
		n.commitController(now)
	}
	c = n.meta.active
	if c == nil {
		return
	}
	c.Heartbeat(now, n.config.NodeID, n.meta.incarnation, true)
	c.Tick(now)
	if n.config.AutoLeaderRebalance && !now.Before(n.meta.nextPreferredElection) {
		// Leaders drift to whichever replica survived the last failure;
		// moving them back to their preferred replica spreads the load
		// again (auto.leader.rebalance.enable). The first check comes at
		// the first heartbeat of a new controller, then every interval.
		n.meta.nextPreferredElection = now.Add(n.config.LeaderImbalanceCheckInterval)
		if moved := c.RebalanceLeaders(now, n.config.LeaderImbalancePerBrokerPercentage); moved > 0 {
			n.logger.Info("moving leaders back to their preferred replicas", "partitions", moved)
		}
	}
	n.commitController(now)
}

func (n *Node) registration() controller.RegisterBroker {
	return controller.RegisterBroker{
		ID: n.config.NodeID, Host: n.config.AdvertisedHost, Port: n.config.AdvertisedPort, Rack: n.config.Rack,
		Incarnation: n.meta.incarnation, CleanShutdown: n.cleanShutdown, DirectoryID: n.directoryID,
	}
}

// imagePartitionExists tells NOT_LEADER_OR_FOLLOWER (the partition exists,
// elsewhere) from UNKNOWN_TOPIC_OR_PARTITION.
func (n *Node) imagePartitionExists(topicName string, index int32) bool {
	_, ok := n.meta.image.Partition(topicName, index)
	return ok
}

// errNoController is the answer of a node that is not the active controller.
var errNoController = fmt.Errorf("not the active controller")

package replica

import (
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/controller"
	"cairn/core/errcode"
	"cairn/core/group"
	"cairn/replica/storage"
	"cairn/replica/transport"
)

// offsetsTopic holds consumer groups: their metadata and committed
// offsets, as Kafka's own record formats. The coordinator of a group is
// the leader of partition groupPartition(group) of this topic.
const offsetsTopic = controller.OffsetsTopic

// offsetsTopicReplayBytesMax bounds one read while a new leader replays
// the partition.
const offsetsTopicReplayBytesMax = 1 << 20

// groupHost is the node's share of the group coordinators: one
// group.Coordinator per partition of __consumer_offsets this node leads,
// the requests waiting for their answers, and the appends waiting for the
// high watermark.
type groupHost struct {
	coordinators map[int32]*hostedCoordinator
	waits        map[group.Token]groupWait
	nextToken    group.Token
	// appends maps a partition's produce token to the coordinator append
	// it carries.
	appends map[core.Token]groupAppend
}

type hostedCoordinator struct {
	core      *group.Coordinator
	partition *partition
	epoch     int32
	// closed is set once the partition's leadership moved: appends the
	// coordinator still asks for fail instead of being written.
	closed bool
	// topicsApplied is the metadata log index whose topics the
	// coordinator was last given (UpdateTopics); 0: never.
	topicsApplied uint64
}

type groupWait struct {
	conn   ConnID
	seq    uint64
	header transport.RequestHeader
	// deletes, when set, gathers this answer into one DeleteGroups
	// response, at Groups[index], instead of sending it.
	deletes *groupDeletes
	index   int
}

// groupDeletes is a DeleteGroups request whose groups are answered one by
// one, as their coordinators' tombstones commit; the response goes out
// when the last is in.
type groupDeletes struct {
	wait    groupWait
	resp    *kmsg.DeleteGroupsResponse
	waiting int
}

type groupAppend struct {
	coordinator *hostedCoordinator
	id          uint64
}

// javaStringHash is Java's String.hashCode over the UTF-16 units of s, so
// that a group lands on the partition Kafka would put it on.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// groupPartition is the group's partition of __consumer_offsets: of the
// topic's actual partition count once it exists (it may have been created
// with another setting), as Kafka does.
func (n *Node) groupPartition(groupID string) int32 {
	count := n.config.offsetsTopicPartitions()
	if t, ok := n.meta.image.Topic(offsetsTopic); ok && t.PartitionCount > 0 {
		count = t.PartitionCount
	}
	return (javaStringHash(groupID) & 0x7fffffff) % count
}

// groupConfig is the coordinators' configuration.
func (n *Node) groupConfig() group.Config {
	c := group.DefaultConfig()
	c.InitialRebalanceDelay = n.config.GroupInitialRebalanceDelay
	if n.config.GroupConsumerHeartbeatInterval > 0 {
		c.HeartbeatInterval = n.config.GroupConsumerHeartbeatInterval
	}
	if n.config.GroupConsumerSessionTimeout > 0 {
		c.ConsumerSessionTimeout = n.config.GroupConsumerSessionTimeout
	}
	if n.config.GroupConsumerAssignor != "" {
		c.DefaultAssignor = n.config.GroupConsumerAssignor
	}
	if n.config.GroupSessionTimeoutMin > 0 {
		c.SessionTimeoutMin = n.config.GroupSessionTimeoutMin
	}
	return c
}

// ensureOffsetsTopic creates __consumer_offsets the first time a client
// looks for a coordinator. It reports whether the topic exists now.
func (n *Node) ensureOffsetsTopic(now time.Time) bool {
	if _, ok := n.meta.image.Topic(offsetsTopic); ok {
		return true
	}
	partitions := n.config.offsetsTopicPartitions()
	rf := max(n.config.DefaultReplicationFactor, 1)
	if n.liveBrokers() < int(rf) {
		// As Kafka does with offsets.topic.replication.factor: the topic
		// waits for that many live brokers rather than being created
		// with fewer replicas, which it would keep for good (a group's
		// commits then live on fewer copies than the cluster promises).
		return false
	}
	configs := map[string]string{"cleanup.policy": "compact"}
	c := n.meta.active
	if c == nil {
		controllerID := n.meta.controllerID
		if !n.peerAvailable(now, controllerID) {
			return false
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.SetVersion(peerCreateTopicsVersion)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = offsetsTopic, partitions, rf
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = "cleanup.policy", kmsg.StringPtr("compact")
		rt.Configs = append(rt.Configs, rc)
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 5000
		n.send(controllerID, &peerCall{kind: callCreateTopics, request: req})
		return false
	}
	if err := c.CreateTopic(now, offsetsTopic, partitions, rf, configs); err != nil && err != kerr.TopicAlreadyExists {
		n.logger.Warn("creating the offsets topic", "err", err)
		return false
	}
	n.commitController(now)
	_, ok := n.meta.image.Topic(offsetsTopic)
	if ok {
		n.logger.Info("created the offsets topic", "partitions", partitions, "replication-factor", rf)
	}
	return ok
}

// coordinatorFor returns the coordinator of a group if this node leads
// its partition, loading it (replaying the partition) on first use after
// a leadership change; otherwise a Kafka error code.
func (n *Node) coordinatorFor(now time.Time, groupID string) (*hostedCoordinator, int16) {
	if _, ok := n.meta.image.Topic(offsetsTopic); !ok {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	return n.loadIndex(now, n.groupPartition(groupID))
}

func (n *Node) initGroups() {
	if n.groups.coordinators == nil {
		n.groups.coordinators = map[int32]*hostedCoordinator{}
		n.groups.waits = map[group.Token]groupWait{}
		n.groups.appends = map[core.Token]groupAppend{}
	}
}

// loadCoordinator rebuilds the groups of one partition by replaying it
// from its start to its end.
func (n *Node) loadCoordinator(now time.Time, p *partition) (*hostedCoordinator, error) {
	epoch := p.core.LeaderEpoch()
	hc := &hostedCoordinator{partition: p, epoch: epoch,
		core: group.New(n.groupConfig(), p.index, strconv.Itoa(int(n.config.NodeID))+"."+strconv.Itoa(int(epoch)))}
	end := p.log.NextOffset()
	var buf []byte
	records := 0
	for offset := p.log.StartOffset(); offset < end; {
		r, err := p.log.Read(offset, offsetsTopicReplayBytesMax, end)
		if err != nil {
			return nil, err
		}
		buf, err = storage.ReadInto(buf[:0], r)
		if err != nil {
			return nil, err
		}
		if len(buf) == 0 {
			break
		}
		for data := buf; len(data) > 0; {
			h, err := batch.ParseHeader(data)
			if err != nil {
				return nil, err
			}
			b := data[:h.TotalBytes()]
			data = data[h.TotalBytes():]
			offset = h.NextOffset()
			if h.IsControl() {
				continue
			}
			rs, err := batch.Records(b)
			if err != nil {
				return nil, err
			}
			for _, rec := range rs {
				if err := hc.core.Replay(now, rec.Key, rec.Value); err != nil {
					n.logger.Warn("skipping an unreadable group record", "partition", p.index, "err", err)
				}
				records++
			}
		}
	}
	n.logger.Info("loaded groups", "partition", p.index, "epoch", epoch, "records", records, "groups", len(hc.core.Groups()))
	return hc, nil
}

// closeCoordinator stops serving a partition's groups: every waiting
// request is answered NOT_COORDINATOR.
func (n *Node) closeCoordinator(now time.Time, index int32) {
	hc := n.groups.coordinators[index]
	if hc == nil {
		return
	}
	delete(n.groups.coordinators, index)
	hc.closed = true
	for token, a := range n.groups.appends {
		if a.coordinator == hc {
			delete(n.groups.appends, token)
		}
	}
	hc.core.Close()
	n.afterGroup(now, hc)
}

// tickGroups runs the coordinators' timers and drops coordinators whose
// partition is no longer led here.
func (n *Node) tickGroups(now time.Time) {
	for _, index := range sortedKeys(n.groups.coordinators) {
		hc := n.groups.coordinators[index]
		p := hc.partition
		if p.closed || p.failed || p.core.Role() != core.RoleLeader || p.core.LeaderEpoch() != hc.epoch || hc.core.Diverged() {
			// A diverged coordinator (a failed write) is rebuilt from
			// the log on its next use.
			n.closeCoordinator(now, index)
			continue
		}
		n.updateCoordinatorTopics(now, hc)
		hc.core.Tick(now)
		n.afterGroup(now, hc)
	}
}

// updateCoordinatorTopics gives a coordinator the image's topics when
// they may have changed since it last had them: consumer-protocol groups
// assign partitions from them, and a change bumps their group epoch.
func (n *Node) updateCoordinatorTopics(now time.Time, hc *hostedCoordinator) {
	if hc.topicsApplied != 0 && hc.topicsApplied == n.meta.applied {
		return
	}
	hc.topicsApplied = max(n.meta.applied, 1)
	topics := n.meta.image.Topics()
	infos := make([]group.TopicInfo, 0, len(topics))
	for _, t := range topics {
		infos = append(infos, group.TopicInfo{Name: t.Name, ID: group.TopicID(t.ID), Partitions: t.PartitionCount})
	}
	hc.core.UpdateTopics(now, infos)
}

// groupDeadline is the earliest timer of any coordinator.
func (n *Node) groupDeadline(next time.Time) time.Time {
	for _, hc := range n.groups.coordinators {
		if at := hc.core.Deadline(); !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// groupAppendAcked routes a partition acknowledgment that belongs to a
// coordinator's append. It reports whether the token was one.
func (n *Node) groupAppendAcked(now time.Time, ack core.Ack) bool {
	a, ok := n.groups.appends[ack.Token]
	if !ok {
		return false
	}
	delete(n.groups.appends, ack.Token)
	a.coordinator.core.AppendDone(now, a.id, commitErrorCode(ack.Error))
	// The coordinator's answers go out after the partition's Ready is
	// finished with; afterCore calls flushGroups.
	return true
}

// commitErrorCode maps a partition write error to what Kafka answers a
// group write with.
func commitErrorCode(code errcode.Code) int16 {
	switch int16(code) {
	case 0:
		return 0
	case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.InvalidCommitOffsetSize.Code
	default:
		return kerr.CoordinatorNotAvailable.Code
	}
}

// flushGroups executes every coordinator's effects.
func (n *Node) flushGroups(now time.Time) {
	for _, index := range sortedKeys(n.groups.coordinators) {
		n.afterGroup(now, n.groups.coordinators[index])
	}
}

// afterGroup executes one coordinator's Ready: appends become record
// batches on its partition, responses go to their connections.
func (n *Node) afterGroup(now time.Time, hc *hostedCoordinator) {
	for hc.core.HasReady() {
		rd := hc.core.Ready()
		hc.core.Advance()
		for _, a := range rd.Appends {
			n.appendGroupRecords(now, hc, a)
		}
		for _, r := range rd.Responses {
			w, ok := n.groups.waits[r.Token]
			if !ok {
				continue
			}
			delete(n.groups.waits, r.Token)
			if d := w.deletes; d != nil {
				if body, ok := r.Body.(*kmsg.DeleteGroupsResponse); ok && len(body.Groups) == 1 {
					d.resp.Groups[w.index].ErrorCode = body.Groups[0].ErrorCode
				}
				if d.waiting--; d.waiting == 0 {
					n.respond(d.wait.conn, d.wait.seq, d.wait.header, d.resp)
				}
				continue
			}
			n.respond(w.conn, w.seq, w.header, r.Body)
		}
	}
}

// appendGroupRecords writes a coordinator's records as one batch, as a
// produce with acks=all would be written; the coordinator hears back when
// the batch is below the high watermark.
func (n *Node) appendGroupRecords(now time.Time, hc *hostedCoordinator, a group.Append) {
	p := hc.partition
	fail := func(code int16) { hc.core.AppendDone(now, a.ID, code) }
	if hc.closed || p.closed || p.failed {
		fail(kerr.NotCoordinator.Code)
		return
	}
	records := make([]batch.Record, len(a.Records))
	for i, r := range a.Records {
		records[i] = batch.Record{Key: r.Key, Value: r.Value}
	}
	b := batch.Build(batch.BuildOptions{FirstTimestamp: now.UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, records)
	if int64(len(b)) > int64(p.messageBytesMax) {
		fail(kerr.InvalidCommitOffsetSize.Code)
		return
	}
	base, epoch, code := p.core.CheckProduce(core.Acks(-1))
	if code != errcode.None {
		fail(commitErrorCode(code))
		return
	}
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, epoch)
	if err := p.log.Append(b, now); err != nil {
		n.logger.Error("group append failed", "partition", p.index, "err", err)
		n.failPartition(p, "append group records", err)
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	n.nextToken++
	token := n.nextToken
	n.groups.appends[token] = groupAppend{coordinator: hc, id: a.ID}
	p.core.Appended(token, core.Acks(-1), base, base+int64(len(records))-1)
	n.afterCore(now, p)
}

// groupToken registers a request waiting for a coordinator's answer.
func (n *Node) groupToken(r *request) group.Token {
	return n.addGroupWait(groupWait{conn: r.conn, seq: r.take(), header: r.header})
}

// addGroupWait registers w under a new token for a coordinator's answer.
func (n *Node) addGroupWait(w groupWait) group.Token {
	n.groups.nextToken++
	n.groups.waits[n.groups.nextToken] = w
	return n.groups.nextToken
}

// partitionKnown tells a coordinator whether a committed partition exists.
func (n *Node) partitionKnown(topic string, partition int32) bool {
	return n.imagePartitionExists(topic, partition)
}

// groupCount is how many groups the loaded coordinators hold.
func (n *Node) groupCount() int {
	count := 0
	for _, hc := range n.groups.coordinators {
		count += len(hc.core.Groups())
	}
	return count
}

// isInternalTopic reports topics Metadata marks internal.
func isInternalTopic(name string) bool { return controller.IsInternalTopic(name) }

package replica

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
)

// authorizedOperationsOmitted is what Kafka sends when a client did not ask
// for authorized operations.
const authorizedOperationsOmitted = -2147483648

// handleMetadata answers from the metadata image: live brokers, the active
// controller, and every partition's leader, epoch, replicas and ISR.
func (n *Node) handleMetadata(r *request, req *kmsg.MetadataRequest) {
	n.answer(r, n.metadataResponse(r.now, req))
}

func (n *Node) metadataResponse(now time.Time, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	for _, b := range n.meta.image.Brokers() {
		if b.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ClusterID = &n.clusterID
	resp.ControllerID = n.meta.controllerID
	// A nil topic list (v1+), or an empty one at v0, asks for every topic.
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range n.meta.image.Topics() {
			resp.Topics = append(resp.Topics, n.topicMetadata(t))
		}
		return resp
	}
	autoCreate := n.config.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, n.requestedTopicMetadata(now, rt, autoCreate))
	}
	return resp
}

func (n *Node) requestedTopicMetadata(now time.Time, rt kmsg.MetadataRequestTopic, autoCreate bool) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		if name, ok := n.meta.image.TopicName(rt.TopicID); ok {
			t, _ := n.meta.image.Topic(name)
			return n.topicMetadata(t)
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	name := *rt.Topic
	if t, ok := n.meta.image.Topic(name); ok {
		return n.topicMetadata(t)
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = rt.Topic
	mt.AuthorizedOperations = authorizedOperationsOmitted
	switch {
	case validTopicName(name) != "":
		mt.ErrorCode = kerr.InvalidTopicException.Code
	case !autoCreate:
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
	default:
		mt.ErrorCode = n.autoCreate(now, name)
		if t, ok := n.meta.image.Topic(name); ok && mt.ErrorCode == 0 {
			return n.topicMetadata(t)
		}
	}
	return mt
}

// autoCreate creates a topic a client asked about, through the active
// controller: here, or by asking the controller broker. Until the topic's
// records commit, the answer is LEADER_NOT_AVAILABLE, which clients retry.
func (n *Node) autoCreate(now time.Time, name string) int16 {
	if name == offsetsTopic {
		// The internal topic is created with its own partition count
		// and compaction (group.go), whoever asks first.
		if n.ensureOffsetsTopic(now) {
			return 0
		}
		return kerr.LeaderNotAvailable.Code
	}
	c := n.meta.active
	if c == nil {
		n.forwardCreateTopic(now, name)
		return kerr.LeaderNotAvailable.Code
	}
	rf := min(int(n.config.DefaultReplicationFactor), n.liveBrokers())
	if err := c.CreateTopic(now, name, n.config.DefaultPartitions, int16(max(rf, 1)), nil); err != nil && err != kerr.TopicAlreadyExists {
		n.logger.Warn("auto-creating topic", "topic", name, "err", err)
		return err.Code
	}
	n.commitController(now)
	if _, ok := n.meta.image.Topic(name); ok {
		n.logger.Info("auto-created topic", "topic", name)
		return 0
	}
	return kerr.LeaderNotAvailable.Code
}

func (n *Node) topicMetadata(t controller.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = authorizedOperationsOmitted
	for _, ip := range n.meta.image.Partitions(t.Name) {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = ip.Partition
		mp.Leader = ip.Leader
		mp.LeaderEpoch = ip.LeaderEpoch
		mp.Replicas = ip.Replicas
		mp.ISR = ip.ISR
		for _, r := range ip.Replicas {
			if b, ok := n.meta.image.Broker(r); !ok || b.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if ip.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		} else if p := n.partition(t.Name, ip.Partition); p != nil && p.failed && ip.Leader == n.config.NodeID {
			mp.OfflineReplicas = appendUnique(mp.OfflineReplicas, n.config.NodeID)
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func appendUnique(ids []int32, id int32) []int32 {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

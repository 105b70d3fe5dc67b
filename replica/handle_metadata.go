package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizedOperationsOmitted is what Kafka sends when a client did not ask
// for authorized operations.
const authorizedOperationsOmitted = -2147483648

func (n *Node) handleMetadata(now time.Time, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: n.config.NodeID, Host: n.config.AdvertisedHost, Port: n.config.AdvertisedPort}}
	resp.ClusterID = &n.clusterID
	resp.ControllerID = n.config.NodeID
	// A nil topic list (v1+), or an empty one at v0, asks for every topic.
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, name := range n.topicNames {
			resp.Topics = append(resp.Topics, n.topicMetadata(n.topics[name]))
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
		if t := n.topicByID(rt.TopicID); t != nil {
			return n.topicMetadata(t)
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	name := *rt.Topic
	if t, ok := n.topics[name]; ok {
		return n.topicMetadata(t)
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = rt.Topic
	mt.AuthorizedOperations = authorizedOperationsOmitted
	if msg := validTopicName(name); msg != "" {
		mt.ErrorCode = kerr.InvalidTopicException.Code
		return mt
	}
	if !autoCreate {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return mt
	}
	t, err := n.createTopic(name, n.config.DefaultPartitions, nil, now)
	if err != nil {
		n.logger.Error("auto-creating topic", "topic", name, "err", err)
		mt.ErrorCode = kerr.KafkaStorageError.Code
		return mt
	}
	n.logger.Info("auto-created topic", "topic", name, "partitions", n.config.DefaultPartitions)
	return n.topicMetadata(t)
}

func (n *Node) topicByID(id [16]byte) *topic {
	for _, name := range n.topicNames {
		if n.topics[name].id == id {
			return n.topics[name]
		}
	}
	return nil
}

func (n *Node) topicMetadata(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.name
	mt.Topic = &name
	mt.TopicID = t.id
	mt.AuthorizedOperations = authorizedOperationsOmitted
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.partitions))
	for i, p := range t.partitions {
		mp := &mt.Partitions[i]
		mp.Default()
		mp.Partition = p.index
		mp.Leader = n.config.NodeID
		mp.LeaderEpoch = p.core.LeaderEpoch()
		mp.Replicas = []int32{n.config.NodeID}
		mp.ISR = []int32{n.config.NodeID}
		if p.failed {
			mp.OfflineReplicas = []int32{n.config.NodeID}
		}
	}
	return mt
}

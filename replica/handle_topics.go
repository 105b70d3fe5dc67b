package replica

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
)

func (n *Node) handleCreateTopics(now time.Time, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		out := kmsg.NewCreateTopicsResponseTopic()
		out.Topic = rt.Topic
		code, message := n.createOne(now, rt, &out, seen[rt.Topic] > 1, req.ValidateOnly)
		out.ErrorCode = code
		if message != "" {
			out.ErrorMessage = &message
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

func (n *Node) createOne(now time.Time, rt *kmsg.CreateTopicsRequestTopic, out *kmsg.CreateTopicsResponseTopic, duplicate, validateOnly bool) (int16, string) {
	if duplicate {
		return kerr.InvalidRequest.Code, "topic named more than once in one request"
	}
	if msg := validTopicName(rt.Topic); msg != "" {
		return kerr.InvalidTopicException.Code, msg
	}
	if _, ok := n.topics[rt.Topic]; ok {
		return kerr.TopicAlreadyExists.Code, fmt.Sprintf("topic %q already exists", rt.Topic)
	}
	partitions := rt.NumPartitions
	replicationFactor := rt.ReplicationFactor
	if len(rt.ReplicaAssignment) > 0 {
		if partitions != -1 || replicationFactor != -1 {
			return kerr.InvalidRequest.Code, "give either a replica assignment or partitions and replication factor"
		}
		partitions = int32(len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != n.config.NodeID {
				return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("the only broker is %d", n.config.NodeID)
			}
		}
		replicationFactor = 1
	}
	if partitions == -1 {
		partitions = n.config.DefaultPartitions
	}
	if replicationFactor == -1 {
		replicationFactor = 1
	}
	if partitions < 1 || partitions > partitionsMax {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("partitions %d is outside [1, %d]", partitions, partitionsMax)
	}
	if replicationFactor != 1 {
		return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("replication factor %d is larger than the 1 available broker", replicationFactor)
	}
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		configs[c.Name] = *c.Value
	}
	if err := validateTopicConfigs(configs); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	if len(configs) == 0 {
		configs = nil
	}
	out.NumPartitions = partitions
	out.ReplicationFactor = replicationFactor
	if validateOnly {
		return 0, ""
	}
	t, err := n.createTopic(rt.Topic, partitions, configs, now)
	if err != nil {
		n.logger.Error("creating topic", "topic", rt.Topic, "err", err)
		return kerr.KafkaStorageError.Code, err.Error()
	}
	out.TopicID = t.id
	for _, key := range sortedTopicConfigKeys {
		value, override := topicValue(n.config, t.configs, key)
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = key
		c.Value = &value
		c.Source = configSource(override)
		out.Configs = append(out.Configs, c)
	}
	n.logger.Info("created topic", "topic", rt.Topic, "partitions", partitions)
	return 0, ""
}

func (n *Node) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, rt := range req.Topics {
			targets = append(targets, target{rt.Topic, rt.TopicID})
		}
	} else {
		for i := range req.TopicNames {
			targets = append(targets, target{name: &req.TopicNames[i]})
		}
	}
	for _, tg := range targets {
		out := kmsg.NewDeleteTopicsResponseTopic()
		var t *topic
		if tg.name != nil {
			name := *tg.name
			out.Topic = &name
			t = n.topics[name]
			if t == nil {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		} else {
			out.TopicID = tg.id
			t = n.topicByID(tg.id)
			if t == nil {
				out.ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		if t != nil {
			name := t.name
			out.Topic = &name
			out.TopicID = t.id
			if err := n.deleteTopic(t); err != nil {
				n.logger.Error("deleting topic", "topic", t.name, "err", err)
				out.ErrorCode = kerr.KafkaStorageError.Code
			}
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// deleteTopic forgets the topic first (metadata), then removes its logs: a
// crash in between leaves orphan directories, never a topic without logs.
func (n *Node) deleteTopic(t *topic) error {
	delete(n.topics, t.name)
	n.removeTopicName(t.name)
	if err := n.saveMetadata(); err != nil {
		n.topics[t.name] = t
		n.insertTopicName(t.name)
		return err
	}
	for _, p := range t.partitions {
		p.core.Failed(core.ErrorCode(kerr.UnknownTopicOrPartition.Code))
		for _, ack := range p.core.Ready().Acks {
			n.produceAcked(ack)
		}
		p.core.Advance()
		p.syncing = nil
		if err := p.log.Delete(); err != nil {
			n.logger.Warn("removing partition log", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	n.logger.Info("deleted topic", "topic", t.name)
	return nil
}

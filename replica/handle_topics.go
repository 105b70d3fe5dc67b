package replica

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
)

// handleCreateTopics validates each topic here and hands it to the active
// controller; the answer leaves once the controller's records commit. A
// node that is not the active controller answers NOT_CONTROLLER, and
// clients retry at the controller Metadata names.
func (n *Node) handleCreateTopics(r *request, req *kmsg.CreateTopicsRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
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
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}

func (n *Node) createOne(now time.Time, rt *kmsg.CreateTopicsRequestTopic, out *kmsg.CreateTopicsResponseTopic, duplicate, validateOnly bool) (int16, string) {
	c := n.meta.active
	switch {
	case c == nil:
		return kerr.NotController.Code, errNoController.Error()
	case duplicate:
		return kerr.InvalidRequest.Code, "topic named more than once in one request"
	case len(rt.ReplicaAssignment) > 0:
		return kerr.InvalidReplicaAssignment.Code, "manual replica assignment is not supported yet; give partitions and replication factor"
	}
	if msg := validTopicName(rt.Topic); msg != "" {
		return kerr.InvalidTopicException.Code, msg
	}
	if _, ok := n.meta.image.Topic(rt.Topic); ok {
		return kerr.TopicAlreadyExists.Code, fmt.Sprintf("topic %q already exists", rt.Topic)
	}
	partitions, replicationFactor := rt.NumPartitions, rt.ReplicationFactor
	if partitions == -1 {
		partitions = n.config.DefaultPartitions
	}
	if replicationFactor == -1 {
		replicationFactor = n.config.DefaultReplicationFactor
	}
	if partitions < 1 || partitions > partitionsMax {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("partitions %d is outside [1, %d]", partitions, partitionsMax)
	}
	configs := map[string]string{}
	for _, kv := range rt.Configs {
		if kv.Value != nil {
			configs[kv.Name] = *kv.Value
		}
	}
	if err := validateTopicConfigs(configs); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}
	if len(configs) == 0 {
		configs = nil
	}
	out.NumPartitions, out.ReplicationFactor = partitions, replicationFactor
	live := n.liveBrokers()
	if int(replicationFactor) > live || replicationFactor < 1 {
		return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("replication factor %d with %d live broker(s)", replicationFactor, live)
	}
	if validateOnly {
		return 0, ""
	}
	if err := c.CreateTopic(now, rt.Topic, partitions, replicationFactor, configs); err != nil {
		return err.Code, err.Message
	}
	if t, ok := c.Image().Topic(rt.Topic); ok {
		out.TopicID = t.ID
	}
	for _, key := range sortedTopicConfigKeys {
		value, override := topicValue(n.config, configs, key)
		kv := kmsg.NewCreateTopicsResponseTopicConfig()
		kv.Name = key
		kv.Value = &value
		kv.Source = configSource(override)
		out.Configs = append(out.Configs, kv)
	}
	n.logger.Info("creating topic", "topic", rt.Topic, "partitions", partitions, "replication-factor", replicationFactor)
	return 0, ""
}

// liveBrokers counts registered, unfenced brokers.
func (n *Node) liveBrokers() int {
	live := 0
	for _, b := range n.meta.image.Brokers() {
		if !b.Fenced {
			live++
		}
	}
	return live
}

func (n *Node) handleDeleteTopics(r *request, req *kmsg.DeleteTopicsRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
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
		out.Topic, out.TopicID = tg.name, tg.id
		name := ""
		switch {
		case tg.name != nil:
			name = *tg.name
			if _, ok := n.meta.image.Topic(name); !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		default:
			found, ok := n.meta.image.TopicName(tg.id)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicID.Code
			}
			name = found
			out.Topic = &name
		}
		if out.ErrorCode == 0 {
			if t, ok := n.meta.image.Topic(name); ok {
				out.TopicID = t.ID
			}
			switch c := n.meta.active; {
			case c == nil:
				out.ErrorCode = kerr.NotController.Code
			default:
				if err := c.DeleteTopic(now, name); err != nil {
					out.ErrorCode = err.Code
					if controller.IsInternalTopic(name) {
						message := name + " is an internal topic and cannot be deleted"
						out.ErrorMessage = &message
					}
				}
			}
		}
		resp.Topics = append(resp.Topics, out)
	}
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}

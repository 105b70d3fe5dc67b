package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/controller"
)

// handleElectLeaders runs an operator's leader election (kafka-leader-election,
// kadm's ElectLeaders) at the active controller, as CreateTopics does: the
// answer leaves once the controller's records commit, and a node that is not
// the active controller answers NOT_CONTROLLER, which clients retry at the
// controller Metadata names. v0 is always a preferred election; from v1
// the request names its type, and one Cairn does not know is
// INVALID_REQUEST for the whole request and every partition named. A null
// topic list elects on every partition and lists only those that needed an
// election. The request's timeout is not used: the answer waits for the
// commit, not for the new leaders to take over.
func (n *Node) handleElectLeaders(r *request, req *kmsg.ElectLeadersRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	kind := controller.ElectPreferred
	if req.Version >= 1 {
		kind = controller.ElectionType(req.ElectionType)
	}
	c := n.meta.active
	var refused *kerr.Error
	switch {
	case c == nil:
		refused = kerr.NotController
	case kind != controller.ElectPreferred && kind != controller.ElectUnclean:
		refused = kerr.InvalidRequest
	}
	if refused != nil {
		if req.Version >= 1 {
			resp.ErrorCode = refused.Code
		}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				addElectionResult(resp, controller.ElectionResult{
					PartitionRef: controller.PartitionRef{Topic: rt.Topic, Partition: p}, Code: refused})
			}
		}
		n.respond(id, seq, h, resp)
		return
	}
	var results []controller.ElectionResult
	if req.Topics == nil {
		results = c.ElectAllLeaders(now, kind)
	} else {
		var refs []controller.PartitionRef
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				refs = append(refs, controller.PartitionRef{Topic: rt.Topic, Partition: p})
			}
		}
		results = c.ElectLeaders(now, kind, refs)
	}
	moved := 0
	for _, result := range results {
		addElectionResult(resp, result)
		if result.Code == nil {
			moved++
		}
	}
	if moved > 0 {
		n.logger.Info("electing leaders at an operator's request", "type", kind, "partitions", moved)
	}
	n.answerAfter(n.commitController(now), id, seq, h, resp)
}

// addElectionResult appends result to resp, under the last topic if it is
// the same one: results come grouped by topic, in request or image order.
func addElectionResult(resp *kmsg.ElectLeadersResponse, result controller.ElectionResult) {
	if len(resp.Topics) == 0 || resp.Topics[len(resp.Topics)-1].Topic != result.Topic {
		topic := kmsg.NewElectLeadersResponseTopic()
		topic.Topic = result.Topic
		resp.Topics = append(resp.Topics, topic)
	}
	p := kmsg.NewElectLeadersResponseTopicPartition()
	p.Partition = result.Partition
	if result.Code != nil {
		p.ErrorCode = result.Code.Code
		message := result.Code.Description
		p.ErrorMessage = &message
	}
	last := &resp.Topics[len(resp.Topics)-1]
	last.Partitions = append(last.Partitions, p)
}

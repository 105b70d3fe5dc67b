package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// The consumer group protocol of KIP-848: ConsumerGroupHeartbeat and
// ConsumerGroupDescribe.

// handleConsumerGroupHeartbeat hands a KIP-848 heartbeat to the group's
// coordinator, after giving it the current topics.
func (n *Node) handleConsumerGroupHeartbeat(r *request, req *kmsg.ConsumerGroupHeartbeatRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		n.updateCoordinatorTopics(r.now, hc)
		hc.core.ConsumerGroupHeartbeat(r.now, token, req, r.header.ClientID, "/"+n.config.AdvertisedHost)
	})
}

// handleConsumerGroupDescribe describes consumer-protocol groups, each
// from its coordinator here.
func (n *Node) handleConsumerGroupDescribe(r *request, req *kmsg.ConsumerGroupDescribeRequest) {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	n.eachGroup(r.now, req.Groups, func(_ int, name string, hc *hostedCoordinator) {
		if name == "" {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.ErrorCode = kerr.InvalidGroupID.Code
			resp.Groups = append(resp.Groups, dg)
			return
		}
		n.updateCoordinatorTopics(r.now, hc)
		resp.Groups = append(resp.Groups, hc.core.ConsumerGroupDescribe(name))
	}, func(_ int, name string, code int16) {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group, dg.ErrorCode = name, code
		resp.Groups = append(resp.Groups, dg)
	})
	n.answer(r, resp)
}

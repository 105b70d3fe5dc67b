package replica

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core/group"
)

// handleOffsetCommit hands a commit to its group's coordinator; it is
// acknowledged, and visible to OffsetFetch, once written. A broker that is
// not the coordinator answers every partition with the error.
func (n *Node) handleOffsetCommit(r *request, req *kmsg.OffsetCommitRequest) {
	refuse := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			respTopic := kmsg.NewOffsetCommitResponseTopic()
			respTopic.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				respPart := kmsg.NewOffsetCommitResponseTopicPartition()
				respPart.Partition, respPart.ErrorCode = rp.Partition, code
				respTopic.Partitions = append(respTopic.Partitions, respPart)
			}
			resp.Topics = append(resp.Topics, respTopic)
		}
		return resp
	}
	if req.Version == 0 {
		// v0 carries no generation: it is a commit from outside the
		// group, as kmsg leaves the field's default of -1.
		req.Generation = -1
	}
	n.toGroup(r, req.Group, refuse, func(hc *hostedCoordinator, token group.Token) {
		hc.core.OffsetCommit(r.now, token, req, n.partitionKnown)
	})
}

package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetForLeaderEpoch answers, as leader, where a leader epoch ends
// in its log: followers truncate by it (KIP-101, KIP-279) and consumers
// validate their position after a leader change (KIP-320).
func (n *Node) handleOffsetForLeaderEpoch(r *request, req *kmsg.OffsetForLeaderEpochRequest) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		out := kmsg.NewOffsetForLeaderEpochResponseTopic()
		out.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			part := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			part.Partition = rp.Partition
			part.LeaderEpoch, part.EndOffset = -1, -1
			p := n.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil && n.imagePartitionExists(rt.Topic, rp.Partition):
				part.ErrorCode = kerr.NotLeaderForPartition.Code
			case p == nil:
				part.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				epoch, end, code := p.core.EpochEndOffset(rp.CurrentLeaderEpoch, rp.LeaderEpoch)
				part.LeaderEpoch, part.EndOffset, part.ErrorCode = epoch, end, int16(code)
			}
			out.Partitions = append(out.Partitions, part)
		}
		resp.Topics = append(resp.Topics, out)
	}
	n.answer(r, resp)
}

package replica

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetFetch answers from the coordinators' committed offsets: -1
// for a partition without a commit, every committed partition when the
// request names no topics. RequireStable (v7+, KIP-447) asks for
// UNSTABLE_OFFSET_COMMIT where a transaction's offset commit is pending;
// Cairn has no transactions, and a plain commit becomes visible only once
// it is written, so every offset answered is stable.
func (n *Node) handleOffsetFetch(r *request, req *kmsg.OffsetFetchRequest) {
	n.answer(r, n.offsetFetchResponse(r.now, req))
}

func (n *Node) offsetFetchResponse(now time.Time, req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		if req.Topics != nil {
			topics = make([]kmsg.OffsetFetchRequestGroupTopic, len(req.Topics))
			for i, rt := range req.Topics {
				topics[i] = kmsg.OffsetFetchRequestGroupTopic{Topic: rt.Topic, Partitions: rt.Partitions}
			}
		}
		g := n.offsetFetchGroup(now, req.Group, topics, req.Topics == nil && req.Version >= 2)
		resp.ErrorCode = g.ErrorCode
		for _, gt := range g.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if req.Version < 2 && g.ErrorCode != 0 {
			// v0 and v1 have no top-level error: each partition carries it.
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = g.ErrorCode
				}
			}
		}
		return resp
	}
	for _, rg := range req.Groups {
		if req.Version >= 9 {
			if hc, code := n.coordinatorFor(now, rg.Group); code == 0 {
				if code := hc.core.CheckOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch); code != 0 {
					out := kmsg.NewOffsetFetchResponseGroup()
					out.Group, out.ErrorCode = rg.Group, code
					resp.Groups = append(resp.Groups, out)
					continue
				}
			}
		}
		resp.Groups = append(resp.Groups, n.offsetFetchGroup(now, rg.Group, rg.Topics, rg.Topics == nil))
	}
	return resp
}

func (n *Node) offsetFetchGroup(now time.Time, groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, all bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = groupID
	hc, code := n.coordinatorFor(now, groupID)
	if code != 0 {
		out.ErrorCode = code
		for _, rt := range topics {
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.Topic = rt.Topic
			for _, partition := range rt.Partitions {
				gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				gp.Partition, gp.Offset, gp.ErrorCode = partition, -1, code
				gt.Partitions = append(gt.Partitions, gp)
			}
			out.Topics = append(out.Topics, gt)
		}
		return out
	}
	if all {
		for _, o := range hc.core.AllCommitted(groupID) {
			if len(out.Topics) == 0 || out.Topics[len(out.Topics)-1].Topic != o.Topic {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = o.Topic
				out.Topics = append(out.Topics, gt)
			}
			gt := &out.Topics[len(out.Topics)-1]
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			metadata := o.Metadata
			gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata = o.Partition, o.Offset, o.LeaderEpoch, &metadata
			gt.Partitions = append(gt.Partitions, gp)
		}
		return out
	}
	for _, rt := range topics {
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		gt.Topic = rt.Topic
		for _, partition := range rt.Partitions {
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.Partition, gp.Offset, gp.LeaderEpoch = partition, -1, -1
			if o, ok := hc.core.Committed(groupID, rt.Topic, partition); ok {
				metadata := o.Metadata
				gp.Offset, gp.LeaderEpoch, gp.Metadata = o.Offset, o.LeaderEpoch, &metadata
			} else {
				empty := ""
				gp.Metadata = &empty
			}
			gt.Partitions = append(gt.Partitions, gp)
		}
		out.Topics = append(out.Topics, gt)
	}
	return out
}

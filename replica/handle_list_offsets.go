package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
)

// ListOffsets special timestamps.
const (
	listOffsetsLatest   = -1
	listOffsetsEarliest = -2
)

func (n *Node) handleListOffsets(r *request, req *kmsg.ListOffsetsRequest) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		respTopic := &resp.Topics[i]
		respTopic.Default()
		respTopic.Topic = rt.Topic
		respTopic.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			part := &respTopic.Partitions[j]
			part.Default()
			part.Partition = rt.Partitions[j].Partition
			n.listOffset(req, rt.Topic, &rt.Partitions[j], part)
			if req.Version == 0 && part.ErrorCode == 0 {
				part.OldStyleOffsets = []int64{part.Offset}
			}
		}
	}
	n.answer(r, resp)
}

func (n *Node) listOffset(req *kmsg.ListOffsetsRequest, topicName string, rp *kmsg.ListOffsetsRequestTopicPartition, part *kmsg.ListOffsetsResponseTopicPartition) {
	p := n.partition(topicName, rp.Partition)
	if p == nil {
		part.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if n.imagePartitionExists(topicName, rp.Partition) {
			part.ErrorCode = kerr.NotLeaderForPartition.Code
		}
		return
	}
	if code := p.core.CheckEpoch(rp.CurrentLeaderEpoch); code != 0 {
		part.ErrorCode = int16(code)
		return
	}
	if p.core.Role() != core.RoleLeader {
		part.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	part.LeaderEpoch = p.core.LeaderEpoch()
	part.Timestamp = -1
	// Consumers see only committed records, so "latest" is the high
	// watermark, not the log end.
	hw := p.core.HighWatermark()
	switch rp.Timestamp {
	case listOffsetsLatest:
		part.Offset = hw
	case listOffsetsEarliest:
		part.Offset = p.core.StartOffset()
	default:
		if rp.Timestamp < 0 {
			part.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		offset, timestamp, found, err := p.log.OffsetForTimestamp(rp.Timestamp)
		switch {
		case err != nil:
			n.logger.Error("offset for timestamp", "topic", topicName, "partition", rp.Partition, "err", err)
			part.ErrorCode = kerr.KafkaStorageError.Code
		case !found || offset >= hw:
			part.Offset = -1
		default:
			part.Offset = offset
			part.Timestamp = timestamp
		}
	}
}

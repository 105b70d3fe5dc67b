package perf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicReadyTimeout bounds the wait for a topic's partitions to have leaders.
const topicReadyTimeout = 30 * time.Second

// createTopic creates topic with the given partitions unless it exists.
func createTopic(ctx context.Context, client *kgo.Client, topic string, partitions int32, replicationFactor int16) error {
	request := kmsg.NewPtrCreateTopicsRequest()
	request.TimeoutMillis = int32(topicReadyTimeout.Milliseconds())
	requestTopic := kmsg.NewCreateTopicsRequestTopic()
	requestTopic.Topic = topic
	requestTopic.NumPartitions = partitions
	requestTopic.ReplicationFactor = -1
	if replicationFactor > 0 {
		requestTopic.ReplicationFactor = replicationFactor
	}
	request.Topics = append(request.Topics, requestTopic)
	response, err := request.RequestWith(ctx, client)
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	if len(response.Topics) != 1 {
		return fmt.Errorf("creating topic %q: the broker answered for %d topics", topic, len(response.Topics))
	}
	if err := kerr.ErrorForCode(response.Topics[0].ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		message := ""
		if m := response.Topics[0].ErrorMessage; m != nil {
			message = ": " + *m
		}
		return fmt.Errorf("creating topic %q: %w%s", topic, err, message)
	}
	return nil
}

// topicPartitions waits until every partition of topic has a leader and
// returns the partition ids. It fails if the topic does not exist and
// waitForCreation is false; with waitForCreation it asks the broker to
// auto-create the topic (Metadata v4+ only auto-creates when asked), and
// waits for it.
func topicPartitions(ctx context.Context, client *kgo.Client, topic string, waitForCreation bool) ([]int32, error) {
	ctx, cancel := context.WithTimeout(ctx, topicReadyTimeout)
	defer cancel()
	var lastProblem error
	for {
		request := kmsg.NewPtrMetadataRequest()
		request.AllowAutoTopicCreation = waitForCreation
		requestTopic := kmsg.NewMetadataRequestTopic()
		requestTopic.Topic = kmsg.StringPtr(topic)
		request.Topics = append(request.Topics, requestTopic)
		response, err := request.RequestWith(ctx, client)
		switch {
		case err != nil:
			lastProblem = err
		case len(response.Topics) != 1:
			lastProblem = fmt.Errorf("the broker answered for %d topics", len(response.Topics))
		default:
			lastProblem = partitionsProblem(&response.Topics[0])
			if lastProblem == nil {
				partitions := make([]int32, 0, len(response.Topics[0].Partitions))
				for _, p := range response.Topics[0].Partitions {
					partitions = append(partitions, p.Partition)
				}
				return partitions, nil
			}
			if errors.Is(lastProblem, kerr.UnknownTopicOrPartition) && !waitForCreation {
				return nil, fmt.Errorf("topic %q does not exist", topic)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %q is not ready: %w (%v)", topic, lastProblem, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// partitionsProblem reports why a topic's metadata is not yet usable.
func partitionsProblem(topic *kmsg.MetadataResponseTopic) error {
	if err := kerr.ErrorForCode(topic.ErrorCode); err != nil {
		return err
	}
	if len(topic.Partitions) == 0 {
		return errors.New("no partitions")
	}
	for _, p := range topic.Partitions {
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, err)
		}
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.Partition)
		}
	}
	return nil
}

// offsetRange is the readable range [start, end) of one partition.
type offsetRange struct {
	start, end int64
}

// partitionOffsets returns the log start offset and high watermark of every
// partition of topic.
func partitionOffsets(ctx context.Context, client *kgo.Client, topic string, partitions []int32) (map[int32]offsetRange, error) {
	ranges := make(map[int32]offsetRange, len(partitions))
	for _, timestamp := range []int64{-2, -1} { // earliest, then latest
		request := kmsg.NewPtrListOffsetsRequest()
		request.ReplicaID = -1
		requestTopic := kmsg.NewListOffsetsRequestTopic()
		requestTopic.Topic = topic
		for _, partition := range partitions {
			requestPartition := kmsg.NewListOffsetsRequestTopicPartition()
			requestPartition.Partition = partition
			requestPartition.CurrentLeaderEpoch = -1
			requestPartition.Timestamp = timestamp
			requestPartition.MaxNumOffsets = 1
			requestTopic.Partitions = append(requestTopic.Partitions, requestPartition)
		}
		request.Topics = append(request.Topics, requestTopic)
		response, err := request.RequestWith(ctx, client)
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %q: %w", topic, err)
		}
		seen := 0
		for _, t := range response.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("listing offsets of %q partition %d: %w", topic, p.Partition, err)
				}
				r := ranges[p.Partition]
				if timestamp == -2 {
					r.start = p.Offset
				} else {
					r.end = p.Offset
				}
				ranges[p.Partition] = r
				seen++
			}
		}
		if seen != len(partitions) {
			return nil, fmt.Errorf("listing offsets of %q: answers for %d of %d partitions", topic, seen, len(partitions))
		}
	}
	return ranges, nil
}

package replica

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetsTopicWaitsForReplicationFactor: in a cluster whose default
// replication factor is 3, __consumer_offsets is not created while fewer
// than three brokers are live (FindCoordinator answers
// COORDINATOR_NOT_AVAILABLE, and nothing is proposed); once the third
// registers, it is created with three replicas per partition. Created
// earlier it would keep fewer copies of every group's commits for good.
func TestOffsetsTopicWaitsForReplicationFactor(t *testing.T) {
	c := newControllerHarness(t, func(config *Config) {
		config.DefaultReplicationFactor = 3
		config.OffsetsTopicPartitions = 4
	})
	c.register(1)
	find := func() *kmsg.FindCoordinatorResponse {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(4)
		req.CoordinatorKeys = []string{"g"}
		resp := c.request(req).(*kmsg.FindCoordinatorResponse)
		c.settle()
		return resp
	}
	for range 3 {
		resp := find()
		if code := resp.Coordinators[0].ErrorCode; code != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("two of three brokers live: FindCoordinator answered %s, want COORDINATOR_NOT_AVAILABLE", errName(code))
		}
		if _, ok := c.node.meta.image.Topic(offsetsTopic); ok {
			t.Fatalf("two of three brokers live: %s was created", offsetsTopic)
		}
	}

	c.register(2)
	var resp *kmsg.FindCoordinatorResponse
	for range 3 {
		if resp = find(); resp.Coordinators[0].ErrorCode == 0 {
			break
		}
	}
	if code := resp.Coordinators[0].ErrorCode; code != 0 {
		t.Fatalf("three brokers live: FindCoordinator still answers %s", errName(code))
	}
	topic, ok := c.node.meta.image.Topic(offsetsTopic)
	if !ok {
		t.Fatalf("%s not created with three brokers live", offsetsTopic)
	}
	if topic.PartitionCount != 4 {
		t.Fatalf("%s has %d partitions, want 4", offsetsTopic, topic.PartitionCount)
	}
	for i := range topic.PartitionCount {
		p, _ := c.node.meta.image.Partition(offsetsTopic, i)
		if len(p.Replicas) != 3 {
			t.Errorf("%s-%d has replicas %v, want three", offsetsTopic, i, p.Replicas)
		}
	}
}

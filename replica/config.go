package replica

import (
	"fmt"
	"time"

	"cairn/core"
	"cairn/replica/storage"
)

// Config is a node's configuration. DefaultConfig gives the embedded
// defaults that `cairn serve` starts with.
type Config struct {
	// NodeID is this broker's id in the cluster.
	NodeID int32
	// Standalone runs the node as a one-broker cluster with its own
	// controller and a local metadata log. A clustered node (false) gets
	// its metadata log from the driver.
	Standalone bool
	// ClusterID names the cluster in Metadata responses and topic ids.
	ClusterID string
	// Rack is this broker's rack, for spreading replicas.
	Rack string
	// SessionTimeout is how long the controller waits for a broker's
	// heartbeat before fencing it.
	SessionTimeout time.Duration
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients.
	AdvertisedHost string
	AdvertisedPort int32
	// DataDir holds the metadata file and one directory per partition.
	DataDir string
	// AutoCreateTopics creates an unknown topic on Metadata or Produce
	// (Kafka's auto.create.topics.enable).
	AutoCreateTopics bool
	// DefaultPartitions is num.partitions: the partition count of an
	// auto-created topic, or of CreateTopics asking for -1.
	DefaultPartitions int32
	// DefaultReplicationFactor is default.replication.factor: the
	// replication of an auto-created topic, or of CreateTopics asking for -1.
	DefaultReplicationFactor int16
	// Durability decides when a record counts toward an acknowledgment.
	Durability core.DurabilityMode
	// Log configures segment files.
	Log storage.Config
	// MessageBytesMax is max.message.bytes: the largest batch accepted.
	MessageBytesMax int32
	// ReplicaLagMax is replica.lag.time.max.ms: how long a follower may
	// fall behind before it leaves the ISR.
	ReplicaLagMax time.Duration
	// FetchWaitMax caps a fetch's MaxWaitMillis, so a client cannot park a
	// request forever.
	FetchWaitMax time.Duration
	// ProducerIdleMax is producer.id.expiration.ms: a partition forgets an
	// idempotent producer that has not written for this long. Zero means
	// core.DefaultProducerIdleMax (a day, Kafka's default).
	ProducerIdleMax time.Duration
	// ProducerExpiryInterval is producer.id.expiration.check.interval.ms:
	// how often partitions look for expired producers. Zero means 10 s.
	ProducerExpiryInterval time.Duration
	// OffsetsTopicPartitions is offsets.topic.num.partitions: the
	// partitions of __consumer_offsets when it is created. Zero means
	// Kafka's 50.
	OffsetsTopicPartitions int32
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms: how
	// long the first rebalance of an empty group waits for more members.
	GroupInitialRebalanceDelay time.Duration
	// GroupSessionTimeoutMin is group.min.session.timeout.ms; zero means
	// Kafka's 6 s.
	GroupSessionTimeoutMin time.Duration
	// GroupConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms:
	// how often consumer-protocol (KIP-848) members are told to
	// heartbeat. Zero means Kafka's 5 s.
	GroupConsumerHeartbeatInterval time.Duration
	// GroupConsumerSessionTimeout is group.consumer.session.timeout.ms:
	// a consumer-protocol member silent this long is removed. Zero means
	// Kafka's 45 s.
	GroupConsumerSessionTimeout time.Duration
	// GroupConsumerAssignor is the server-side assignor of a consumer
	// group whose members name none (group.consumer.assignors' first):
	// "uniform" or "range". Empty means uniform.
	GroupConsumerAssignor string
}

// offsetsTopicPartitionsDefault is Kafka's offsets.topic.num.partitions.
const offsetsTopicPartitionsDefault = 50

func (c Config) offsetsTopicPartitions() int32 {
	if c.OffsetsTopicPartitions > 0 {
		return c.OffsetsTopicPartitions
	}
	return offsetsTopicPartitionsDefault
}

// DefaultConfig returns the embedded single-node defaults.
func DefaultConfig() Config {
	return Config{
		NodeID:                   0,
		Standalone:               true,
		ClusterID:                "cairn",
		SessionTimeout:           9 * time.Second,
		AdvertisedHost:           "127.0.0.1",
		AdvertisedPort:           9092,
		DataDir:                  "data",
		AutoCreateTopics:         true,
		DefaultPartitions:        1,
		DefaultReplicationFactor: 1,
		Durability:               core.DurableAcks,
		Log:                      storage.DefaultConfig(),
		MessageBytesMax:          1048588,
		FetchWaitMax:             30 * time.Second,
		ReplicaLagMax:            30 * time.Second,
		// Consumer groups, as Kafka's defaults.
		GroupInitialRebalanceDelay:     3 * time.Second,
		GroupConsumerHeartbeatInterval: 5 * time.Second,
		GroupConsumerSessionTimeout:    45 * time.Second,
		GroupConsumerAssignor:          "uniform",
	}
}

// Validate refuses configurations the node cannot run with.
func (c Config) Validate() error {
	switch {
	case c.NodeID < 0:
		return fmt.Errorf("node id %d: must be >= 0", c.NodeID)
	case c.DataDir == "":
		return fmt.Errorf("data dir: must not be empty")
	case c.DefaultPartitions < 1:
		return fmt.Errorf("default partitions %d: must be >= 1", c.DefaultPartitions)
	case c.MessageBytesMax < 1024:
		return fmt.Errorf("max message bytes %d: must be >= 1024", c.MessageBytesMax)
	case c.Log.SegmentBytesMax < 1024:
		return fmt.Errorf("segment bytes %d: must be >= 1024", c.Log.SegmentBytesMax)
	case c.OffsetsTopicPartitions < 0:
		return fmt.Errorf("offsets topic partitions %d: must be >= 0", c.OffsetsTopicPartitions)
	case c.GroupInitialRebalanceDelay < 0:
		return fmt.Errorf("group initial rebalance delay %v: must be >= 0", c.GroupInitialRebalanceDelay)
	case c.GroupConsumerHeartbeatInterval < 0 || c.GroupConsumerSessionTimeout < 0:
		return fmt.Errorf("consumer group heartbeat interval %v, session timeout %v: must be >= 0",
			c.GroupConsumerHeartbeatInterval, c.GroupConsumerSessionTimeout)
	case c.GroupConsumerHeartbeatInterval > 0 && c.GroupConsumerSessionTimeout > 0 &&
		c.GroupConsumerHeartbeatInterval >= c.GroupConsumerSessionTimeout:
		return fmt.Errorf("consumer group heartbeat interval %v: must be below the session timeout %v",
			c.GroupConsumerHeartbeatInterval, c.GroupConsumerSessionTimeout)
	case c.GroupConsumerAssignor != "" && c.GroupConsumerAssignor != "uniform" && c.GroupConsumerAssignor != "range":
		return fmt.Errorf("consumer group assignor %q: must be uniform or range", c.GroupConsumerAssignor)
	case c.FetchWaitMax <= 0:
		return fmt.Errorf("fetch wait max %v: must be > 0", c.FetchWaitMax)
	}
	return nil
}

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
	// AutoLeaderRebalance is auto.leader.rebalance.enable: the active
	// controller checks every LeaderImbalanceCheckInterval and moves
	// leaders back to their preferred replicas (the first of each
	// assignment) for every broker whose imbalance exceeds
	// LeaderImbalancePerBrokerPercentage.
	AutoLeaderRebalance bool
	// LeaderImbalanceCheckInterval is leader.imbalance.check.interval.seconds.
	LeaderImbalanceCheckInterval time.Duration
	// LeaderImbalancePerBrokerPercentage is leader.imbalance.per.broker.percentage:
	// the share, in per cent, of the partitions a broker is preferred for
	// that may be led elsewhere before the check moves them back.
	LeaderImbalancePerBrokerPercentage int32
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
		// Leader rebalancing, as Kafka's defaults.
		AutoLeaderRebalance:                true,
		LeaderImbalanceCheckInterval:       300 * time.Second,
		LeaderImbalancePerBrokerPercentage: 10,
	}
}

// A ConfigError is a rule of Validate that a Config breaks. Field is the
// Config field (Log.SegmentBytesMax for a nested one), so that a front end
// can name the setting as its user gave it; Rule says what the field wants.
type ConfigError struct {
	Field string
	Value any
	Rule  string
}

func (e *ConfigError) Error() string { return e.Describe(e.Field) }

// Describe is the error with the field named as label.
func (e *ConfigError) Describe(label string) string {
	if s, ok := e.Value.(string); ok {
		return fmt.Sprintf("%s %q: %s", label, s, e.Rule)
	}
	return fmt.Sprintf("%s %v: %s", label, e.Value, e.Rule)
}

// Bounds of Validate's rules.
const (
	// sessionTimeoutMin leaves a broker room for one lost heartbeat.
	sessionTimeoutMin = 2 * heartbeatInterval
	// consumerHeartbeatIntervalMin keeps KIP-848 members from heartbeating
	// in a busy loop.
	consumerHeartbeatIntervalMin = 100 * time.Millisecond
	// producerIdleMaxMin is the shortest producer id expiration, Kafka's
	// (producer.id.expiration.ms at least 1). Shorter than a producer's
	// retry gap it makes the retry look new, as in Kafka; the simulator
	// draws such values to race expiry against retries.
	producerIdleMaxMin = time.Millisecond
	// leaderImbalanceCheckIntervalMin is Kafka's: the setting is in seconds.
	leaderImbalanceCheckIntervalMin = time.Second
	// Kafka's defaults for the consumer-group fields left zero.
	consumerHeartbeatIntervalDefault = 5 * time.Second
	consumerSessionTimeoutDefault    = 45 * time.Second
)

// Validate refuses configurations the node cannot run with. It holds every
// rule of the node's settings; `cairn serve` parses and calls it, naming
// the setting a *ConfigError names.
func (c Config) Validate() error {
	heartbeat, session := c.GroupConsumerHeartbeatInterval, c.GroupConsumerSessionTimeout
	if heartbeat == 0 {
		heartbeat = consumerHeartbeatIntervalDefault
	}
	if session == 0 {
		session = consumerSessionTimeoutDefault
	}
	refuse := func(field string, value any, rule string, args ...any) error {
		return &ConfigError{Field: field, Value: value, Rule: fmt.Sprintf(rule, args...)}
	}
	switch {
	case c.NodeID < 0:
		return refuse("NodeID", c.NodeID, "must be >= 0")
	case c.ClusterID == "":
		return refuse("ClusterID", c.ClusterID, "must not be empty")
	case c.DataDir == "":
		return refuse("DataDir", c.DataDir, "must not be empty")
	case c.SessionTimeout < sessionTimeoutMin:
		return refuse("SessionTimeout", c.SessionTimeout, "must be at least %v (brokers heartbeat every %v)", sessionTimeoutMin, heartbeatInterval)
	case c.DefaultPartitions < 1 || c.DefaultPartitions > partitionsMax:
		return refuse("DefaultPartitions", c.DefaultPartitions, "must be between 1 and %d", partitionsMax)
	case c.DefaultReplicationFactor < 1:
		return refuse("DefaultReplicationFactor", c.DefaultReplicationFactor, "must be >= 1")
	case c.Durability != core.DurableAcks && c.Durability != core.ReplicationAcks:
		return refuse("Durability", c.Durability.String(), "want durable or replication")
	case c.MessageBytesMax < 1024:
		return refuse("MessageBytesMax", c.MessageBytesMax, "must be >= 1024")
	case c.Log.SegmentBytesMax < 1024:
		return refuse("Log.SegmentBytesMax", c.Log.SegmentBytesMax, "must be at least 1024 bytes")
	case c.FetchWaitMax <= 0:
		return refuse("FetchWaitMax", c.FetchWaitMax, "must be > 0")
	case c.ProducerIdleMax < 0 || c.ProducerIdleMax > 0 && c.ProducerIdleMax < producerIdleMaxMin:
		return refuse("ProducerIdleMax", c.ProducerIdleMax, "must be at least %v (0: a day)", producerIdleMaxMin)
	case c.OffsetsTopicPartitions < 0 || c.OffsetsTopicPartitions > partitionsMax:
		return refuse("OffsetsTopicPartitions", c.OffsetsTopicPartitions, "must be between 1 and %d (0: %d)", partitionsMax, offsetsTopicPartitionsDefault)
	case c.GroupInitialRebalanceDelay < 0:
		return refuse("GroupInitialRebalanceDelay", c.GroupInitialRebalanceDelay, "must not be negative")
	case heartbeat < consumerHeartbeatIntervalMin:
		return refuse("GroupConsumerHeartbeatInterval", c.GroupConsumerHeartbeatInterval, "must be at least %v", consumerHeartbeatIntervalMin)
	case session <= heartbeat:
		return refuse("GroupConsumerSessionTimeout", session, "must be above the consumer group heartbeat interval (%v)", heartbeat)
	case c.GroupConsumerAssignor != "" && c.GroupConsumerAssignor != "uniform" && c.GroupConsumerAssignor != "range":
		return refuse("GroupConsumerAssignor", c.GroupConsumerAssignor, "must be uniform or range")
	case c.LeaderImbalanceCheckInterval < leaderImbalanceCheckIntervalMin:
		return refuse("LeaderImbalanceCheckInterval", c.LeaderImbalanceCheckInterval, "must be at least %v", leaderImbalanceCheckIntervalMin)
	case c.LeaderImbalancePerBrokerPercentage < 0 || c.LeaderImbalancePerBrokerPercentage > 100:
		return refuse("LeaderImbalancePerBrokerPercentage", c.LeaderImbalancePerBrokerPercentage, "must be between 0 and 100")
	}
	return nil
}

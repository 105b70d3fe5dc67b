package replica

import (
	"errors"
	"testing"
	"time"

	"cairn/core"
)

// TestValidateRules breaks each rule of Config.Validate once, starting from
// the defaults, and requires the ConfigError to name the field broken; the
// defaults, and the zeros that mean a default, pass.
func TestValidateRules(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	zeros := DefaultConfig()
	zeros.ProducerIdleMax, zeros.OffsetsTopicPartitions = 0, 0
	zeros.GroupConsumerHeartbeatInterval, zeros.GroupConsumerSessionTimeout, zeros.GroupConsumerAssignor = 0, 0, ""
	zeros.LeaderImbalancePerBrokerPercentage = 0
	if err := zeros.Validate(); err != nil {
		t.Fatalf("zeros meaning a default refused: %v", err)
	}
	for _, c := range []struct {
		field  string
		change func(*Config)
	}{
		{"NodeID", func(c *Config) { c.NodeID = -1 }},
		{"ClusterID", func(c *Config) { c.ClusterID = "" }},
		{"DataDir", func(c *Config) { c.DataDir = "" }},
		{"SessionTimeout", func(c *Config) { c.SessionTimeout = time.Second }},
		{"DefaultPartitions", func(c *Config) { c.DefaultPartitions = 0 }},
		{"DefaultPartitions", func(c *Config) { c.DefaultPartitions = partitionsMax + 1 }},
		{"DefaultReplicationFactor", func(c *Config) { c.DefaultReplicationFactor = 0 }},
		{"Durability", func(c *Config) { c.Durability = core.DurabilityMode(9) }},
		{"MessageBytesMax", func(c *Config) { c.MessageBytesMax = 1023 }},
		{"Log.SegmentBytesMax", func(c *Config) { c.Log.SegmentBytesMax = 1023 }},
		{"FetchWaitMax", func(c *Config) { c.FetchWaitMax = 0 }},
		{"ProducerIdleMax", func(c *Config) { c.ProducerIdleMax = 999 * time.Microsecond }},
		{"ProducerIdleMax", func(c *Config) { c.ProducerIdleMax = -time.Hour }},
		{"OffsetsTopicPartitions", func(c *Config) { c.OffsetsTopicPartitions = -1 }},
		{"OffsetsTopicPartitions", func(c *Config) { c.OffsetsTopicPartitions = partitionsMax + 1 }},
		{"GroupInitialRebalanceDelay", func(c *Config) { c.GroupInitialRebalanceDelay = -time.Second }},
		{"GroupConsumerHeartbeatInterval", func(c *Config) { c.GroupConsumerHeartbeatInterval = 10 * time.Millisecond }},
		{"GroupConsumerHeartbeatInterval", func(c *Config) { c.GroupConsumerHeartbeatInterval = -time.Second }},
		{"GroupConsumerSessionTimeout", func(c *Config) { c.GroupConsumerSessionTimeout = c.GroupConsumerHeartbeatInterval }},
		// A zero heartbeat interval is Kafka's 5 s, which a 2 s session
		// does not exceed.
		{"GroupConsumerSessionTimeout", func(c *Config) { c.GroupConsumerHeartbeatInterval, c.GroupConsumerSessionTimeout = 0, 2*time.Second }},
		{"GroupConsumerAssignor", func(c *Config) { c.GroupConsumerAssignor = "roundrobin" }},
		{"LeaderImbalanceCheckInterval", func(c *Config) { c.LeaderImbalanceCheckInterval = 500 * time.Millisecond }},
		{"LeaderImbalancePerBrokerPercentage", func(c *Config) { c.LeaderImbalancePerBrokerPercentage = -1 }},
		{"LeaderImbalancePerBrokerPercentage", func(c *Config) { c.LeaderImbalancePerBrokerPercentage = 101 }},
	} {
		config := DefaultConfig()
		c.change(&config)
		err := config.Validate()
		var refused *ConfigError
		if !errors.As(err, &refused) || refused.Field != c.field {
			t.Errorf("breaking %s: Validate said %v", c.field, err)
		}
	}
}

package replica

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"cairn/core/controller"
	"cairn/replica/storage"
)

// topicConfig describes one topic-level configuration key that Cairn
// understands: its Kafka type for DescribeConfigs, its documentation, how to
// compute its default from the node's config, and how to validate a value.
type topicConfig struct {
	kind          int8 // DescribeConfigs ConfigType: 1 boolean, 2 string, 3 int, 4 short, 5 long, 6 double, 7 list, 8 class, 9 password
	documentation string
	defaultValue  func(Config) string
	validate      func(string) error
}

func intRange(minimum, maximum int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < minimum || n > maximum {
			return fmt.Errorf("%d is outside [%d, %d]", n, minimum, maximum)
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, allowed := range values {
			if v == allowed {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %v", v, values)
	}
}

func constant(v string) func(Config) string { return func(Config) string { return v } }

// topicConfigs is every topic config key Cairn accepts. Keys it does not act
// on yet are still accepted and reported, because tools set them routinely;
// each says so in its documentation.
var topicConfigs = map[string]topicConfig{
	"segment.bytes": {kind: 3, documentation: "Size at which the active segment file rolls.",
		defaultValue: func(c Config) string { return strconv.FormatInt(c.Log.SegmentBytesMax, 10) },
		validate:     intRange(14, 1<<31-1)},
	"segment.ms": {kind: 5, documentation: "Age at which the active segment file rolls.",
		defaultValue: func(c Config) string { return strconv.FormatInt(c.Log.SegmentAgeMax.Milliseconds(), 10) },
		validate:     intRange(1, 1<<62)},
	"max.message.bytes": {kind: 3, documentation: "Largest record batch accepted.",
		defaultValue: func(c Config) string { return strconv.Itoa(int(c.MessageBytesMax)) },
		validate:     intRange(0, 1<<31-1)},
	"retention.ms": {kind: 5, documentation: "Time-based retention (accepted; deletion arrives with the retention work).",
		defaultValue: constant("604800000"), validate: intRange(-1, 1<<62)},
	"retention.bytes": {kind: 5, documentation: "Size-based retention (accepted; deletion arrives with the retention work).",
		defaultValue: constant("-1"), validate: intRange(-1, 1<<62)},
	"cleanup.policy": {kind: 7, documentation: "delete or compact (accepted; compaction arrives with the retention work).",
		defaultValue: constant("delete"), validate: oneOf("delete", "compact", "compact,delete", "delete,compact")},
	"min.insync.replicas": {kind: 3, documentation: "Smallest ISR that may acknowledge acks=all.",
		defaultValue: constant("1"), validate: intRange(1, 1<<15-1)},
	"message.timestamp.type": {kind: 2, documentation: "CreateTime: batches keep the producer's timestamps (LogAppendTime is not supported yet).",
		defaultValue: constant("CreateTime"), validate: oneOf("CreateTime")},
	"compression.type": {kind: 2, documentation: "Batches are stored as the producer compressed them.",
		defaultValue: constant("producer"), validate: oneOf("producer")},
	"unclean.leader.election.enable": {kind: 1, documentation: "Never elect a replica outside the ISR (unclean election is refused).",
		defaultValue: constant("false"), validate: oneOf("false")},
}

// sortedTopicConfigKeys lists topicConfigs in one fixed order.
var sortedTopicConfigKeys = func() []string {
	keys := make([]string, 0, len(topicConfigs))
	for k := range topicConfigs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}()

// validateTopicConfigs checks every override; the error names the key.
func validateTopicConfigs(configs map[string]string) error {
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tc, ok := topicConfigs[k]
		if !ok {
			return fmt.Errorf("unknown topic config %q", k)
		}
		if err := tc.validate(configs[k]); err != nil {
			return fmt.Errorf("topic config %s: %w", k, err)
		}
	}
	return nil
}

// minInsyncDefault is min.insync.replicas for topics that do not set it;
// the controller counts ELRs with the same default.
func (n *Node) minInsyncDefault() int {
	v, err := strconv.Atoi(topicConfigs[controller.MinInsyncReplicasConfig].defaultValue(n.config))
	if err != nil {
		return 1
	}
	return v
}

// topicValue returns the effective value of key and whether it is an override.
func topicValue(c Config, overrides map[string]string, key string) (string, bool) {
	if v, ok := overrides[key]; ok {
		return v, true
	}
	return topicConfigs[key].defaultValue(c), false
}

func topicInt(c Config, overrides map[string]string, key string) (int64, error) {
	v, _ := topicValue(c, overrides, key)
	return strconv.ParseInt(v, 10, 64)
}

// topicLogConfig derives the segment settings of one topic.
func topicLogConfig(c Config, overrides map[string]string) (storage.Config, error) {
	out := c.Log
	segmentBytes, err := topicInt(c, overrides, "segment.bytes")
	if err != nil {
		return out, err
	}
	segmentMillis, err := topicInt(c, overrides, "segment.ms")
	if err != nil {
		return out, err
	}
	out.SegmentBytesMax = segmentBytes
	out.SegmentAgeMax = time.Duration(segmentMillis) * time.Millisecond
	return out, nil
}

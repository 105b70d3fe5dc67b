package replica

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs resource types and config sources, as Kafka numbers them.
const (
	resourceTopic           = 2
	resourceBroker          = 4
	sourceDynamicTopic      = 1
	sourceStaticBroker      = 4
	sourceDefault           = 5
	configTypeString   int8 = 2
)

func configSource(override bool) int8 {
	if override {
		return sourceDynamicTopic
	}
	return sourceDefault
}

func (n *Node) handleDescribeConfigs(r *request, req *kmsg.DescribeConfigsRequest) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		out := kmsg.NewDescribeConfigsResponseResource()
		out.ResourceType = rr.ResourceType
		out.ResourceName = rr.ResourceName
		switch rr.ResourceType {
		case resourceTopic:
			t, ok := n.meta.image.Topic(rr.ResourceName)
			if !ok {
				out.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, key := range sortedTopicConfigKeys {
				if !wanted(rr.ConfigNames, key) {
					continue
				}
				value, override := topicValue(n.config, t.Configs, key)
				out.Configs = append(out.Configs, describedConfig(req, key, value, configSource(override), false, topicConfigs[key]))
			}
		case resourceBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(n.config.NodeID)) {
				out.ErrorCode = kerr.InvalidRequest.Code
				message := "this broker is " + strconv.Itoa(int(n.config.NodeID))
				out.ErrorMessage = &message
				break
			}
			for _, bc := range n.brokerConfigs() {
				if wanted(rr.ConfigNames, bc.name) {
					out.Configs = append(out.Configs, describedConfig(req, bc.name, bc.value, sourceStaticBroker, true,
						topicConfig{kind: configTypeString, documentation: bc.documentation}))
				}
			}
		default:
			out.ErrorCode = kerr.InvalidRequest.Code
			message := "only topic and broker resources are described"
			out.ErrorMessage = &message
		}
		resp.Resources = append(resp.Resources, out)
	}
	n.answer(r, resp)
}

func wanted(names []string, key string) bool {
	if names == nil {
		return true
	}
	for _, n := range names {
		if n == key {
			return true
		}
	}
	return false
}

func describedConfig(req *kmsg.DescribeConfigsRequest, key, value string, source int8, readOnly bool, tc topicConfig) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = key
	v := value
	c.Value = &v
	c.ReadOnly = readOnly
	c.Source = kmsg.ConfigSource(source)
	c.IsDefault = source == sourceDefault
	c.ConfigType = kmsg.ConfigType(tc.kind)
	if req.IncludeSynonyms {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name = key
		s.Value = &v
		s.Source = kmsg.ConfigSource(source)
		c.ConfigSynonyms = append(c.ConfigSynonyms, s)
	}
	if req.IncludeDocumentation {
		doc := tc.documentation
		c.Documentation = &doc
	}
	return c
}

type brokerConfig struct{ name, value, documentation string }

func (n *Node) brokerConfigs() []brokerConfig {
	return []brokerConfig{
		{"auto.create.topics.enable", strconv.FormatBool(n.config.AutoCreateTopics), "Create unknown topics on Metadata requests."},
		{"broker.id", strconv.Itoa(int(n.config.NodeID)), "This broker's id."},
		{"cairn.durability", n.config.Durability.String(), "When a record counts toward an acknowledgment: durable (fsynced) or replication (in memory)."},
		{"log.dirs", n.config.DataDir, "The data directory."},
		{"log.segment.bytes", strconv.FormatInt(n.config.Log.SegmentBytesMax, 10), "Default segment.bytes."},
		{"message.max.bytes", strconv.Itoa(int(n.config.MessageBytesMax)), "Default max.message.bytes."},
		{"num.partitions", strconv.Itoa(int(n.config.DefaultPartitions)), "Partitions of an auto-created topic."},
	}
}

package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys the node answers.
const (
	apiKeyProduce         = 0
	apiKeyFetch           = 1
	apiKeyListOffsets     = 2
	apiKeyMetadata        = 3
	apiKeyOffsetCommit    = 8
	apiKeyOffsetFetch     = 9
	apiKeyFindCoordinator = 10
	apiKeyJoinGroup       = 11
	apiKeyHeartbeat       = 12
	apiKeyLeaveGroup      = 13
	apiKeySyncGroup       = 14
	apiKeyDescribeGroups  = 15
	apiKeyListGroups      = 16
	apiKeyDeleteGroups    = 42
	apiKeyOffsetDelete    = 47
	apiKeyInitProducerID  = 22
	apiKeyApiVersions     = 18
	apiKeyCreateTopics    = 19
	apiKeyDeleteTopics    = 20
	apiKeyDescribeConfigs = 32
	apiKeyOffsetForEpoch  = 23
	apiKeyAlterPartition  = 56
	apiKeyBrokerRegister  = 62
	apiKeyBrokerHeartbeat = 63

	apiKeyConsumerGroupHeartbeat = 68
	apiKeyConsumerGroupDescribe  = 69
)

// nonProduceFrameBytesMax bounds every request but Produce. Decoding
// allocates in proportion to the frame, so a small request kind arriving
// with a 100 MiB frame is refused instead of decoded.
const nonProduceFrameBytesMax = 8 << 20

// apiRange is one advertised version range. Only versions implemented in
// full are advertised. The minimums are chosen for old clients' feature
// detection: librdkafka enables message format v2 only if Produce v3 and
// Fetch v4 fall inside our ranges, zstd only with Produce v7 and Fetch v10,
// and offsets-for-times with ListOffsets v1; kafka-python 2.0.2 probes with
// ApiVersions v0 and Metadata v0.
type apiRange struct {
	key, min, max int16
	// internal APIs are answered but not advertised to clients: brokers
	// use them among themselves.
	internal bool
}

// apiRanges is sorted by key, the order ApiVersions lists them in.
var apiRanges = []apiRange{
	{apiKeyProduce, 3, 9, false},     // v3: record batches (magic 2); v9: flexible
	{apiKeyFetch, 4, 12, false},      // v4: record batches; v12: flexible, no topic ids yet
	{apiKeyListOffsets, 0, 6, false}, // v7 would add max-timestamp lookups
	{apiKeyMetadata, 0, 12, false},   // all versions; topic ids from v10

	// Consumer groups (handle_group.go): the classic protocol, and the
	// consumer protocol of KIP-848 (ConsumerGroupHeartbeat below).
	{apiKeyOffsetCommit, 0, 9, false},    // v6: leader epoch; v7: instance id; v8: flexible; v9: member epochs (KIP-848)
	{apiKeyOffsetFetch, 0, 9, false},     // v2: all topics; v7: require stable; v8: many groups; v9: member id and epoch
	{apiKeyFindCoordinator, 0, 4, false}, // v4: many keys
	{apiKeyJoinGroup, 0, 9, false},       // v4: MEMBER_ID_REQUIRED; v5: static members
	{apiKeyHeartbeat, 0, 4, false},       // v3: instance id
	{apiKeyLeaveGroup, 0, 5, false},      // v3: batched members
	{apiKeySyncGroup, 0, 5, false},       // v5: protocol type and name
	{apiKeyDescribeGroups, 0, 5, false},  // v3: authorized operations (not computed)
	{apiKeyListGroups, 0, 5, false},      // v4: states filter; v5: types filter

	{apiKeyApiVersions, 0, 3, false},     // v3: flexible, client software name
	{apiKeyCreateTopics, 0, 7, false},    // v5: configs in response; v7: topic ids
	{apiKeyDeleteTopics, 0, 6, false},    // v6: by name or id
	{apiKeyInitProducerID, 0, 4, false},  // non-transactional ids; v3: epoch bump fields (KIP-360); v4: flexible
	{apiKeyOffsetForEpoch, 2, 4, false},  // v2: current leader epoch (KIP-320); v3: replica id
	{apiKeyDescribeConfigs, 0, 4, false}, // v1 synonyms, v3 documentation and types

	{apiKeyDeleteGroups, 0, 2, false}, // v2: flexible
	{apiKeyOffsetDelete, 0, 0, false}, // the one version

	// KIP-848. Only v1 of the heartbeat: v0 had the coordinator make up
	// member ids, and Kafka 4 clients make their own.
	{apiKeyConsumerGroupHeartbeat, 1, 1, false},
	{apiKeyConsumerGroupDescribe, 0, 1, false}, // v1: member type

	{apiKeyAlterPartition, 0, 1, true}, // v1: topic names, leader recovery state
	{apiKeyBrokerRegister, 0, 3, true}, // v3: previous broker epoch (clean shutdown, KIP-966)
	{apiKeyBrokerHeartbeat, 0, 0, true},
	{apiKeyAllocateProducerIDs, 0, 0, true}, // a block of producer ids from the controller
}

func versionSupported(key, version int16) bool {
	for _, r := range apiRanges {
		if r.key == key {
			return version >= r.min && version <= r.max
		}
	}
	return false
}

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, r := range apiRanges {
		if !r.internal {
			keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: r.key, MinVersion: r.min, MaxVersion: r.max})
		}
	}
	return keys
}

func (n *Node) handleApiVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeys()
	return resp
}

// unsupportedApiVersions answers an ApiVersions request of a version above
// ours: UNSUPPORTED_VERSION with a v0 body listing our ranges, so that the
// client can retry with a version we speak (KIP-511).
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return &versionPinned{resp}
}

// versionPinned keeps a response at version 0 whatever version respond sets.
type versionPinned struct{ *kmsg.ApiVersionsResponse }

func (v *versionPinned) SetVersion(int16) { v.ApiVersionsResponse.SetVersion(0) }

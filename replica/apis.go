package replica

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica/transport"
)

// The registry of the APIs the node answers. Every API is one row of
// apiTable: its key, the versions advertised and accepted, whether it is
// inter-broker (answered, never advertised: brokers use it among
// themselves), the largest request frame it accepts, and its handler.
// ApiVersions, the version and size checks of DecodeRequest, dispatch and
// docs/APIS.md (TestAPITable) are all derived from the table, so an API is
// declared once.
//
// Only versions implemented in full are advertised. The minimums are chosen
// for old clients' feature detection: librdkafka enables message format v2
// only if Produce v3 and Fetch v4 fall inside our ranges, zstd only with
// Produce v7 and Fetch v10, and offsets-for-times with ListOffsets v1;
// kafka-python 2.0.2 probes with ApiVersions v0 and Metadata v0.

// nonProduceFrameBytesMax bounds every request but Produce. Decoding
// allocates in proportion to the frame, so a small request kind arriving
// with a 100 MiB frame is refused instead of decoded.
const nonProduceFrameBytesMax = 8 << 20

// request is one decoded request as its handler gets it: the time it is
// handled at, the connection it came on, and its header.
type request struct {
	now    time.Time
	conn   ConnID
	c      *conn
	header transport.RequestHeader
}

// take numbers the response this request will get on its connection;
// responses leave in that order (conn.go). A handler calls it exactly once
// for a request it will answer (never for a produce with acks=0).
func (r *request) take() uint64 { return r.c.take() }

// handler is the one signature of every API's handler. The body is the
// request type of the API's key. A handler answers now (answer), later
// (keeping r.take()'s number with its wait), or never (acks=0).
type handler func(n *Node, r *request, body kmsg.Request)

// handles adapts a handler written for its API's request type.
func handles[R kmsg.Request](f func(n *Node, r *request, body R)) handler {
	return func(n *Node, r *request, body kmsg.Request) {
		typed, ok := body.(R)
		if !ok {
			// The table pairs a key with another key's handler: a bug
			// here, not in the client. Close rather than guess.
			n.refuse(r.conn, "handler of another api", fmt.Errorf("%s", kmsg.NameForKey(r.header.APIKey)))
			return
		}
		f(n, r, typed)
	}
}

// answer sends resp as the response to r now.
func (n *Node) answer(r *request, resp kmsg.Response) {
	n.respond(r.conn, r.take(), r.header, resp)
}

// api is one row of the registry.
type api struct {
	key      kmsg.Key
	min, max int16
	// interBroker APIs are answered but not advertised to clients.
	interBroker bool
	// frameBytesMax is the largest request frame (size prefix excluded)
	// accepted for this API; larger ones close the connection undecoded.
	frameBytesMax int
	// versions says why the range is what it is; docs/APIS.md shows it.
	versions string
	handle   handler
}

// apiTable is sorted by key, the order ApiVersions lists them in. Adding an
// API is a row here and a handle_<api>.go file with its handler (doc.go).
var apiTable = []api{
	{key: kmsg.Produce, min: 3, max: 9, frameBytesMax: transport.RequestFrameBytesMax, handle: handles((*Node).handleProduce),
		versions: "v3: record batches (magic 2); v9: flexible"},
	{key: kmsg.Fetch, min: 4, max: 12, handle: handles((*Node).handleFetch),
		versions: "v4: record batches; v12: flexible, no topic ids yet"},
	{key: kmsg.ListOffsets, min: 0, max: 6, handle: handles((*Node).handleListOffsets),
		versions: "v7 would add max-timestamp lookups"},
	{key: kmsg.Metadata, min: 0, max: 12, handle: handles((*Node).handleMetadata),
		versions: "all versions; topic ids from v10"},
	{key: kmsg.OffsetCommit, min: 0, max: 9, handle: handles((*Node).handleOffsetCommit),
		versions: "v6: leader epoch; v7: instance id; v8: flexible; v9: member epochs (KIP-848)"},
	{key: kmsg.OffsetFetch, min: 0, max: 9, handle: handles((*Node).handleOffsetFetch),
		versions: "v2: all topics; v7: require stable; v8: many groups; v9: member id and epoch"},
	{key: kmsg.FindCoordinator, min: 0, max: 4, handle: handles((*Node).handleFindCoordinator),
		versions: "v4: many keys"},
	{key: kmsg.JoinGroup, min: 0, max: 9, handle: handles((*Node).handleJoinGroup),
		versions: "v4: MEMBER_ID_REQUIRED; v5: static members"},
	{key: kmsg.Heartbeat, min: 0, max: 4, handle: handles((*Node).handleHeartbeat),
		versions: "v3: instance id"},
	{key: kmsg.LeaveGroup, min: 0, max: 5, handle: handles((*Node).handleLeaveGroup),
		versions: "v3: batched members"},
	{key: kmsg.SyncGroup, min: 0, max: 5, handle: handles((*Node).handleSyncGroup),
		versions: "v5: protocol type and name"},
	{key: kmsg.DescribeGroups, min: 0, max: 5, handle: handles((*Node).handleDescribeGroups),
		versions: "v3: authorized operations (not computed)"},
	{key: kmsg.ListGroups, min: 0, max: 5, handle: handles((*Node).handleListGroups),
		versions: "v4: states filter; v5: types filter"},
	{key: kmsg.ApiVersions, min: 0, max: 3, handle: handles((*Node).handleApiVersions),
		versions: "v3: flexible, client software name"},
	{key: kmsg.CreateTopics, min: 0, max: 7, handle: handles((*Node).handleCreateTopics),
		versions: "v5: configs in response; v7: topic ids"},
	{key: kmsg.DeleteTopics, min: 0, max: 6, handle: handles((*Node).handleDeleteTopics),
		versions: "v6: by name or id"},
	{key: kmsg.InitProducerID, min: 0, max: 4, handle: handles((*Node).handleInitProducerID),
		versions: "non-transactional ids; v3: epoch bump fields (KIP-360); v4: flexible"},
	{key: kmsg.OffsetForLeaderEpoch, min: 2, max: 4, handle: handles((*Node).handleOffsetForLeaderEpoch),
		versions: "v2: current leader epoch (KIP-320); v3: replica id"},
	{key: kmsg.DescribeConfigs, min: 0, max: 4, handle: handles((*Node).handleDescribeConfigs),
		versions: "v1: synonyms; v3: documentation and types"},
	{key: kmsg.DeleteGroups, min: 0, max: 2, handle: handles((*Node).handleDeleteGroups),
		versions: "v2: flexible"},
	{key: kmsg.ElectLeaders, min: 0, max: 2, handle: handles((*Node).handleElectLeaders),
		versions: "v1: election type, top-level error; v2: flexible"},
	{key: kmsg.OffsetDelete, min: 0, max: 0, handle: handles((*Node).handleOffsetDelete),
		versions: "the one version"},
	{key: kmsg.AlterPartition, min: 0, max: 1, interBroker: true, handle: handles((*Node).handleAlterPartition),
		versions: "v1: topic names, leader recovery state"},
	{key: kmsg.BrokerRegistration, min: 0, max: 3, interBroker: true, handle: handles((*Node).handleBrokerRegistration),
		versions: "v3: previous broker epoch (clean shutdown, KIP-966)"},
	{key: kmsg.BrokerHeartbeat, min: 0, max: 0, interBroker: true, handle: handles((*Node).handleBrokerHeartbeat),
		versions: "the first version"},
	{key: kmsg.AllocateProducerIDs, min: 0, max: 0, interBroker: true, handle: handles((*Node).handleAllocateProducerIDs),
		versions: "a block of producer ids from the controller"},
	{key: kmsg.ConsumerGroupHeartbeat, min: 1, max: 1, handle: handles((*Node).handleConsumerGroupHeartbeat),
		versions: "v1 only: v0 had the coordinator make up member ids, and Kafka 4 clients make their own"},
	{key: kmsg.ConsumerGroupDescribe, min: 0, max: 1, handle: handles((*Node).handleConsumerGroupDescribe),
		versions: "v1: member type"},
}

// apiKeysMax bounds the keys the registry indexes; Kafka's are below it.
const apiKeysMax = 128

// apis indexes apiTable by key; nil where the node has no such API. It is
// filled by init, not by an initializer, because handlers (ApiVersions)
// read it and the table names the handlers.
var apis *[apiKeysMax]*api

func init() { apis = indexAPIs(apiTable) }

// indexAPIs checks the table and indexes it. A malformed table is a bug in
// this file, found by every test and at every start, never by a client.
func indexAPIs(table []api) *[apiKeysMax]*api {
	var index [apiKeysMax]*api
	for i := range table {
		a := &table[i]
		switch {
		case a.key < 0 || int(a.key) >= apiKeysMax:
			panic(fmt.Sprintf("api table: key %d out of range", a.key))
		case i > 0 && a.key <= table[i-1].key:
			panic(fmt.Sprintf("api table: %s out of key order", a.key.Name()))
		case a.min < 0 || a.min > a.max:
			panic(fmt.Sprintf("api table: %s versions %d-%d", a.key.Name(), a.min, a.max))
		case a.handle == nil:
			panic(fmt.Sprintf("api table: %s has no handler", a.key.Name()))
		}
		if a.frameBytesMax == 0 {
			a.frameBytesMax = nonProduceFrameBytesMax
		}
		index[a.key] = a
	}
	return &index
}

// apiFor returns the row of key, or nil.
func apiFor(key int16) *api {
	if key < 0 || int(key) >= apiKeysMax {
		return nil
	}
	return apis[key]
}

// supports reports whether the API answers version.
func (a *api) supports(version int16) bool { return version >= a.min && version <= a.max }

// advertisedAPIs is ApiVersions' list: every API but the inter-broker ones.
func advertisedAPIs() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range apis {
		if a != nil && !a.interBroker {
			keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key.Int16(), MinVersion: a.min, MaxVersion: a.max})
		}
	}
	return keys
}

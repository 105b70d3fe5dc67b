package replica

import (
	"maps"
	"slices"
	"strconv"

	"cairn/core"
	"cairn/core/controller"
)

// NodeState is what the metrics read from the node: a copy, made under the
// driver's serialization and read after it.
type NodeState struct {
	Partitions                 []PartitionState
	UnderReplicated, Offline   int
	Failed                     int
	ControllerActive           bool
	ControllerID               int32
	MetadataApplied            uint64
	BrokersFenced, BrokersLive int
	GroupOffsets               []GroupOffsetState
	// Groups is how many groups the loaded coordinators hold.
	Groups int
}

// GroupOffsetState is one committed offset of a group this broker
// coordinates; lag is -1 where this broker does not host the partition.
type GroupOffsetState struct {
	Group, Topic, Partition string
	Committed, Lag          int64
}

type PartitionState struct {
	Topic, Partition                string
	LogStart, LogEnd, HighWatermark int64
	ISRSize, Replicas               int
	Leader                          bool
}

// State copies what the metrics need.
func (n *Node) State() NodeState {
	state := NodeState{ControllerActive: n.meta.active != nil, ControllerID: n.meta.controllerID, MetadataApplied: n.meta.applied,
		Groups: n.groupCount()}
	for _, info := range n.Partitions() {
		replicas := len(info.ISR)
		if assigned, ok := n.meta.image.Partition(info.Topic, info.Partition); ok {
			replicas = len(assigned.Replicas)
		}
		leader := info.Role == core.RoleLeader
		state.Partitions = append(state.Partitions, PartitionState{
			Topic: info.Topic, Partition: strconv.Itoa(int(info.Partition)),
			LogStart: info.StartOffset, LogEnd: info.EndOffset, HighWatermark: info.HighWatermark,
			ISRSize: len(info.ISR), Replicas: replicas, Leader: leader,
		})
		if leader && len(info.ISR) < replicas {
			state.UnderReplicated++
		}
		if info.Failed {
			state.Failed++
		}
	}
	for _, t := range n.meta.image.Topics() {
		for _, p := range n.meta.image.Partitions(t.Name) {
			if p.Leader == controller.NoLeader {
				state.Offline++
			}
		}
	}
	for _, index := range slices.Sorted(maps.Keys(n.groups.coordinators)) {
		hc := n.groups.coordinators[index]
		for _, name := range hc.core.Groups() {
			for _, o := range hc.core.AllCommitted(name) {
				g := GroupOffsetState{Group: name, Topic: o.Topic, Partition: strconv.Itoa(int(o.Partition)), Committed: o.Offset, Lag: -1}
				if p := n.partition(o.Topic, o.Partition); p != nil {
					g.Lag = max(0, p.core.HighWatermark()-o.Offset)
				}
				state.GroupOffsets = append(state.GroupOffsets, g)
			}
		}
	}
	for _, b := range n.meta.image.Brokers() {
		if b.Fenced {
			state.BrokersFenced++
		} else {
			state.BrokersLive++
		}
	}
	return state
}

// Serving reports whether the node's metadata image shows this broker
// registered, as this process, and unfenced: it can lead and serve
// partitions.
func (n *Node) Serving() bool {
	b, ok := n.meta.image.Broker(n.config.NodeID)
	return ok && !b.Fenced && b.Incarnation == n.meta.incarnation
}

// Config returns the node's settings.
func (n *Node) Config() Config { return n.config }

// ClusterID is the cluster id the node runs with.
func (n *Node) ClusterID() string { return n.clusterID }

// APIKey is the request's API key, as its header says (also when refused).
func (r Request) APIKey() int16 { return r.header.APIKey }

// CorrelationID is the request's correlation id.
func (r Request) CorrelationID() int32 { return r.header.CorrelationID }

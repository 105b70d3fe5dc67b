package controller

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
)

// assignReplicas assigns replicationFactor replicas to each of partitions
// partitions, from brokers (unfenced, by ID), which must number at least
// replicationFactor. The brokers are put in rack-alternating order (one of
// each rack in turn), and partition i takes replicationFactor consecutive
// brokers of that order from position start+i: leaders go round-robin, and
// when racks are balanced every partition's replicas sit on different racks.
func assignReplicas(brokers []Broker, partitions int32, replicationFactor, start int) [][]int32 {
	order := rackAlternating(brokers)
	out := make([][]int32, partitions)
	for i := range out {
		replicas := make([]int32, replicationFactor)
		for j := range replicas {
			replicas[j] = order[(start+i+j)%len(order)]
		}
		out[i] = replicas
	}
	return out
}

// rackAlternating orders brokers by taking the next broker of each rack in
// turn, racks sorted by name and brokers by ID. Without racks it is the
// order by ID.
func rackAlternating(brokers []Broker) []int32 {
	byRack := map[string][]int32{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	racks := make([]string, 0, len(byRack))
	for rack := range byRack {
		racks = append(racks, rack)
		sort.Slice(byRack[rack], func(i, j int) bool { return byRack[rack][i] < byRack[rack][j] })
	}
	sort.Strings(racks)
	order := make([]int32, 0, len(brokers))
	for round := 0; len(order) < len(brokers); round++ {
		for _, rack := range racks {
			if round < len(byRack[rack]) {
				order = append(order, byRack[rack][round])
			}
		}
	}
	return order
}

// topicIDAttemptsMax bounds the search for an unused topic ID. A collision
// of 128-bit hashes is already beyond belief; the bound keeps the loop
// honest.
const topicIDAttemptsMax = 16

// topicID derives the ID of a new topic from the cluster, the name, and
// how many topics were ever created, so it is a function of the log (no
// randomness enters the controller) and differs when a name is reused.
func (c *Controller) topicID(name string) TopicID {
	for attempt := uint64(0); attempt < topicIDAttemptsMax; attempt++ {
		h := sha256.New()
		h.Write([]byte("cairn topic id\x00" + c.config.ClusterID + "\x00" + name + "\x00"))
		var counters [16]byte
		binary.BigEndian.PutUint64(counters[:8], uint64(c.image.TopicsCreated()))
		binary.BigEndian.PutUint64(counters[8:], attempt)
		h.Write(counters[:])
		var id TopicID
		copy(id[:], h.Sum(nil))
		if c.image.topicIDFree(id) && !reservedTopicID(id) {
			return id
		}
	}
	panic("controller: no free topic id for " + name)
}

// reservedTopicID reports Kafka's reserved IDs: the null ID and the ID of
// the metadata log's own topic (0, 1).
func reservedTopicID(id TopicID) bool {
	metadataTopic := TopicID{15: 1}
	return id.IsZero() || id == metadataTopic
}

package controller

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Broker is a registered broker as the image knows it.
type Broker struct {
	ID            int32
	Host          string
	Port          int32
	Rack          string
	Incarnation   int64
	CleanShutdown bool
	DirectoryID   DirectoryID
	// Fenced brokers may not lead partitions nor join ISRs. A broker is
	// fenced from registration until it reports having caught up with the
	// metadata log, and again when its session lapses.
	Fenced bool
}

// Topic is a topic as the image knows it.
type Topic struct {
	Name           string
	ID             TopicID
	Configs        map[string]string // a copy; the caller may keep it
	PartitionCount int32
}

// Partition is the replication state of one partition.
type Partition struct {
	Topic          string
	TopicID        TopicID
	Partition      int32
	Replicas       []int32 // the assignment, preferred leader first
	ISR            []int32
	ELR            []int32 // eligible leader replicas; see PartitionRecord
	Leader         int32   // NoLeader when offline
	LeaderEpoch    int32
	PartitionEpoch int32
}

type topicState struct {
	id      TopicID
	configs map[string]string
	// partitions is indexed by partition number. The slices inside each
	// Partition are never modified in place, only replaced, so clones and
	// accessors may share them.
	partitions []Partition
}

// Image is the cluster metadata: the fold of every committed record batch,
// in log order. Its accessors return copies and sorted slices, so nothing
// the caller does with them changes the image, and no map order leaks out.
//
// An Image is not safe for concurrent use; the driver that applies records
// owns it, and hands Clone()s to whoever else needs one.
type Image struct {
	brokers    map[int32]Broker
	topics     map[string]*topicState
	topicNames map[TopicID]string
	// retiredTopicIDs are the IDs of deleted topics. A CreateTopic naming
	// one is refused, so a duplicate of an old creation (a proposal retried
	// after a timeout commits twice) cannot resurrect a deleted topic.
	retiredTopicIDs map[TopicID]bool
	topicsCreated   int64
	nextProducerID  int64
}

// NewImage returns the image of the empty log.
func NewImage() *Image {
	return &Image{
		brokers:         map[int32]Broker{},
		topics:          map[string]*topicState{},
		topicNames:      map[TopicID]string{},
		retiredTopicIDs: map[TopicID]bool{},
	}
}

// Clone returns an independent copy of the image.
func (m *Image) Clone() *Image {
	c := &Image{
		brokers:         make(map[int32]Broker, len(m.brokers)),
		topics:          make(map[string]*topicState, len(m.topics)),
		topicNames:      make(map[TopicID]string, len(m.topicNames)),
		retiredTopicIDs: make(map[TopicID]bool, len(m.retiredTopicIDs)),
		topicsCreated:   m.topicsCreated,
		nextProducerID:  m.nextProducerID,
	}
	for id, b := range m.brokers {
		c.brokers[id] = b
	}
	for name, t := range m.topics {
		c.topics[name] = &topicState{id: t.id, configs: t.configs, partitions: slices.Clone(t.partitions)}
	}
	for id, name := range m.topicNames {
		c.topicNames[id] = name
	}
	for id := range m.retiredTopicIDs {
		c.retiredTopicIDs[id] = true
	}
	return c
}

// Broker returns the broker registered under id.
func (m *Image) Broker(id int32) (Broker, bool) {
	b, ok := m.brokers[id]
	return b, ok
}

// Brokers returns every registered broker, by ID.
func (m *Image) Brokers() []Broker {
	out := make([]Broker, 0, len(m.brokers))
	for _, b := range m.brokers {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Topic returns the topic named name.
func (m *Image) Topic(name string) (Topic, bool) {
	t, ok := m.topics[name]
	if !ok {
		return Topic{}, false
	}
	return Topic{Name: name, ID: t.id, Configs: copyConfigs(t.configs), PartitionCount: int32(len(t.partitions))}, true
}

// TopicName returns the name of the topic whose ID is id.
func (m *Image) TopicName(id TopicID) (string, bool) {
	name, ok := m.topicNames[id]
	return name, ok
}

// topicIDFree reports whether no topic, live or deleted, ever had id.
func (m *Image) topicIDFree(id TopicID) bool {
	_, live := m.topicNames[id]
	return !live && !m.retiredTopicIDs[id]
}

// Topics returns every topic, by name.
func (m *Image) Topics() []Topic {
	out := make([]Topic, 0, len(m.topics))
	for _, name := range m.topicNamesSorted() {
		t, _ := m.Topic(name)
		out = append(out, t)
	}
	return out
}

// Partition returns one partition's state.
func (m *Image) Partition(topic string, partition int32) (Partition, bool) {
	t, ok := m.topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.partitions) {
		return Partition{}, false
	}
	return copyPartition(t.partitions[partition]), true
}

// Partitions returns the partitions of a topic, by number; nil if the topic
// does not exist.
func (m *Image) Partitions(topic string) []Partition {
	t, ok := m.topics[topic]
	if !ok {
		return nil
	}
	out := make([]Partition, len(t.partitions))
	for i, p := range t.partitions {
		out[i] = copyPartition(p)
	}
	return out
}

// NextProducerID returns the first producer ID not yet allocated.
func (m *Image) NextProducerID() int64 { return m.nextProducerID }

// TopicsCreated returns how many topics were ever created, deleted ones
// included. The controller derives topic IDs and assignment rotation from
// it, so both are functions of the log.
func (m *Image) TopicsCreated() int64 { return m.topicsCreated }

// CollidingTopic returns the first existing topic, by name, whose name is
// not name but equals it once every '.' is read as '_': Kafka's metric names
// turn '.' into '_', so two such topics would report under one name, and
// Kafka refuses the second with INVALID_TOPIC_EXCEPTION. A name with neither
// character collides with nothing.
func (m *Image) CollidingTopic(name string) (string, bool) {
	if !strings.ContainsAny(name, "._") {
		return "", false
	}
	unified := unifyCollisionChars(name)
	for _, other := range m.topicNamesSorted() {
		if other != name && unifyCollisionChars(other) == unified {
			return other, true
		}
	}
	return "", false
}

func unifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }

// topicNamesSorted returns the topic names in order, for every walk whose
// result can reach a record or a caller.
func (m *Image) topicNamesSorted() []string {
	names := make([]string, 0, len(m.topics))
	for name := range m.topics {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// eachPartition calls visit for every partition, topics by name, partitions
// by number, with the image's own copy: visit must not modify its slices.
func (m *Image) eachPartition(visit func(p Partition)) {
	for _, name := range m.topicNamesSorted() {
		for _, p := range m.topics[name].partitions {
			visit(p)
		}
	}
}

// leads returns a partition the broker leads, if any.
func (m *Image) leads(broker int32) (Partition, bool) {
	var found Partition
	ok := false
	m.eachPartition(func(p Partition) {
		if !ok && p.Leader == broker {
			found, ok = p, true
		}
	})
	return found, ok
}

// String renders the whole image deterministically, one fact a line. Two
// images are equal exactly when their strings are.
func (m *Image) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "topics-created=%d next-producer-id=%d\n", m.topicsCreated, m.nextProducerID)
	retired := make([]string, 0, len(m.retiredTopicIDs))
	for id := range m.retiredTopicIDs {
		retired = append(retired, id.String())
	}
	sort.Strings(retired)
	for _, id := range retired {
		fmt.Fprintf(&s, "retired topic id %s\n", id)
	}
	for _, b := range m.Brokers() {
		rack := ""
		if b.Rack != "" {
			rack = " rack=" + b.Rack
		}
		fmt.Fprintf(&s, "broker %d %s:%d%s incarnation=%d clean=%t%s fenced=%t\n",
			b.ID, b.Host, b.Port, rack, b.Incarnation, b.CleanShutdown, formatDirectory(b.DirectoryID), b.Fenced)
	}
	for _, t := range m.Topics() {
		fmt.Fprintf(&s, "topic %s id=%s configs=%s\n", t.Name, t.ID, formatConfigs(t.Configs))
		for _, p := range m.Partitions(t.Name) {
			fmt.Fprintf(&s, "  %s-%d replicas=%v isr=%v%s leader=%d leaderEpoch=%d partitionEpoch=%d\n",
				p.Topic, p.Partition, formatIDs(p.Replicas), formatIDs(p.ISR), formatELR(p.ELR), p.Leader, p.LeaderEpoch, p.PartitionEpoch)
		}
	}
	return s.String()
}

// CheckInvariants returns the first broken invariant of the image, or nil.
// Apply keeps them all; tests and the simulator call this after every step
// to prove it.
func (m *Image) CheckInvariants() error {
	var problem error
	m.eachPartition(func(p Partition) {
		if problem == nil {
			problem = m.checkPartition(p)
		}
	})
	if problem != nil {
		return problem
	}
	for id, name := range m.topicNames {
		if t, ok := m.topics[name]; !ok || t.id != id {
			return fmt.Errorf("topic id %s maps to %q, which does not have it", id, name)
		}
	}
	if len(m.topicNames) != len(m.topics) {
		return fmt.Errorf("%d topic ids for %d topics", len(m.topicNames), len(m.topics))
	}
	return nil
}

// checkPartition checks one partition state against the image's brokers:
// replicas unique and registered, the ISR unique and within the replicas,
// the ELR unique, within the replicas and outside the ISR, a leader in the
// ISR and not fenced, and an ISR that is empty only when there is no leader.
func (m *Image) checkPartition(p Partition) error {
	name := fmt.Sprintf("%s-%d", p.Topic, p.Partition)
	if len(p.Replicas) == 0 {
		return fmt.Errorf("%s: no replicas", name)
	}
	if hasDuplicates(p.Replicas) || hasDuplicates(p.ISR) || hasDuplicates(p.ELR) {
		return fmt.Errorf("%s: duplicate in replicas %v, isr %v or elr %v", name, p.Replicas, p.ISR, p.ELR)
	}
	for _, r := range p.ELR {
		if !slices.Contains(p.Replicas, r) || slices.Contains(p.ISR, r) {
			return fmt.Errorf("%s: elr member %d is not a replica %v outside the isr %v", name, r, p.Replicas, p.ISR)
		}
	}
	for _, r := range p.Replicas {
		if _, ok := m.brokers[r]; !ok {
			return fmt.Errorf("%s: replica %d is not a registered broker", name, r)
		}
	}
	for _, r := range p.ISR {
		if !slices.Contains(p.Replicas, r) {
			return fmt.Errorf("%s: isr member %d is not a replica %v", name, r, p.Replicas)
		}
	}
	if p.LeaderEpoch < 0 || p.PartitionEpoch < 0 {
		return fmt.Errorf("%s: negative epoch", name)
	}
	if p.Leader == NoLeader {
		return nil
	}
	if !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("%s: leader %d not in isr %v", name, p.Leader, p.ISR)
	}
	if m.brokers[p.Leader].Fenced {
		return fmt.Errorf("%s: leader %d is fenced", name, p.Leader)
	}
	return nil
}

func copyPartition(p Partition) Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.ELR = slices.Clone(p.ELR)
	return p
}

func copyConfigs(configs map[string]string) map[string]string {
	if len(configs) == 0 {
		return nil
	}
	out := make(map[string]string, len(configs))
	for k, v := range configs {
		out[k] = v
	}
	return out
}

func hasDuplicates(ids []int32) bool {
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return true
		}
	}
	return false
}

package controller

import (
	"fmt"
	"math"
	"slices"
)

// Limits on what a record may carry. They bound what a corrupt or hostile
// record can make every node allocate, and match Kafka's own limits.
const (
	// topicNameBytesMax is Kafka's limit on a topic name.
	topicNameBytesMax = 249
	// producerIDBlockMax bounds one producer-ID allocation.
	producerIDBlockMax = 1 << 20
)

// undo reverts one applied record; ApplyBatch runs them backwards when a
// later record of the batch is refused.
type undo func()

// Apply applies one record. It refuses, with an error and the image
// unchanged, a record that would break an invariant (see CheckInvariants)
// or that was computed from a state the image is no longer in.
func (m *Image) Apply(r Record) error {
	_, err := m.apply(r)
	return err
}

// ApplyBatch applies a batch of records all or nothing: if one is refused,
// the records before it are reverted and the image is as it was.
func (m *Image) ApplyBatch(records []Record) error {
	undos := make([]undo, 0, len(records))
	for i, r := range records {
		u, err := m.apply(r)
		if err != nil {
			for j := len(undos) - 1; j >= 0; j-- {
				undos[j]()
			}
			return fmt.Errorf("record %d of %d (%s): %w", i, len(records), r.Type(), err)
		}
		undos = append(undos, u)
	}
	return nil
}

func (m *Image) apply(r Record) (undo, error) {
	switch r := r.(type) {
	case RegisterBroker:
		return m.applyRegisterBroker(r)
	case FenceBroker:
		return m.applyFencing(r.ID, true)
	case UnfenceBroker:
		return m.applyFencing(r.ID, false)
	case CreateTopic:
		return m.applyCreateTopic(r)
	case PartitionRecord:
		return m.applyPartitionRecord(r)
	case PartitionChange:
		return m.applyPartitionChange(r)
	case DeleteTopic:
		return m.applyDeleteTopic(r)
	case AllocateProducerIDs:
		return m.applyAllocateProducerIDs(r)
	}
	return nil, fmt.Errorf("unknown record %T", r)
}

func (m *Image) restoreBroker(id int32, old Broker, existed bool) undo {
	return func() {
		if existed {
			m.brokers[id] = old
		} else {
			delete(m.brokers, id)
		}
	}
}

func (m *Image) applyRegisterBroker(r RegisterBroker) (undo, error) {
	if r.ID < 0 || r.Host == "" || r.Port <= 0 || r.Port > math.MaxUint16 || r.Incarnation < 0 {
		return nil, fmt.Errorf("invalid registration %s", r)
	}
	old, existed := m.brokers[r.ID]
	if existed && r.Incarnation <= old.Incarnation {
		return nil, fmt.Errorf("broker %d incarnation %d not above registered %d", r.ID, r.Incarnation, old.Incarnation)
	}
	// A new registration fences the broker, and a fenced broker never leads:
	// the controller moves leadership away first, in the same batch.
	if p, ok := m.leads(r.ID); ok {
		return nil, fmt.Errorf("broker %d re-registers while leading %s-%d", r.ID, p.Topic, p.Partition)
	}
	m.brokers[r.ID] = Broker{ID: r.ID, Host: r.Host, Port: r.Port, Rack: r.Rack,
		Incarnation: r.Incarnation, CleanShutdown: r.CleanShutdown, DirectoryID: r.DirectoryID, Fenced: true}
	return m.restoreBroker(r.ID, old, existed), nil
}

func (m *Image) applyFencing(id int32, fenced bool) (undo, error) {
	old, ok := m.brokers[id]
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	if old.Fenced == fenced {
		return nil, fmt.Errorf("broker %d already has fenced=%t", id, fenced)
	}
	if p, leads := m.leads(id); fenced && leads {
		return nil, fmt.Errorf("broker %d is fenced while leading %s-%d", id, p.Topic, p.Partition)
	}
	changed := old
	changed.Fenced = fenced
	m.brokers[id] = changed
	return m.restoreBroker(id, old, true), nil
}

func (m *Image) applyCreateTopic(r CreateTopic) (undo, error) {
	if err := validateTopicName(r.Name); err != nil {
		return nil, err
	}
	if _, exists := m.topics[r.Name]; exists {
		return nil, fmt.Errorf("topic %q exists", r.Name)
	}
	if r.ID.IsZero() {
		return nil, fmt.Errorf("topic %q has the null id", r.Name)
	}
	if other, used := m.topicNames[r.ID]; used {
		return nil, fmt.Errorf("topic id %s of %q is taken by %q", r.ID, r.Name, other)
	}
	if m.retiredTopicIDs[r.ID] {
		return nil, fmt.Errorf("topic id %s of %q belonged to a deleted topic", r.ID, r.Name)
	}
	for key := range r.Configs {
		if key == "" {
			return nil, fmt.Errorf("topic %q has an empty config key", r.Name)
		}
	}
	m.topics[r.Name] = &topicState{id: r.ID, configs: copyConfigs(r.Configs)}
	m.topicNames[r.ID] = r.Name
	m.topicsCreated++
	return func() {
		delete(m.topics, r.Name)
		delete(m.topicNames, r.ID)
		m.topicsCreated--
	}, nil
}

func (m *Image) applyDeleteTopic(r DeleteTopic) (undo, error) {
	t, ok := m.topics[r.Name]
	if !ok || t.id != r.ID {
		return nil, fmt.Errorf("no topic %q with id %s", r.Name, r.ID)
	}
	delete(m.topics, r.Name)
	delete(m.topicNames, r.ID)
	m.retiredTopicIDs[r.ID] = true
	return func() {
		m.topics[r.Name] = t
		m.topicNames[r.ID] = r.Name
		delete(m.retiredTopicIDs, r.ID)
	}, nil
}

// topicFor finds the topic a partition record names, checking its ID.
func (m *Image) topicFor(name string, id TopicID) (*topicState, error) {
	t, ok := m.topics[name]
	if !ok || t.id != id {
		return nil, fmt.Errorf("no topic %q with id %s", name, id)
	}
	return t, nil
}

// setPartition stores p as partition p.Partition of t, creating it when it
// is the next number, and returns how to revert that.
func (m *Image) setPartition(t *topicState, p Partition) undo {
	p.Replicas = normalizeIDs(p.Replicas)
	p.ISR = normalizeIDs(p.ISR)
	p.ELR = normalizeIDs(p.ELR)
	index := int(p.Partition)
	if index == len(t.partitions) {
		t.partitions = append(t.partitions, p)
		return func() { t.partitions = t.partitions[:index] }
	}
	old := t.partitions[index]
	t.partitions[index] = p
	return func() { t.partitions[index] = old }
}

func (m *Image) applyPartitionRecord(r PartitionRecord) (undo, error) {
	t, err := m.topicFor(r.Topic, r.TopicID)
	if err != nil {
		return nil, err
	}
	if r.Partition < 0 || int(r.Partition) > len(t.partitions) {
		return nil, fmt.Errorf("%s-%d: partition beyond the next (%d)", r.Topic, r.Partition, len(t.partitions))
	}
	next := Partition{Topic: r.Topic, TopicID: r.TopicID, Partition: r.Partition, Replicas: r.Replicas,
		ISR: r.ISR, ELR: r.ELR, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch}
	if int(r.Partition) < len(t.partitions) {
		if err := checkEpochsAdvance(t.partitions[r.Partition], next); err != nil {
			return nil, err
		}
	}
	if err := m.checkPartition(next); err != nil {
		return nil, err
	}
	return m.setPartition(t, next), nil
}

// checkEpochsAdvance refuses a replacement that would move an epoch back, or
// change the leader without a new leader epoch.
func checkEpochsAdvance(old, next Partition) error {
	if next.PartitionEpoch <= old.PartitionEpoch || next.LeaderEpoch < old.LeaderEpoch ||
		(next.Leader != old.Leader && next.LeaderEpoch == old.LeaderEpoch) {
		return fmt.Errorf("%s-%d: epochs leader=%d partition=%d do not advance from leader=%d partition=%d (leader %d -> %d)",
			old.Topic, old.Partition, next.LeaderEpoch, next.PartitionEpoch, old.LeaderEpoch, old.PartitionEpoch, old.Leader, next.Leader)
	}
	return nil
}

func (m *Image) applyPartitionChange(r PartitionChange) (undo, error) {
	t, err := m.topicFor(r.Topic, r.TopicID)
	if err != nil {
		return nil, err
	}
	if r.Partition < 0 || int(r.Partition) >= len(t.partitions) {
		return nil, fmt.Errorf("%s-%d: no such partition", r.Topic, r.Partition)
	}
	old := t.partitions[r.Partition]
	next := old
	next.ISR = r.ISR
	next.ELR = r.ELR
	next.LeaderEpoch = r.LeaderEpoch
	next.PartitionEpoch = r.PartitionEpoch
	wantLeaderEpoch := old.LeaderEpoch
	if !r.LeaderUnchanged && r.Leader != old.Leader {
		next.Leader = r.Leader
		wantLeaderEpoch = old.LeaderEpoch + 1
	}
	// Exact successors, not merely larger epochs: a change computed from an
	// older state of the partition is refused, whoever proposed it.
	if r.PartitionEpoch != old.PartitionEpoch+1 || r.LeaderEpoch != wantLeaderEpoch {
		return nil, fmt.Errorf("%s-%d: change to epochs leader=%d partition=%d does not follow leader=%d partition=%d",
			r.Topic, r.Partition, r.LeaderEpoch, r.PartitionEpoch, old.LeaderEpoch, old.PartitionEpoch)
	}
	if err := m.checkPartition(next); err != nil {
		return nil, err
	}
	return m.setPartition(t, next), nil
}

func (m *Image) applyAllocateProducerIDs(r AllocateProducerIDs) (undo, error) {
	if _, ok := m.brokers[r.Broker]; !ok {
		return nil, fmt.Errorf("producer ids for unregistered broker %d", r.Broker)
	}
	if r.First != m.nextProducerID || r.Count <= 0 || r.Count > producerIDBlockMax || r.First > math.MaxInt64-r.Count {
		return nil, fmt.Errorf("producer id block [%d, +%d) does not start at %d or has a bad size",
			r.First, r.Count, m.nextProducerID)
	}
	old := m.nextProducerID
	m.nextProducerID = r.First + r.Count
	return func() { m.nextProducerID = old }, nil
}

// validateTopicName applies Kafka's rules: 1 to 249 of [a-zA-Z0-9._-], and
// not "." or "..".
func validateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > topicNameBytesMax {
		return fmt.Errorf("invalid topic name %q", name)
	}
	for _, c := range []byte(name) {
		ok := c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("invalid character %q in topic name %q", c, name)
		}
	}
	return nil
}

// normalizeIDs returns a private copy of ids, nil when empty, so the image
// never shares a slice with a record the caller still holds.
func normalizeIDs(ids []int32) []int32 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Clone(ids)
}

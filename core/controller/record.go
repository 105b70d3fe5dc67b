package controller

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// RecordType numbers the kinds of metadata record on the wire. A number is
// never reused for a different kind: old logs must decode forever.
type RecordType uint8

// The record types, as numbered on the wire.
const (
	TypeRegisterBroker      RecordType = 1
	TypeFenceBroker         RecordType = 2
	TypeUnfenceBroker       RecordType = 3
	TypeCreateTopic         RecordType = 4
	TypePartitionRecord     RecordType = 5
	TypePartitionChange     RecordType = 6
	TypeDeleteTopic         RecordType = 7
	TypeAllocateProducerIDs RecordType = 8
)

// String names the record type as Go spells the record.
func (t RecordType) String() string {
	switch t {
	case TypeRegisterBroker:
		return "RegisterBroker"
	case TypeFenceBroker:
		return "FenceBroker"
	case TypeUnfenceBroker:
		return "UnfenceBroker"
	case TypeCreateTopic:
		return "CreateTopic"
	case TypePartitionRecord:
		return "PartitionRecord"
	case TypePartitionChange:
		return "PartitionChange"
	case TypeDeleteTopic:
		return "DeleteTopic"
	case TypeAllocateProducerIDs:
		return "AllocateProducerIDs"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one entry of the metadata log. Only the types of this package
// implement it, so that Encode and Apply know every kind there is.
type Record interface {
	// Type returns the record's wire type.
	Type() RecordType
	// String renders the record on one line, for logs and test transcripts.
	String() string
	isRecord()
}

// NoLeader is the leader of a partition that has none (offline).
const NoLeader int32 = -1

// TopicID is a topic's unique identity, which outlives reuse of its name:
// a topic deleted and created again under the same name gets a new ID.
type TopicID [16]byte

// String renders the ID as a UUID.
func (id TopicID) String() string {
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsZero reports whether the ID is the all-zero (null) ID, which Kafka
// reserves and no topic may have.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// RegisterBroker records that a broker process started and announced
// itself. The broker is fenced until it reports that it caught up with the
// metadata log. A new registration of a known ID replaces the old one and
// fences it: it is a new process that lost whatever the old one had in
// memory.
type RegisterBroker struct {
	ID   int32
	Host string
	Port int32
	Rack string // empty when racks are not configured
	// Incarnation grows with every start of the broker's process, so that a
	// stale process can be told apart from the live one.
	Incarnation int64
	// CleanShutdown says the previous process of this broker ID stopped
	// cleanly, with everything it had acknowledged synced.
	CleanShutdown bool
	// DirectoryID names the broker's data directory, drawn when the
	// directory was created. A registration naming another directory than
	// the broker's previous one says the broker lost its whole disk. Zero
	// for a broker that does not say.
	DirectoryID DirectoryID
}

// DirectoryID is the identity of one data directory.
type DirectoryID [16]byte

// IsZero reports whether the ID is unset.
func (id DirectoryID) IsZero() bool { return id == DirectoryID{} }

// String renders the ID in hex.
func (id DirectoryID) String() string { return hex.EncodeToString(id[:]) }

// FenceBroker records that a broker may no longer lead partitions nor be
// added to ISRs: its session lapsed or it stopped.
type FenceBroker struct {
	ID int32
}

// UnfenceBroker records that a fenced broker caught up with the metadata log
// and may lead partitions again.
type UnfenceBroker struct {
	ID int32
}

// CreateTopic records a new topic, without partitions; PartitionRecords in
// the same batch create them.
type CreateTopic struct {
	Name    string
	ID      TopicID
	Configs map[string]string // encoded sorted by key
}

// PartitionRecord creates partition Partition of a topic (when it is the
// next partition number) or replaces its whole state.
type PartitionRecord struct {
	Topic string
	// TopicID names the incarnation of the topic the record is for, so a
	// stale record cannot reach a recreated topic of the same name.
	TopicID   TopicID
	Partition int32
	Replicas  []int32 // the assignment, preferred leader first
	ISR       []int32
	// ELR is the eligible leader replicas (KIP-966): former ISR members
	// that hold every committed record, because they left the ISR while it
	// was smaller than min.insync.replicas and the high watermark cannot
	// advance then. In replica order; disjoint from the ISR.
	ELR            []int32
	Leader         int32 // NoLeader when offline
	LeaderEpoch    int32
	PartitionEpoch int32
}

// PartitionChange changes the leader or the ISR of an existing partition.
// It carries the epochs it produces: PartitionEpoch is exactly one more than
// the partition's, and LeaderEpoch is one more when the leader changes and
// equal otherwise. A change computed from a stale state therefore never
// applies, which makes the log safe against a deposed controller whose
// proposals still commit.
type PartitionChange struct {
	Topic     string
	TopicID   TopicID
	Partition int32
	// Leader is the new leader, NoLeader for none; ignored when
	// LeaderUnchanged is set.
	Leader          int32
	LeaderUnchanged bool
	// ISR is the whole new ISR (not a difference), and ELR the whole new
	// set of eligible leader replicas.
	ISR            []int32
	ELR            []int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// DeleteTopic records that a topic and its partitions are gone. It names
// the topic's ID too, so that a stale delete cannot remove a recreated topic
// of the same name.
type DeleteTopic struct {
	Name string
	ID   TopicID
}

// AllocateProducerIDs hands the block [First, First+Count) of producer IDs
// to a broker, for idempotent producers.
type AllocateProducerIDs struct {
	Broker int32
	First  int64
	Count  int64
}

// Type returns TypeRegisterBroker.
func (RegisterBroker) Type() RecordType { return TypeRegisterBroker }

// Type returns TypeFenceBroker.
func (FenceBroker) Type() RecordType { return TypeFenceBroker }

// Type returns TypeUnfenceBroker.
func (UnfenceBroker) Type() RecordType { return TypeUnfenceBroker }

// Type returns TypeCreateTopic.
func (CreateTopic) Type() RecordType { return TypeCreateTopic }

// Type returns TypePartitionRecord.
func (PartitionRecord) Type() RecordType { return TypePartitionRecord }

// Type returns TypePartitionChange.
func (PartitionChange) Type() RecordType { return TypePartitionChange }

// Type returns TypeDeleteTopic.
func (DeleteTopic) Type() RecordType { return TypeDeleteTopic }

// Type returns TypeAllocateProducerIDs.
func (AllocateProducerIDs) Type() RecordType { return TypeAllocateProducerIDs }

func (RegisterBroker) isRecord()      {}
func (FenceBroker) isRecord()         {}
func (UnfenceBroker) isRecord()       {}
func (CreateTopic) isRecord()         {}
func (PartitionRecord) isRecord()     {}
func (PartitionChange) isRecord()     {}
func (DeleteTopic) isRecord()         {}
func (AllocateProducerIDs) isRecord() {}

// String renders the record on one line.
func (r RegisterBroker) String() string {
	rack := ""
	if r.Rack != "" {
		rack = " rack=" + r.Rack
	}
	return fmt.Sprintf("RegisterBroker id=%d %s:%d%s incarnation=%d clean=%t%s",
		r.ID, r.Host, r.Port, rack, r.Incarnation, r.CleanShutdown, formatDirectory(r.DirectoryID))
}

// String renders the record on one line.
func (r FenceBroker) String() string { return fmt.Sprintf("FenceBroker id=%d", r.ID) }

// String renders the record on one line.
func (r UnfenceBroker) String() string { return fmt.Sprintf("UnfenceBroker id=%d", r.ID) }

// String renders the record on one line, configs sorted by key.
func (r CreateTopic) String() string {
	return fmt.Sprintf("CreateTopic %s id=%s configs=%s", r.Name, r.ID, formatConfigs(r.Configs))
}

// String renders the record on one line.
func (r PartitionRecord) String() string {
	return fmt.Sprintf("PartitionRecord %s-%d replicas=%v isr=%v%s leader=%d leaderEpoch=%d partitionEpoch=%d",
		r.Topic, r.Partition, formatIDs(r.Replicas), formatIDs(r.ISR), formatELR(r.ELR), r.Leader, r.LeaderEpoch, r.PartitionEpoch)
}

// String renders the record on one line.
func (r PartitionChange) String() string {
	leader := fmt.Sprintf("leader=%d", r.Leader)
	if r.LeaderUnchanged {
		leader = "leader=unchanged"
	}
	return fmt.Sprintf("PartitionChange %s-%d %s isr=%v%s leaderEpoch=%d partitionEpoch=%d",
		r.Topic, r.Partition, leader, formatIDs(r.ISR), formatELR(r.ELR), r.LeaderEpoch, r.PartitionEpoch)
}

// String renders the record on one line.
func (r DeleteTopic) String() string { return fmt.Sprintf("DeleteTopic %s id=%s", r.Name, r.ID) }

// String renders the record on one line.
func (r AllocateProducerIDs) String() string {
	return fmt.Sprintf("AllocateProducerIDs broker=%d first=%d count=%d", r.Broker, r.First, r.Count)
}

func formatIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// formatELR renders a non-empty ELR as " elr=[...]"; an empty one, the
// usual case, as nothing.
func formatELR(elr []int32) string {
	if len(elr) == 0 {
		return ""
	}
	return " elr=" + formatIDs(elr)
}

func formatDirectory(id DirectoryID) string {
	if id.IsZero() {
		return ""
	}
	return " dir=" + id.String()
}

func formatConfigs(configs map[string]string) string {
	parts := make([]string, 0, len(configs))
	for _, key := range sortedKeys(configs) {
		parts = append(parts, key+"="+configs[key])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

package sim

import (
	"slices"

	"cairn/core"
)

// The per-event checks run after every event, so their bookkeeping is
// dense: tables indexed by broker and by a partition's slot, with no
// hashing and no allocation once the tables have grown.

// partitionSlots numbers the partitions in the order they are first seen,
// so that per-partition state lives in slices. A run has a handful of
// topics, so a scan of their names is cheaper than hashing a key.
type partitionSlots struct {
	names []string
	slots [][]int
	n     int
}

// slot returns the partition's number, assigning the next one if new.
func (s *partitionSlots) slot(topic string, partition int32) int {
	t := slices.Index(s.names, topic)
	if t < 0 {
		t = len(s.names)
		s.names = append(s.names, topic)
		s.slots = append(s.slots, nil)
	}
	for int(partition) >= len(s.slots[t]) {
		s.slots[t] = append(s.slots[t], -1)
	}
	if s.slots[t][partition] < 0 {
		s.slots[t][partition] = s.n
		s.n++
	}
	return s.slots[t][partition]
}

// brokerTable holds a value per broker and partition slot.
type brokerTable[T any] struct {
	rows [][]tableCell[T]
}

type tableCell[T any] struct {
	value T
	set   bool
}

func (t *brokerTable[T]) get(broker, slot int) (T, bool) {
	if broker < 0 || broker >= len(t.rows) || slot >= len(t.rows[broker]) {
		var zero T
		return zero, false
	}
	c := t.rows[broker][slot]
	return c.value, c.set
}

func (t *brokerTable[T]) put(broker, slot int, value T) {
	for broker >= len(t.rows) {
		t.rows = append(t.rows, nil)
	}
	for slot >= len(t.rows[broker]) {
		t.rows[broker] = append(t.rows[broker], tableCell[T]{})
	}
	t.rows[broker][slot] = tableCell[T]{value, true}
}

// clear forgets every value of one broker.
func (t *brokerTable[T]) clear(broker int) {
	if broker < len(t.rows) {
		clear(t.rows[broker])
	}
}

// replicaCheckCache remembers the inputs of the last specs.CheckReplicas
// that passed. The check is a pure function of the live replicas'
// statuses, the acks=all ends and the lost disks; when none of them
// changed since, it would pass again, so it is skipped. Most events (a
// heartbeat, a metadata fetch, a group request) change none of them.
type replicaCheckCache struct {
	valid bool
	// inputs is World.replicaInputs when the check passed.
	inputs uint64
	live   []core.PartitionStatus
	// isr backs the ISRs in live: a status's ISR is the core's slice,
	// which a later leadership change may overwrite in place.
	isr []int32
}

// unchanged reports whether live and inputs are what the last passing
// check saw.
func (c *replicaCheckCache) unchanged(live []core.PartitionStatus, inputs uint64) bool {
	if !c.valid || c.inputs != inputs || len(c.live) != len(live) {
		return false
	}
	for i := range live {
		if !statusEqual(c.live[i], live[i]) {
			return false
		}
	}
	return true
}

// remember records a passing check's inputs, copying the ISRs.
func (c *replicaCheckCache) remember(live []core.PartitionStatus, inputs uint64) {
	c.valid, c.inputs = true, inputs
	c.live, c.isr = c.live[:0], c.isr[:0]
	for _, s := range live {
		c.isr = append(c.isr, s.ISR...)
	}
	at := 0
	for _, s := range live {
		n := len(s.ISR)
		s.ISR = c.isr[at : at+n : at+n]
		at += n
		c.live = append(c.live, s)
	}
}

// statusEqual compares every field of two statuses
// (TestStatusEqualSeesEveryField keeps it complete).
func statusEqual(a, b core.PartitionStatus) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && a.Replica == b.Replica &&
		a.Durability == b.Durability && a.Role == b.Role && a.Leader == b.Leader &&
		a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.ISR, b.ISR) && a.StartOffset == b.StartOffset &&
		a.HighWatermark == b.HighWatermark && a.DurableOffset == b.DurableOffset &&
		a.EndOffset == b.EndOffset
}

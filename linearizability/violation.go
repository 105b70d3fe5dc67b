package linearizability

import (
	"cmp"
	"fmt"
	"slices"
)

// Violation kinds. Each names one way a history breaks a guarantee.
const (
	// KindLostWrite: a value acknowledged with acks=all is absent from the
	// offset it was acknowledged at, in a fetch that started after the
	// acknowledgement or in the final read; or a value some fetch returned
	// (so it was committed) is absent from the final read at that offset.
	KindLostWrite = "lost-write"
	// KindDuplicate: one value at two offsets, counting acknowledged offsets,
	// fetched offsets and the final read.
	KindDuplicate = "duplicate"
	// KindInconsistentOffsets: two different values observed at one offset,
	// by fetches, by acks=all acknowledgements, or by an acknowledgement and
	// a fetch that did not start after it.
	KindInconsistentOffsets = "inconsistent-offsets"
	// KindBatchOrder: the values of one batch were each seen at one offset,
	// but not at consecutive offsets in batch order.
	KindBatchOrder = "batch-order"
	// KindNonmonotonicPoll: a poll returned offsets that are not strictly
	// increasing or that start before its fetch offset, or a session's poll
	// began before the previous poll's end without Reset.
	KindNonmonotonicPoll = "nonmonotonic-poll"
	// KindPollSkip: an offset was skipped, inside one poll's records or
	// between a session's polls without Reset.
	KindPollSkip = "poll-skip"
	// KindFailedWriteRead: a value whose produce failed (definitely not
	// written) was read.
	KindFailedWriteRead = "failed-write-read"
	// KindUnproducedRead: a value was read that no produce in the history
	// wrote to this topic-partition (garbage, or a misdirected write).
	KindUnproducedRead = "unproduced-read"
	// KindUncommittedRead: a fetch returned a record at or above the high
	// watermark its own response reported (Guarantee 3).
	KindUncommittedRead = "uncommitted-read"
	// KindRealTimeOrder: offsets contradict the real-time order of
	// operations: a fetch returned a value whose produce had not been called
	// yet, or a produce was acknowledged at an offset that an operation
	// which returned before the produce was called had already filled.
	KindRealTimeOrder = "real-time-order"
)

// Violation is one broken guarantee found in a history.
type Violation struct {
	// Kind is one of the Kind constants.
	Kind string
	// Topic and Partition name the topic-partition.
	Topic     string
	Partition int32
	// Offset is the offset the violation is about (the smallest, when it is
	// about several).
	Offset int64
	// Detail explains the violation, naming operations by their index in
	// the history ("op #12").
	Detail string
}

// String formats the violation as "kind topic/partition@offset: detail".
func (violation Violation) String() string {
	return fmt.Sprintf("%s %s/%d@%d: %s", violation.Kind, violation.Topic, violation.Partition, violation.Offset, violation.Detail)
}

// compareViolations orders by topic, partition, offset, kind, detail.
func compareViolations(a, b Violation) int {
	return cmp.Or(
		cmp.Compare(a.Topic, b.Topic),
		cmp.Compare(a.Partition, b.Partition),
		cmp.Compare(a.Offset, b.Offset),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Detail, b.Detail),
	)
}

// violationKey identifies a violation for de-duplication: one report per
// kind per offset, so a badly broken run yields at most a few reports per
// offset rather than one per pair of observations.
type violationKey struct {
	kind           string
	topicPartition TopicPartition
	offset         int64
}

// collector gathers violations, keeping the first detail for each key. The
// callers walk the history in a fixed order, so "first" is deterministic.
type collector struct {
	seen       map[violationKey]bool
	violations []Violation
}

func newCollector() *collector {
	return &collector{seen: make(map[violationKey]bool)}
}

func (c *collector) add(kind string, topicPartition TopicPartition, offset int64, format string, arguments ...any) {
	key := violationKey{kind: kind, topicPartition: topicPartition, offset: offset}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.violations = append(c.violations, Violation{
		Kind:      kind,
		Topic:     topicPartition.Topic,
		Partition: topicPartition.Partition,
		Offset:    offset,
		Detail:    fmt.Sprintf(format, arguments...),
	})
}

// sorted returns the violations in canonical order.
func (c *collector) sorted() []Violation {
	slices.SortFunc(c.violations, compareViolations)
	return c.violations
}

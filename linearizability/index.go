package linearizability

import (
	"fmt"
	"slices"
)

// valueSource locates the produce that wrote a value.
type valueSource struct {
	operation int // index in the history
	position  int // index in Op.Values
}

// partitionOperations lists, in history order, the operations on one
// topic-partition that the checks look at.
type partitionOperations struct {
	topicPartition TopicPartition
	// produces holds every produce, whatever its outcome.
	produces []int
	// reads holds every acknowledged fetch; fetch errors are ignored.
	reads []int
	// others holds operations no check reads records from: failed and
	// unknown fetches. Kept for the visualization.
	others []int
}

// historyIndex is what every check needs to know about a history.
type historyIndex struct {
	history    History
	sources    map[string]valueSource
	partitions []*partitionOperations // sorted by topic-partition
	lookup     map[TopicPartition]*partitionOperations
}

// newHistoryIndex indexes a validated history.
func newHistoryIndex(h History) *historyIndex {
	index := &historyIndex{
		history: h,
		sources: make(map[string]valueSource),
		lookup:  make(map[TopicPartition]*partitionOperations),
	}
	for operation := range h {
		op := &h[operation]
		part := index.partition(op.TopicPartition())
		switch {
		case op.Kind == OpProduce:
			part.produces = append(part.produces, operation)
			for position, value := range op.Values {
				index.sources[value] = valueSource{operation: operation, position: position}
			}
		case op.readRecords():
			part.reads = append(part.reads, operation)
		default:
			part.others = append(part.others, operation)
		}
	}
	slices.SortFunc(index.partitions, func(a, b *partitionOperations) int {
		return compareTopicPartitions(a.topicPartition, b.topicPartition)
	})
	return index
}

// partition returns the entry for topicPartition, creating it if needed.
func (index *historyIndex) partition(topicPartition TopicPartition) *partitionOperations {
	part, ok := index.lookup[topicPartition]
	if !ok {
		part = &partitionOperations{topicPartition: topicPartition}
		index.lookup[topicPartition] = part
		index.partitions = append(index.partitions, part)
	}
	return part
}

// sourceIn returns the produce that wrote value if that produce addressed
// topicPartition.
func (index *historyIndex) sourceIn(value string, topicPartition TopicPartition) (valueSource, bool) {
	source, ok := index.sources[value]
	if !ok || index.history[source.operation].TopicPartition() != topicPartition {
		return valueSource{}, false
	}
	return source, true
}

// describe names an operation for a violation's detail.
func (index *historyIndex) describe(operation int) string {
	op := &index.history[operation]
	return fmt.Sprintf("op #%d (client %d, %s %s)", operation, op.Client, op.Kind, op.Outcome)
}

// observedBases returns, for each produce on part that some acknowledged
// fetch read from, the base offset the reads imply: the smallest
// read offset minus the value's position in its batch. Reads that imply
// different bases are reported by checkOffsets; the model then fails on
// the ones that disagree with the smallest.
func (index *historyIndex) observedBases(part *partitionOperations) map[int]int64 {
	bases := make(map[int]int64)
	for _, read := range part.reads {
		for _, record := range index.history[read].Records {
			source, ok := index.sourceIn(record.Value, part.topicPartition)
			if !ok {
				continue
			}
			base := record.Offset - int64(source.position)
			if earlier, seen := bases[source.operation]; !seen || base < earlier {
				bases[source.operation] = base
			}
		}
	}
	return bases
}

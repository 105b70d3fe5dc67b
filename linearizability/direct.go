package linearizability

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The direct checks below find violations without search, in time linear
// in the history (plus sorting). Every one of them is implied by the log
// model CheckLog searches with: a history with a direct violation of a kind
// CheckLog runs is never linearizable. The tests hold them to that.

// offsetsShownMax bounds how many offsets a detail string lists.
const offsetsShownMax = 8

// checkReadShapes checks that each read's records are at consecutive,
// increasing offsets starting at its fetch offset. The log model demands it.
func checkReadShapes(index *historyIndex, part *partitionOperations, found *collector) {
	for _, read := range part.reads {
		op := &index.history[read]
		next := op.FetchOffset
		for _, record := range op.Records {
			switch {
			case record.Offset < next:
				found.add(KindNonmonotonicPoll, part.topicPartition, record.Offset,
					"fetch %s from offset %d returned offset %d where offset %d was due",
					index.describe(read), op.FetchOffset, record.Offset, next)
			case record.Offset > next:
				found.add(KindPollSkip, part.topicPartition, next,
					"fetch %s from offset %d skipped offsets %d..%d",
					index.describe(read), op.FetchOffset, next, record.Offset-1)
			}
			next = max(next, record.Offset+1)
		}
	}
}

// checkReadSources checks that every value read was produced to this
// partition by a produce that did not fail and had been called before the
// read returned.
func checkReadSources(index *historyIndex, part *partitionOperations, found *collector) {
	for _, read := range part.reads {
		op := &index.history[read]
		for _, record := range op.Records {
			source, ok := index.sources[record.Value]
			if !ok {
				found.add(KindUnproducedRead, part.topicPartition, record.Offset,
					"fetch %s read %q, which no produce wrote", index.describe(read), record.Value)
				continue
			}
			producer := &index.history[source.operation]
			switch {
			case producer.TopicPartition() != part.topicPartition:
				found.add(KindUnproducedRead, part.topicPartition, record.Offset,
					"fetch %s read %q, which %s wrote to %s", index.describe(read), record.Value,
					index.describe(source.operation), producer.TopicPartition())
			case producer.Outcome == OutcomeFailed:
				found.add(KindFailedWriteRead, part.topicPartition, record.Offset,
					"fetch %s read %q, written by %s, which failed", index.describe(read), record.Value,
					index.describe(source.operation))
			case op.Return < producer.Call:
				found.add(KindRealTimeOrder, part.topicPartition, record.Offset,
					"fetch %s returned at %d with %q, produced by %s, which was called only at %d",
					index.describe(read), op.Return, record.Value, index.describe(source.operation), producer.Call)
			}
		}
	}
}

// sighting is one value at one offset, and who saw it.
type sighting struct {
	value     string
	operation int
}

// partitionSightings gathers what acknowledgements and reads say about
// each offset and each value of one partition.
type partitionSightings struct {
	// readsAt lists, per offset, the values reads returned there, in
	// history order.
	readsAt map[int64][]sighting
	// acknowledgementsAt lists, per offset, the acks=all acknowledgements
	// that placed a value there.
	acknowledgementsAt map[int64][]sighting
	// offsetsOf lists, per value, the distinct offsets at which an
	// acknowledgement (any acks) or a read placed it.
	offsetsOf map[string][]int64
}

func newPartitionSightings(index *historyIndex, part *partitionOperations) *partitionSightings {
	sightings := &partitionSightings{
		readsAt:            make(map[int64][]sighting),
		acknowledgementsAt: make(map[int64][]sighting),
		offsetsOf:          make(map[string][]int64),
	}
	for _, produce := range part.produces {
		op := &index.history[produce]
		if !op.acknowledged() {
			continue
		}
		for position, value := range op.Values {
			offset := op.BaseOffset + int64(position)
			sightings.addOffset(value, offset)
			if op.Acks == AcksAll {
				sightings.acknowledgementsAt[offset] = append(sightings.acknowledgementsAt[offset], sighting{value, produce})
			}
		}
	}
	for _, read := range part.reads {
		for _, record := range index.history[read].Records {
			sightings.readsAt[record.Offset] = append(sightings.readsAt[record.Offset], sighting{record.Value, read})
			sightings.addOffset(record.Value, record.Offset)
		}
	}
	return sightings
}

func (sightings *partitionSightings) addOffset(value string, offset int64) {
	if !slices.Contains(sightings.offsetsOf[value], offset) {
		sightings.offsetsOf[value] = append(sightings.offsetsOf[value], offset)
	}
}

// checkOffsets checks that each offset holds one value and each value sits
// at one offset, and that acknowledged writes stay where they were
// acknowledged.
func checkOffsets(index *historyIndex, part *partitionOperations, found *collector) {
	sightings := newPartitionSightings(index, part)
	offsets := make([]int64, 0, len(sightings.readsAt)+len(sightings.acknowledgementsAt))
	for offset := range sightings.readsAt {
		offsets = append(offsets, offset)
	}
	for offset := range sightings.acknowledgementsAt {
		if _, read := sightings.readsAt[offset]; !read {
			offsets = append(offsets, offset)
		}
	}
	slices.Sort(offsets)
	for _, offset := range offsets {
		checkOffset(index, part.topicPartition, offset, sightings.readsAt[offset], sightings.acknowledgementsAt[offset], found)
	}
	checkValueOffsets(index, part, sightings, found)
}

// checkOffset checks the sightings of one offset.
func checkOffset(index *historyIndex, topicPartition TopicPartition, offset int64, reads, acknowledgements []sighting, found *collector) {
	for _, other := range reads[min(1, len(reads)):] {
		if other.value != reads[0].value {
			found.add(KindInconsistentOffsets, topicPartition, offset,
				"fetches read different values: %q by %s, %q by %s",
				reads[0].value, index.describe(reads[0].operation), other.value, index.describe(other.operation))
		}
	}
	for _, other := range acknowledgements[min(1, len(acknowledgements)):] {
		found.add(KindInconsistentOffsets, topicPartition, offset,
			"acks=all acknowledged two values: %q to %s, %q to %s",
			acknowledgements[0].value, index.describe(acknowledgements[0].operation), other.value, index.describe(other.operation))
	}
	for _, acknowledgement := range acknowledgements {
		acknowledged := &index.history[acknowledgement.operation]
		for _, read := range reads {
			if read.value == acknowledgement.value {
				continue
			}
			reader := &index.history[read.operation]
			if reader.Call > acknowledged.Return {
				found.add(KindLostWrite, topicPartition, offset,
					"%q was acknowledged here to %s at %d, but fetch %s called at %d read %q",
					acknowledgement.value, index.describe(acknowledgement.operation), acknowledged.Return,
					index.describe(read.operation), reader.Call, read.value)
			} else {
				found.add(KindInconsistentOffsets, topicPartition, offset,
					"%q was acknowledged here to %s, but fetch %s, not after it, read %q",
					acknowledgement.value, index.describe(acknowledgement.operation), index.describe(read.operation), read.value)
			}
		}
	}
}

// checkValueOffsets reports values seen at two offsets, and batches whose
// values were each seen at one offset but not laid out as one batch (or
// laid out as a batch that would begin below offset 0).
func checkValueOffsets(index *historyIndex, part *partitionOperations, sightings *partitionSightings, found *collector) {
	for _, produce := range part.produces {
		op := &index.history[produce]
		bases := []int64(nil)
		duplicated := false
		for position, value := range op.Values {
			offsets := sightings.offsetsOf[value]
			if len(offsets) > 1 {
				duplicated = true
				sorted := slices.Sorted(slices.Values(offsets))
				found.add(KindDuplicate, part.topicPartition, sorted[0],
					"%q of %s seen at offsets %s", value, index.describe(produce), formatOffsets(sorted))
			}
			for _, offset := range offsets {
				if base := offset - int64(position); !slices.Contains(bases, base) {
					bases = append(bases, base)
				}
			}
		}
		slices.Sort(bases)
		if !duplicated && (len(bases) > 1 || len(bases) == 1 && bases[0] < 0) {
			found.add(KindBatchOrder, part.topicPartition, bases[0],
				"the values of %s were seen as if its batch began at offsets %s", index.describe(produce), formatOffsets(bases))
		}
	}
}

// formatOffsets lists up to offsetsShownMax offsets.
func formatOffsets(offsets []int64) string {
	shown := offsets[:min(len(offsets), offsetsShownMax)]
	parts := make([]string, len(shown))
	for i, offset := range shown {
		parts[i] = fmt.Sprint(offset)
	}
	if len(offsets) > len(shown) {
		parts = append(parts, fmt.Sprintf("and %d more", len(offsets)-len(shown)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// lengthBound says that by time, the log had at least end records, as the
// operation showed.
type lengthBound struct {
	time      int64
	end       int64
	operation int
}

// placedProduce is a produce that certainly took effect, at base.
type placedProduce struct {
	operation int
	base      int64
}

// checkProduceRealTime checks that no produce that certainly took effect
// was placed below a log length some operation had already shown before
// the produce was called. The log only grows, so a produce called after
// the log reached end records lands at end or later.
func checkProduceRealTime(index *historyIndex, part *partitionOperations, found *collector) {
	var bounds []lengthBound
	for _, produce := range part.produces {
		op := &index.history[produce]
		if op.committedByAcknowledgement() {
			bounds = append(bounds, lengthBound{op.Return, op.BaseOffset + int64(len(op.Values)), produce})
		}
	}
	for _, read := range part.reads {
		op := &index.history[read]
		end := int64(0)
		for _, record := range op.Records {
			end = max(end, record.Offset+1)
		}
		if end > 0 {
			bounds = append(bounds, lengthBound{op.Return, end, read})
		}
	}
	slices.SortFunc(bounds, func(a, b lengthBound) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.operation, b.operation))
	})
	placed := placedProduces(index, part)
	slices.SortFunc(placed, func(a, b placedProduce) int {
		return cmp.Or(cmp.Compare(index.history[a.operation].Call, index.history[b.operation].Call), cmp.Compare(a.operation, b.operation))
	})
	longest := lengthBound{end: -1}
	next := 0
	for _, produce := range placed {
		call := index.history[produce.operation].Call
		for ; next < len(bounds) && bounds[next].time < call; next++ {
			if bounds[next].end > longest.end {
				longest = bounds[next]
			}
		}
		if produce.base < longest.end {
			found.add(KindRealTimeOrder, part.topicPartition, produce.base,
				"%s, called at %d, was placed at base %d, but %s had already shown %d records at %d",
				index.describe(produce.operation), call, produce.base, index.describe(longest.operation), longest.end, longest.time)
		}
	}
}

// placedProduces lists the produces that certainly took effect, with their
// base: acks=all acknowledgements, and acks=1 or unknown produces that a
// read saw. These are exactly the produces the log model must apply.
func placedProduces(index *historyIndex, part *partitionOperations) []placedProduce {
	observed := index.observedBases(part)
	var placed []placedProduce
	for _, produce := range part.produces {
		op := &index.history[produce]
		observedBase, seen := observed[produce]
		switch {
		case op.committedByAcknowledgement():
			placed = append(placed, placedProduce{produce, op.BaseOffset})
		case op.acknowledged() && seen:
			placed = append(placed, placedProduce{produce, op.BaseOffset})
		case op.Outcome == OutcomeUnknown && seen:
			placed = append(placed, placedProduce{produce, observedBase})
		}
	}
	return placed
}

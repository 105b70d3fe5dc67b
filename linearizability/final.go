package linearizability

import (
	"maps"
	"slices"
	"strconv"
)

// CheckFinalRead compares final, a complete read of each partition taken
// at the end of the run (every record from the log's first offset to its
// end, in the order returned), with h. It returns the violations sorted,
// at most one per kind per offset:
//
//   - lost-write: a value acknowledged with acks=all is not in the final
//     read at its acknowledged offset, or a value an acknowledged fetch
//     returned (so it was committed) is not in the final read at the offset
//     the fetch returned it at;
//   - duplicate: a value of the final read is also at another offset, in
//     the final read, an acknowledgement or a fetch;
//   - inconsistent-offsets: the final read returned two values at one
//     offset;
//   - nonmonotonic-poll, poll-skip: the final read's offsets are not
//     strictly increasing, or have a gap;
//   - failed-write-read, unproduced-read: the final read holds a value
//     whose produce failed, or that no produce wrote to that partition.
//
// Values acknowledged with acks=1 and never read may be missing: Kafka
// allows losing them. A partition of h with no entry in final is checked
// as if its final read were empty, so a forgotten final read fails loudly.
// CheckFinalRead panics if Validate(h) fails.
func CheckFinalRead(h History, final map[TopicPartition][]FetchedRecord) []Violation {
	mustValidate(h)
	index := newHistoryIndex(h)
	for _, topicPartition := range slices.SortedFunc(maps.Keys(final), compareTopicPartitions) {
		index.partition(topicPartition)
	}
	found := newCollector()
	for _, part := range index.partitions {
		records, present := final[part.topicPartition]
		checkFinalPartition(index, part, records, present, found)
	}
	return found.sorted()
}

// checkFinalPartition checks the final read of one partition.
func checkFinalPartition(index *historyIndex, part *partitionOperations, records []FetchedRecord, present bool, found *collector) {
	finalAt := make(map[int64]string, len(records))
	next := int64(-1)
	for _, record := range records {
		switch {
		case next >= 0 && record.Offset < next:
			found.add(KindNonmonotonicPoll, part.topicPartition, record.Offset,
				"final read returned offset %d where offset %d was due", record.Offset, next)
		case next >= 0 && record.Offset > next:
			found.add(KindPollSkip, part.topicPartition, next,
				"final read skipped offsets %d..%d", next, record.Offset-1)
		}
		next = max(next, record.Offset+1)
		if earlier, ok := finalAt[record.Offset]; ok && earlier != record.Value {
			found.add(KindInconsistentOffsets, part.topicPartition, record.Offset,
				"final read returned both %q and %q", earlier, record.Value)
			continue
		}
		finalAt[record.Offset] = record.Value
		checkFinalSource(index, part, record, found)
	}
	checkFinalDuplicates(index, part, records, found)
	checkIdempotence(index, part, records, found)

	missing := func(offset int64) string {
		if !present {
			return "there is no final read of this partition"
		}
		if value, ok := finalAt[offset]; ok {
			return "the final read has " + strconv.Quote(value) + " there"
		}
		return "the final read has no record there"
	}
	for _, produce := range part.produces {
		op := &index.history[produce]
		if !op.committedByAcknowledgement() {
			continue
		}
		for position, value := range op.Values {
			offset := op.BaseOffset + int64(position)
			if finalAt[offset] != value {
				found.add(KindLostWrite, part.topicPartition, offset,
					"%q was acknowledged here to %s, but %s", value, index.describe(produce), missing(offset))
			}
		}
	}
	for _, read := range part.reads {
		for _, record := range index.history[read].Records {
			source, ok := index.sourceIn(record.Value, part.topicPartition)
			if !ok || index.history[source.operation].Outcome == OutcomeFailed {
				continue // reported as a bad read, not as a lost write
			}
			if finalAt[record.Offset] != record.Value {
				found.add(KindLostWrite, part.topicPartition, record.Offset,
					"%q was read here by %s, but %s", record.Value, index.describe(read), missing(record.Offset))
			}
		}
	}
}

// checkFinalSource checks that a value of the final read was written to
// this partition by a produce that did not fail.
func checkFinalSource(index *historyIndex, part *partitionOperations, record FetchedRecord, found *collector) {
	source, ok := index.sources[record.Value]
	switch {
	case !ok:
		found.add(KindUnproducedRead, part.topicPartition, record.Offset,
			"the final read has %q, which no produce wrote", record.Value)
	case index.history[source.operation].TopicPartition() != part.topicPartition:
		found.add(KindUnproducedRead, part.topicPartition, record.Offset,
			"the final read has %q, which %s wrote to %s", record.Value,
			index.describe(source.operation), index.history[source.operation].TopicPartition())
	case index.history[source.operation].Outcome == OutcomeFailed:
		found.add(KindFailedWriteRead, part.topicPartition, record.Offset,
			"the final read has %q, written by %s, which failed", record.Value, index.describe(source.operation))
	}
}

// checkFinalDuplicates reports values of the final read that are also
// placed at another offset, by the final read, an acknowledgement or a
// fetch.
func checkFinalDuplicates(index *historyIndex, part *partitionOperations, records []FetchedRecord, found *collector) {
	sightings := newPartitionSightings(index, part)
	finalOffsetsOf := make(map[string][]int64)
	for _, record := range records {
		if !slices.Contains(finalOffsetsOf[record.Value], record.Offset) {
			finalOffsetsOf[record.Value] = append(finalOffsetsOf[record.Value], record.Offset)
		}
	}
	for _, record := range records {
		offsets := finalOffsetsOf[record.Value]
		if offsets == nil {
			continue // already reported
		}
		delete(finalOffsetsOf, record.Value)
		for _, offset := range sightings.offsetsOf[record.Value] {
			if !slices.Contains(offsets, offset) {
				offsets = append(offsets, offset)
			}
		}
		if len(offsets) > 1 {
			slices.Sort(offsets)
			found.add(KindDuplicate, part.topicPartition, offsets[0],
				"%q of the final read is at offsets %s, counting acknowledgements and fetches", record.Value, formatOffsets(offsets))
		}
	}
}

// AppendFinalRead returns a copy of h followed by final as acknowledged
// fetches, one per topic-partition in order, by a client numbered after
// every client in h, outside any session, called after every operation in
// h returned. CheckLog on the result sees the final read as one more
// reader; see CheckLog for why that helps.
func AppendFinalRead(h History, final map[TopicPartition][]FetchedRecord) History {
	result := slices.Clone(h)
	client, latest := 0, int64(0)
	for i := range h {
		client = max(client, h[i].Client+1)
		latest = max(latest, h[i].Call)
		if h[i].Outcome != OutcomeUnknown {
			latest = max(latest, h[i].Return)
		}
	}
	for _, topicPartition := range slices.SortedFunc(maps.Keys(final), compareTopicPartitions) {
		records := final[topicPartition]
		read := Op{
			Client:    client,
			Kind:      OpFetch,
			Topic:     topicPartition.Topic,
			Partition: topicPartition.Partition,
			Call:      latest + 1,
			Return:    latest + 2,
			Outcome:   OutcomeOK,
			Records:   slices.Clone(records),
			Session:   NoSession,
		}
		if len(records) > 0 {
			read.FetchOffset = records[0].Offset
			read.HighWatermark = records[len(records)-1].Offset + 1
		}
		result = append(result, read)
	}
	return result
}

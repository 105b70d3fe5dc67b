package linearizability

import (
	"cmp"
	"maps"
	"slices"
)

// CheckConsumers runs Jepsen-style checks on what the fetches in h saw,
// without search, and returns the violations sorted by topic, partition,
// offset and kind, at most one per kind per offset:
//
//   - lost-write: a value acknowledged with acks=all at offset x, and a
//     fetch called after that acknowledgement returned that read another
//     value at x;
//   - duplicate: one value placed at two offsets by acknowledgements (any
//     acks) and fetches;
//   - inconsistent-offsets: two values at one offset, by two fetches, two
//     acks=all acknowledgements, or an acks=all acknowledgement and a fetch
//     not called after it;
//   - batch-order: the values of one batch seen at offsets that are not
//     consecutive in batch order;
//   - nonmonotonic-poll: a fetch's offsets are not strictly increasing from
//     its fetch offset, or, within one session and topic-partition, a poll
//     begins before the previous poll's end without Reset;
//   - poll-skip: a fetch's offsets have a gap, or, within one session and
//     topic-partition, a poll begins after the previous poll's end without
//     Reset;
//   - failed-write-read: a fetch returned a value whose produce failed;
//   - unproduced-read: a fetch returned a value no produce wrote to that
//     topic-partition;
//   - uncommitted-read: a fetch returned a record at or above the high
//     watermark in its own response;
//   - real-time-order: a fetch returned a value whose produce was called
//     only after the fetch returned.
//
// "A poll's end" is the offset after its last record, or its fetch offset
// when it returned none. Polls of a session are ordered by call time; only
// acknowledged fetches count, so a failed poll does not move the position.
// CheckConsumers panics if Validate(h) fails.
func CheckConsumers(h History) []Violation {
	mustValidate(h)
	index := newHistoryIndex(h)
	found := newCollector()
	for _, part := range index.partitions {
		checkReadShapes(index, part, found)
		checkReadSources(index, part, found)
		checkOffsets(index, part, found)
		checkSessions(index, part, found)
		checkHighWatermarks(index, part, found)
	}
	return found.sorted()
}

// checkSessions checks that each session's polls of one partition continue
// where the previous one ended, unless the poll is a Reset.
func checkSessions(index *historyIndex, part *partitionOperations, found *collector) {
	sessions := make(map[int][]int)
	for _, read := range part.reads {
		if session := index.history[read].Session; session >= 0 {
			sessions[session] = append(sessions[session], read)
		}
	}
	for _, session := range slices.Sorted(maps.Keys(sessions)) {
		polls := sessions[session]
		slices.SortStableFunc(polls, func(a, b int) int {
			return cmp.Compare(index.history[a].Call, index.history[b].Call)
		})
		position, previous := int64(0), -1
		for _, poll := range polls {
			op := &index.history[poll]
			if !op.Reset && previous >= 0 {
				switch {
				case op.FetchOffset < position:
					found.add(KindNonmonotonicPoll, part.topicPartition, op.FetchOffset,
						"session %d: poll %s began at %d, before %d, where %s ended",
						session, index.describe(poll), op.FetchOffset, position, index.describe(previous))
				case op.FetchOffset > position:
					found.add(KindPollSkip, part.topicPartition, position,
						"session %d: poll %s began at %d, skipping offsets %d..%d after %s",
						session, index.describe(poll), op.FetchOffset, position, op.FetchOffset-1, index.describe(previous))
				}
			}
			position = op.FetchOffset
			if records := op.Records; len(records) > 0 {
				position = records[len(records)-1].Offset + 1
			}
			previous = poll
		}
	}
}

// checkHighWatermarks checks that no fetch returned a record at or above
// the high watermark its response reported: consumers read only committed
// records.
func checkHighWatermarks(index *historyIndex, part *partitionOperations, found *collector) {
	for _, read := range part.reads {
		op := &index.history[read]
		for _, record := range op.Records {
			if record.Offset >= op.HighWatermark {
				found.add(KindUncommittedRead, part.topicPartition, record.Offset,
					"fetch %s returned offset %d with high watermark %d", index.describe(read), record.Offset, op.HighWatermark)
				break
			}
		}
	}
}

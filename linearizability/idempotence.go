package linearizability

import "slices"

// KindIdempotence: an idempotent producer's batches are not in the final
// log once each, in the order it issued them: a later batch before an
// earlier one (reordered), or an acknowledged batch preceded by an earlier
// batch of the same producer that was acknowledged yet is absent (a gap).
// Duplicates are KindDuplicate, as for every value.
const KindIdempotence = "idempotence"

// checkIdempotence checks Guarantee 4 on one partition's final read: for
// each idempotent producer (client), the batches it issued to this
// partition, in issue order, appear in the log in that order, each whole
// and contiguous, and none that was acknowledged is missing before one
// that is present.
func checkIdempotence(index *historyIndex, part *partitionOperations, records []FetchedRecord, found *collector) {
	byClient := map[int][]int{} // client → its idempotent produces here, in issue order
	for _, i := range part.produces {
		op := &index.history[i]
		if op.Idempotent {
			byClient[op.Client] = append(byClient[op.Client], i)
		}
	}
	if len(byClient) == 0 {
		return
	}
	offsetOf := make(map[string]int64, len(records))
	for _, r := range records {
		if _, seen := offsetOf[r.Value]; !seen {
			offsetOf[r.Value] = r.Offset
		}
	}
	for _, client := range sortedClients(byClient) {
		ops := byClient[client]
		slices.SortStableFunc(ops, func(a, b int) int { return compareInt64(index.history[a].Call, index.history[b].Call) })
		lastOffset, lastOp := int64(-1), -1
		var missingAcknowledged []int
		for _, i := range ops {
			op := &index.history[i]
			first, present := offsetOf[op.Values[0]]
			if !present {
				if op.Outcome == OutcomeOK {
					missingAcknowledged = append(missingAcknowledged, i)
				}
				continue
			}
			if first <= lastOffset && !op.MayOvertake {
				found.add(KindIdempotence, part.topicPartition, first,
					"client %d: op #%d (issued after op #%d) is at offset %d, before op #%d's end %d",
					client, i, lastOp, first, lastOp, lastOffset)
			}
			for k, value := range op.Values {
				if at, ok := offsetOf[value]; !ok || at != first+int64(k) {
					found.add(KindIdempotence, part.topicPartition, first,
						"client %d: op #%d is not whole and contiguous from offset %d", client, i, first)
					break
				}
			}
			for _, m := range missingAcknowledged {
				found.add(KindIdempotence, part.topicPartition, first,
					"client %d: acknowledged op #%d is missing before op #%d at offset %d", client, m, i, first)
			}
			missingAcknowledged = missingAcknowledged[:0]
			// A batch the partition may have taken as a new producer's
			// starts the order afresh: the batches after it in sequence
			// follow it, not the ones it overtook.
			if end := first + int64(len(op.Values)) - 1; end > lastOffset || op.MayOvertake {
				lastOffset, lastOp = end, i
			}
		}
	}
}

func sortedClients(m map[int][]int) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

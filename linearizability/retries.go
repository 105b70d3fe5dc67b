package linearizability

import (
	"fmt"
	"maps"
	"slices"
)

// SeparateRetries returns copies of h and final in which the extra copies
// a producer without idempotence wrote by resending a batch are produces
// of their own, and how many copies it separated.
//
// The checks require every value once in the log, as the simulator's
// producers give it: they never resend a batch without its sequence
// number. A real client does (franz-go, librdkafka and the rest retry
// under the hood, and one Op covers all its attempts): when the answer to
// a produce is lost after a follower copied the batch, the resent batch
// is written again, and Kafka allows that. It allows it only in the same
// partition, since the client resends to the partition it chose, and
// only before the copy it acknowledged, since a client never resends a
// batch once answered. So, for each produce of h that is not Idempotent
// and did not fail, every whole copy of its batch in final at another
// base of its partition is separated when it ends at or before the
// acknowledged base, or, for an unknown outcome, when a later whole copy
// follows (the last one stays the produce's own). A separated copy gets
// new values, the old ones with a suffix naming its base, and a produce
// of its own with the original's client, call and acks and an unknown
// outcome: an attempt whose answer the client never saw. Fetches in h
// that returned a separated record get the new value too.
//
// Anything else that repeats a value stays for the checks to report: a
// copy after the acknowledged one, in another partition, torn, or of an
// idempotent producer. Call it only on histories of clients that retry
// without idempotence; on the simulator's it would hide duplicates.
// SeparateRetries panics if Validate(h) fails.
func SeparateRetries(h History, final map[TopicPartition][]FetchedRecord) (History, map[TopicPartition][]FetchedRecord, int) {
	mustValidate(h)
	taken := make(map[string]bool)
	for i := range h {
		for _, value := range h[i].Values {
			taken[value] = true
		}
	}
	result := slices.Clone(h)
	separatedFinal := make(map[TopicPartition][]FetchedRecord, len(final))
	renamed := make(map[TopicPartition]map[int64]renaming)
	index := newHistoryIndex(h)
	copies := 0
	for _, topicPartition := range slices.SortedFunc(maps.Keys(final), compareTopicPartitions) {
		records := slices.Clone(final[topicPartition])
		separatedFinal[topicPartition] = records
		at := make(map[int64]int, len(records))             // offset → index in records
		offsetsOf := make(map[string][]int64, len(records)) // value → its offsets, ascending
		for i, record := range records {
			at[record.Offset] = i
			offsetsOf[record.Value] = append(offsetsOf[record.Value], record.Offset)
		}
		for _, produce := range index.partition(topicPartition).produces {
			op := &h[produce]
			if op.Idempotent || op.Outcome == OutcomeFailed || len(offsetsOf[op.Values[0]]) < 2 {
				continue
			}
			for _, base := range retriedCopies(op, records, at, offsetsOf[op.Values[0]]) {
				copied := *op
				copied.Outcome, copied.Return, copied.BaseOffset = OutcomeUnknown, op.Call, 0
				copied.Values = make([]string, len(op.Values))
				for position, value := range op.Values {
					offset := base + int64(position)
					newValue := fmt.Sprintf("%s (copy at offset %d)", value, offset)
					for taken[newValue] {
						newValue += "'"
					}
					taken[newValue] = true
					copied.Values[position] = newValue
					records[at[offset]].Value = newValue
					if renamed[topicPartition] == nil {
						renamed[topicPartition] = make(map[int64]renaming)
					}
					renamed[topicPartition][offset] = renaming{from: value, to: newValue}
				}
				result = append(result, copied)
				copies++
			}
		}
	}
	for i := range result[:len(h)] {
		op := &result[i]
		names := renamed[op.TopicPartition()]
		if op.Kind != OpFetch || names == nil {
			continue
		}
		op.Records = slices.Clone(op.Records)
		for k, record := range op.Records {
			if name, ok := names[record.Offset]; ok && record.Value == name.from {
				op.Records[k].Value = name.to
			}
		}
	}
	return result, separatedFinal, copies
}

// renaming is the value a separated copy had at one offset, and its new one.
type renaming struct {
	from, to string
}

// retriedCopies returns the bases, in increasing order, of the whole
// copies of op's batch in records that SeparateRetries separates.
func retriedCopies(op *Op, records []FetchedRecord, at map[int64]int, firstAt []int64) []int64 {
	var whole []int64
	for _, base := range firstAt {
		complete := true
		for position, value := range op.Values {
			i, ok := at[base+int64(position)]
			if !ok || records[i].Value != value {
				complete = false
				break
			}
		}
		if complete {
			whole = append(whole, base)
		}
	}
	slices.Sort(whole)
	var separated []int64
	for i, base := range whole {
		end := base + int64(len(op.Values))
		switch {
		case op.Outcome == OutcomeOK && base != op.BaseOffset && end <= op.BaseOffset:
			separated = append(separated, base)
		case op.Outcome == OutcomeUnknown && i < len(whole)-1 && end <= whole[len(whole)-1]:
			separated = append(separated, base)
		}
	}
	return separated
}

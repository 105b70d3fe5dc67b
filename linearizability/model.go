package linearizability

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The sequential specification CheckLog searches with is one partition's
// log: a list of values that only grows, one produce batch at a time.
//
//   - A produce that certainly took effect (acks=all acknowledged; acks=1
//     acknowledged or unknown but read by some fetch) appends its batch and
//     is legal only if the batch lands at its base offset.
//   - A produce that may or may not have taken effect (unknown and never
//     read; acks=1 acknowledged and never read, since acks=1 writes may be
//     lost) has return time math.MaxInt64, so it may be linearized at any
//     point after its call, including after every other operation.
//   - A fetch with records is legal iff the log holds those values at those
//     offsets. A fetch without records is always legal and left out.
//   - Failed produces never take effect and are left out.
//
// Searched naively, "may or may not take effect" explodes: a pending
// unknown produce can be tried at every point, in every order with the
// others, and refuting an illegal history means trying them all. The model
// accepts only a canonical form of each linearization instead, which exists
// whenever any linearization does:
//
//   - Claims. An offset is claimed when every legal linearization puts a
//     known value there: a produce that certainly took effect claims its
//     batch, a read record its offset. A maybe produce cannot overlap a
//     claimed offset (values are unique, so the claim would break), and
//     applying one beyond the last claimed offset is invisible to every
//     operation, the same as not applying it. So a maybe produce matters
//     only by filling an unclaimed gap below the last claim; one that fits
//     no gap is dropped, and a maybe produce never applied is linearized
//     once the log has reached the last claim, as a no-op.
//   - Filler. Nobody read the records of a maybe produce (else it would
//     certainly have taken effect), so the log keeps them as anonymous
//     filler.
//   - Rank. Two unread unknown produces with batches of the same length
//     are interchangeable, except that the one called earlier can be used
//     wherever the later one can. So within each length, they are used
//     (applied, or no-op'd at the end) in call order; swapping any two in
//     a linearization gives another linearization.
//
// Reads happen at their return. A read changes nothing, and once the log
// holds the records it read it holds them forever, so a read legal at some
// instant in [call, return] is legal at its return too; and moving it there
// breaks no real-time order, because anything that must follow the read was
// called after its return. So the search gives each read the interval
// [return, return], and a read no longer interleaves with every operation
// that overlaps it.

// stepKind is how the model steps one operation.
type stepKind uint8

const (
	// stepAppend applies a batch that must land at base.
	stepAppend stepKind = iota + 1
	// stepMaybeAppendAtBase applies filler if the log ends at base, and
	// does nothing once the log has reached the last claim.
	stepMaybeAppendAtBase
	// stepMaybeAppend, in rank order within its length, applies filler
	// wherever the log ends if it fits unclaimed offsets, and does nothing
	// once the log has reached the last claim.
	stepMaybeAppend
	// stepRead checks that the log holds the records read.
	stepRead
)

// expectedRecord is the produce and batch position a read record must
// come from. producer is -1 when no produce in the model wrote the value.
type expectedRecord struct {
	producer int
	position int64
}

// modelOperation is the Porcupine input of one operation. It is immutable
// once built; Porcupine may step it many times.
type modelOperation struct {
	kind      stepKind
	operation int // index in the history
	// Produces.
	base   int64 // the offset the batch must land at; stepAppend, stepMaybeAppendAtBase
	length int64
	class  int   // stepMaybeAppend: index of its length among the ranked lengths
	rank   int32 // stepMaybeAppend: position in call order within its length
	// Reads.
	fetchOffset int64
	expected    []expectedRecord
	// readable is false when no log can satisfy the read: its offsets are
	// not consecutive from fetchOffset, or it holds a value no produce in
	// the model wrote.
	readable bool
}

// modelState is a state of the model: the log, and how many ranked maybe
// produces of each length have been used. States are immutable.
type modelState struct {
	log  *logNode
	used []int32 // per class; shared between states, never mutated
	hash uint64
}

func newModelState(log *logNode, used []int32) *modelState {
	hash := log.hash
	for class, count := range used {
		hash = mixHash(hash ^ uint64(class)<<32 ^ uint64(count))
	}
	return &modelState{log: log, used: used, hash: hash}
}

func equalStates(a, b *modelState) bool {
	return a == b || a.hash == b.hash && slices.Equal(a.used, b.used) && equalLogs(a.log, b.log)
}

// claims holds the claimed offsets of one partition as sorted, disjoint,
// non-adjacent intervals [start, end).
type claims struct {
	intervals []offsetInterval
	end       int64 // one past the last claimed offset; 0 when none
}

type offsetInterval struct {
	start, end int64
}

func newClaims(intervals []offsetInterval) *claims {
	slices.SortFunc(intervals, func(a, b offsetInterval) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
	})
	merged := []offsetInterval(nil)
	for _, interval := range intervals {
		if last := len(merged) - 1; last >= 0 && interval.start <= merged[last].end {
			merged[last].end = max(merged[last].end, interval.end)
			continue
		}
		merged = append(merged, interval)
	}
	result := &claims{intervals: merged}
	if len(merged) > 0 {
		result.end = merged[len(merged)-1].end
	}
	return result
}

// free reports whether no offset in [start, start+length) is claimed.
func (claimed *claims) free(start, length int64) bool {
	// The first interval that ends after start is the only one that can
	// overlap [start, start+length) from below.
	index, _ := slices.BinarySearchFunc(claimed.intervals, start, func(interval offsetInterval, offset int64) int {
		if interval.end <= offset {
			return -1
		}
		return 1
	})
	return index == len(claimed.intervals) || claimed.intervals[index].start >= start+length
}

// widestGap returns the size of the widest unclaimed run of offsets below
// the last claim.
func (claimed *claims) widestGap() int64 {
	widest, previousEnd := int64(0), int64(0)
	for _, interval := range claimed.intervals {
		widest = max(widest, interval.start-previousEnd)
		previousEnd = interval.end
	}
	return widest
}

// logModel is the Porcupine model of one partition.
type logModel struct {
	history History
	claimed *claims
	initial *modelState
}

func (model *logModel) step(state, input, _ any) (bool, any) {
	current := state.(*modelState)
	log := current.log
	operation := input.(*modelOperation)
	switch operation.kind {
	case stepAppend:
		if log.end != operation.base {
			return false, nil
		}
		return true, newModelState(log.appendBatch(operation.operation, operation.length), current.used)
	case stepMaybeAppendAtBase:
		if log.end == operation.base {
			return true, newModelState(log.appendFiller(operation.length), current.used)
		}
		return log.end >= model.claimed.end, current
	case stepMaybeAppend:
		if current.used[operation.class] != operation.rank {
			return false, nil
		}
		used := slices.Clone(current.used)
		used[operation.class]++
		if log.end >= model.claimed.end {
			return true, newModelState(log, used)
		}
		if model.claimed.free(log.end, operation.length) {
			return true, newModelState(log.appendFiller(operation.length), used)
		}
		return false, nil
	case stepRead:
		return model.holds(log, operation), current
	default:
		panic(fmt.Sprintf("linearizability: unknown step kind %d", operation.kind))
	}
}

// holds reports whether log holds the records of a read. It walks back
// from the batch holding the last record, so the cost is the number of
// records plus O(log batches).
func (model *logModel) holds(log *logNode, read *modelOperation) bool {
	if !read.readable {
		return false
	}
	last := read.fetchOffset + int64(len(read.expected)) - 1
	if last >= log.end {
		return false
	}
	node := log.batchAt(last)
	for index := len(read.expected) - 1; index >= 0; index-- {
		offset := read.fetchOffset + int64(index)
		for node.base > offset {
			node = node.parent
		}
		expected := read.expected[index]
		if node.operation != expected.producer || offset-node.base != expected.position {
			return false
		}
	}
	return true
}

// valuesShownMax bounds how many values a visualization label lists.
const valuesShownMax = 6

func (model *logModel) describeOperation(input, _ any) string {
	operation := input.(*modelOperation)
	op := &model.history[operation.operation]
	switch operation.kind {
	case stepAppend:
		return fmt.Sprintf("produce %s at %d", formatValues(op.Values), operation.base)
	case stepMaybeAppendAtBase:
		return fmt.Sprintf("produce %s at %d, acks=1, unread, may be lost", formatValues(op.Values), operation.base)
	case stepMaybeAppend:
		return fmt.Sprintf("produce %s, outcome unknown, unread", formatValues(op.Values))
	default:
		values := make([]string, len(op.Records))
		for i, record := range op.Records {
			values[i] = record.Value
		}
		return fmt.Sprintf("fetch at %d: %s (called at %d, searched at its return)", op.FetchOffset, formatValues(values), op.Call)
	}
}

// describeState shows the length and the last few values of the log.
func (model *logModel) describeState(state any) string {
	log := state.(*modelState).log
	var last []string
	for node := log; node.depth > 0 && len(last) < valuesShownMax; node = node.parent {
		if node.operation == fillerOperation {
			last = append(last, fmt.Sprintf("(%d unread)", node.end-node.base))
			continue
		}
		values := model.history[node.operation].Values
		for i := len(values) - 1; i >= 0 && len(last) < valuesShownMax; i-- {
			last = append(last, values[i])
		}
	}
	slices.Reverse(last)
	prefix := ""
	if log.depth > 0 && len(last) == valuesShownMax {
		prefix = "… "
	}
	return fmt.Sprintf("%d records: [%s%s]", log.end, prefix, strings.Join(last, " "))
}

func (model *logModel) describeMetadata(metadata any) string {
	if metadata == nil {
		return ""
	}
	return fmt.Sprintf("op #%d", metadata.(int))
}

// porcupineModel wraps the log model for Porcupine. Each call checks one
// partition, so it needs no partition function.
func (model *logModel) porcupineModel() porcupine.Model {
	return porcupine.Model{
		Init:                      func() any { return model.initial },
		Step:                      model.step,
		Equal:                     func(a, b any) bool { return equalStates(a.(*modelState), b.(*modelState)) },
		Hash:                      func(state any) uint64 { return state.(*modelState).hash },
		DescribeOperation:         model.describeOperation,
		DescribeState:             model.describeState,
		DescribeOperationMetadata: model.describeMetadata,
	}
}

// formatValues lists up to valuesShownMax values.
func formatValues(values []string) string {
	shown := values[:min(len(values), valuesShownMax)]
	text := strings.Join(shown, " ")
	if len(values) > len(shown) {
		text += fmt.Sprintf(" …%d more", len(values)-len(shown))
	}
	return "[" + text + "]"
}

// buildModel turns the operations on one partition into a Porcupine model
// and history.
func buildModel(index *historyIndex, part *partitionOperations) (*logModel, []porcupine.Operation) {
	history := index.history
	placed := placedProduces(index, part)
	model := &logModel{history: history, claimed: newClaims(claimedIntervals(index, part, placed))}
	var operations []porcupine.Operation
	add := func(input *modelOperation, callTime, returnTime int64) {
		operations = append(operations, porcupine.Operation{
			ClientId: history[input.operation].Client,
			Input:    input,
			Call:     callTime,
			Return:   returnTime,
			Metadata: input.operation,
		})
	}

	isPlaced := make(map[int]bool, len(placed))
	for _, produce := range placed {
		isPlaced[produce.operation] = true
		op := &history[produce.operation]
		returnTime := int64(math.MaxInt64)
		if op.committedByAcknowledgement() {
			returnTime = op.Return
		}
		add(&modelOperation{kind: stepAppend, operation: produce.operation, base: produce.base, length: int64(len(op.Values))}, op.Call, returnTime)
	}
	widestGap := model.claimed.widestGap()
	var ranked []*modelOperation
	for _, produce := range part.produces {
		op := &history[produce]
		length := int64(len(op.Values))
		switch {
		case isPlaced[produce] || op.Outcome == OutcomeFailed:
		case op.acknowledged():
			// An acks=1 write nobody read: it matters only if it can fill
			// unclaimed offsets below the last claim.
			if op.BaseOffset < model.claimed.end && model.claimed.free(op.BaseOffset, length) {
				add(&modelOperation{kind: stepMaybeAppendAtBase, operation: produce, base: op.BaseOffset, length: length}, op.Call, math.MaxInt64)
			}
		case length <= widestGap:
			operation := &modelOperation{kind: stepMaybeAppend, operation: produce, length: length}
			ranked = append(ranked, operation)
			add(operation, op.Call, math.MaxInt64)
		}
	}
	model.initial = newModelState(newRootNode(), rank(history, ranked))
	for _, read := range part.reads {
		// A read is searched as if called at its return; see "Reads happen
		// at their return" above.
		if op := &history[read]; len(op.Records) > 0 {
			add(newReadOperation(index, part, read), op.Return, op.Return)
		}
	}
	return model, operations
}

// claimedIntervals lists the offsets every linearization must fill with a
// known value: the batches of placed produces and the offsets of records
// read.
func claimedIntervals(index *historyIndex, part *partitionOperations, placed []placedProduce) []offsetInterval {
	var intervals []offsetInterval
	for _, produce := range placed {
		intervals = append(intervals, offsetInterval{produce.base, produce.base + int64(len(index.history[produce.operation].Values))})
	}
	for _, read := range part.reads {
		for _, record := range index.history[read].Records {
			if record.Offset >= 0 {
				intervals = append(intervals, offsetInterval{record.Offset, record.Offset + 1})
			}
		}
	}
	return intervals
}

// rank sets the class and rank of each ranked maybe produce: its length's
// index among the distinct lengths, and its place in (call, index) order
// among the produces of that length. It returns the initial use counts.
func rank(history History, ranked []*modelOperation) []int32 {
	slices.SortFunc(ranked, func(a, b *modelOperation) int {
		return cmp.Or(cmp.Compare(a.length, b.length),
			cmp.Compare(history[a.operation].Call, history[b.operation].Call),
			cmp.Compare(a.operation, b.operation))
	})
	used := []int32(nil)
	for i, operation := range ranked {
		if i == 0 || ranked[i-1].length != operation.length {
			used = append(used, 0)
		} else {
			operation.rank = ranked[i-1].rank + 1
		}
		operation.class = len(used) - 1
	}
	return used
}

// newReadOperation precomputes where each record of a read must come from.
func newReadOperation(index *historyIndex, part *partitionOperations, read int) *modelOperation {
	op := &index.history[read]
	operation := &modelOperation{
		kind:        stepRead,
		operation:   read,
		fetchOffset: op.FetchOffset,
		expected:    make([]expectedRecord, len(op.Records)),
		readable:    true,
	}
	for i, record := range op.Records {
		expected := expectedRecord{producer: -1}
		if source, ok := index.sourceIn(record.Value, part.topicPartition); ok && index.history[source.operation].Outcome != OutcomeFailed {
			expected = expectedRecord{producer: source.operation, position: int64(source.position)}
		}
		if expected.producer < 0 || record.Offset != op.FetchOffset+int64(i) {
			operation.readable = false
		}
		operation.expected[i] = expected
	}
	return operation
}

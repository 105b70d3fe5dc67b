package linearizability

import (
	"runtime"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of checking one partition.
type Verdict uint8

const (
	// VerdictUnknown means the search timed out before deciding. It is the
	// zero value, so a verdict nobody set never reads as a pass.
	VerdictUnknown Verdict = iota
	// VerdictOK means the partition's history is linearizable.
	VerdictOK
	// VerdictIllegal means it is not.
	VerdictIllegal
)

// String returns "unknown", "ok" or "illegal".
func (verdict Verdict) String() string {
	switch verdict {
	case VerdictOK:
		return "ok"
	case VerdictIllegal:
		return "illegal"
	default:
		return "unknown"
	}
}

func verdictOf(result porcupine.CheckResult) Verdict {
	switch result {
	case porcupine.Ok:
		return VerdictOK
	case porcupine.Illegal:
		return VerdictIllegal
	default:
		return VerdictUnknown
	}
}

// visualizationSearchTimeoutMax bounds the search CheckLog still runs on a
// partition the pre-check already found illegal. That search only feeds
// the visualization, and refuting an illegal history may mean exhausting
// an exponential space, so it never gets the unlimited timeout 0 means.
const visualizationSearchTimeoutMax = 3 * time.Second

// PartitionResult is the verdict on one topic-partition.
type PartitionResult struct {
	TopicPartition TopicPartition
	// Verdict is VerdictIllegal if the pre-check found a violation or the
	// search found no linearization; otherwise the search's verdict.
	Verdict Verdict
	// SearchVerdict is Porcupine's verdict alone. When the pre-check found
	// violations the search runs only for the visualization, with a timeout
	// of at most visualizationSearchTimeoutMax, so it may be
	// VerdictUnknown even when CheckLog was given no timeout.
	SearchVerdict Verdict
	// Violations are what the direct pre-check found, sorted. Each one
	// alone makes the history non-linearizable.
	Violations []Violation
	// Operations is how many operations the search was given.
	Operations int
	// Info is Porcupine's linearization information, for WriteReport. The
	// order of its partial linearizations is Porcupine's (map order); only
	// the visualization sees it.
	Info porcupine.LinearizationInfo

	model    *logModel
	modelled []int // history indexes of the operations the search was given
}

// Result is the verdict on every topic-partition in a history, sorted by
// topic and partition.
type Result struct {
	Partitions []PartitionResult
}

// OK reports whether every partition is linearizable. A partition whose
// search timed out is not OK.
func (result Result) OK() bool {
	for i := range result.Partitions {
		if result.Partitions[i].Verdict != VerdictOK {
			return false
		}
	}
	return true
}

// Violations returns the pre-check violations of every partition, sorted.
func (result Result) Violations() []Violation {
	var violations []Violation
	for i := range result.Partitions {
		violations = append(violations, result.Partitions[i].Violations...)
	}
	return violations
}

// CheckLog checks, for each topic-partition in h, that the history is
// linearizable against a sequential append-only log:
//
//   - a produce acknowledged with acks=all at base offset b appended its
//     batch at some instant between its call and return, when the log held
//     exactly b records;
//   - a produce with an unknown outcome, or acknowledged with acks=1 (which
//     Kafka allows to be lost), appended its batch at some instant after its
//     call, or never; an acks=1 batch, if appended, at its acknowledged base;
//   - a failed produce never appended anything;
//   - an acknowledged fetch from offset o that returned records r saw, at
//     some instant between its call and return, log[o : o+len(r)], with
//     offsets consecutive from o. An empty result is always legal; fetch
//     errors are ignored.
//
// Before searching, a direct pre-check finds, without search, the common
// violations (read shapes and sources, inconsistent offsets, duplicates,
// lost acknowledged writes, real-time order); see PartitionResult.
//
// Because a fetch may return a prefix of what exists, CheckLog cannot see
// the loss of records nobody read after the loss; CheckFinalRead can.
// Appending the final read to the history (AppendFinalRead) lets CheckLog
// see it too, and leaves no unread offsets for the search to guess about:
// it is then close to linear in the history. Without it, unread records of
// unknown and acks=1 produces leave gaps the search must fill by trying
// produces, which on an illegal history can take exponential time.
//
// timeout bounds the search of each partition (0 means no bound); a
// partition that runs out is VerdictUnknown. Partitions are searched
// concurrently, at most GOMAXPROCS at a time. CheckLog panics if
// Validate(h) fails.
func CheckLog(h History, timeout time.Duration) Result {
	mustValidate(h)
	index := newHistoryIndex(h)
	result := Result{Partitions: make([]PartitionResult, len(index.partitions))}
	workers := min(runtime.GOMAXPROCS(0), len(index.partitions))
	next := make(chan int)
	var wait sync.WaitGroup
	for range workers {
		wait.Go(func() {
			for partition := range next {
				result.Partitions[partition] = checkPartition(index, index.partitions[partition], timeout)
			}
		})
	}
	for partition := range index.partitions {
		next <- partition
	}
	close(next)
	wait.Wait()
	return result
}

// checkPartition runs the pre-check and the search on one partition.
func checkPartition(index *historyIndex, part *partitionOperations, timeout time.Duration) PartitionResult {
	found := newCollector()
	checkReadShapes(index, part, found)
	checkReadSources(index, part, found)
	checkOffsets(index, part, found)
	checkProduceRealTime(index, part, found)
	violations := found.sorted()

	model, operations := buildModel(index, part)
	searchTimeout := timeout
	if len(violations) > 0 && (timeout == 0 || timeout > visualizationSearchTimeoutMax) {
		searchTimeout = visualizationSearchTimeoutMax
	}
	searchResult, info := porcupine.CheckOperationsVerbose(model.porcupineModel(), operations, searchTimeout)
	modelled := make([]int, len(operations))
	for i := range operations {
		modelled[i] = operations[i].Metadata.(int)
	}
	partition := PartitionResult{
		TopicPartition: part.topicPartition,
		SearchVerdict:  verdictOf(searchResult),
		Violations:     violations,
		Operations:     len(operations),
		Info:           info,
		model:          model,
		modelled:       modelled,
	}
	partition.Verdict = partition.SearchVerdict
	if len(violations) > 0 {
		partition.Verdict = VerdictIllegal
	}
	return partition
}

package linearizability

import (
	"cmp"
	"fmt"
	"math"
)

// OpKind says whether an Op is a produce or a fetch.
type OpKind uint8

const (
	// OpProduce is one produce request carrying one batch of values.
	OpProduce OpKind = iota + 1
	// OpFetch is one fetch (poll) of one partition.
	OpFetch
)

// String returns "produce" or "fetch".
func (kind OpKind) String() string {
	switch kind {
	case OpProduce:
		return "produce"
	case OpFetch:
		return "fetch"
	default:
		return fmt.Sprintf("OpKind(%d)", uint8(kind))
	}
}

// Outcome is what the client learned about an operation.
type Outcome uint8

const (
	// OutcomeOK means the broker acknowledged the operation.
	OutcomeOK Outcome = iota + 1
	// OutcomeFailed means the broker answered with an error that guarantees
	// nothing was written.
	OutcomeFailed
	// OutcomeUnknown means a timeout, a lost connection, or an error after
	// which a write may or may not exist. Return is meaningless.
	OutcomeUnknown
)

// String returns "ok", "failed" or "unknown".
func (outcome Outcome) String() string {
	switch outcome {
	case OutcomeOK:
		return "ok"
	case OutcomeFailed:
		return "failed"
	case OutcomeUnknown:
		return "unknown"
	default:
		return fmt.Sprintf("Outcome(%d)", uint8(outcome))
	}
}

const (
	// AcksLeader is acks=1: the leader appended the batch to its own log. An
	// acknowledged acks=1 batch may still be lost when leadership moves
	// before followers copy it; Kafka promises nothing more.
	AcksLeader int16 = 1
	// AcksAll is acks=-1: every in-sync replica has the batch, so it is
	// committed and must never be lost (Guarantee 2).
	AcksAll int16 = -1
)

// NoSession is a Session value for a fetch that belongs to no consumer
// session (for example a one-off read); such fetches are not checked for
// poll order. Any negative Session means the same.
const NoSession = -1

// FetchedRecord is one record returned by a fetch.
type FetchedRecord struct {
	Offset int64
	Value  string
}

// Op is one client operation in a History.
type Op struct {
	// Client is the workload client that issued the operation.
	Client int
	// Kind is OpProduce or OpFetch.
	Kind OpKind
	// Topic and Partition name the topic-partition the operation addressed.
	Topic     string
	Partition int32
	// Call and Return are times in nanoseconds: virtual in the simulator,
	// since the test began in compat's real-process tests. Return is
	// meaningless when Outcome is OutcomeUnknown.
	Call, Return int64
	// Outcome is what the client learned.
	Outcome Outcome

	// Values is the produced batch. Values are unique across the whole
	// history: the workload embeds a unique id in each.
	Values []string
	// Acks is AcksLeader (1) or AcksAll (-1).
	Acks int16
	// Idempotent marks a produce of an idempotent producer: one entry
	// covers every retry of the batch (Call is the first send, Return the
	// final answer), and the client's batches must land in the log once
	// each, in the order it issued them, with no acknowledged batch
	// missing before another (Guarantee 4).
	Idempotent bool
	// BaseOffset is, when Outcome is OutcomeOK, the acknowledged offset of
	// Values[0]; Values[i] is at BaseOffset+i.
	BaseOffset int64
	// Attempts are an idempotent produce's sends, in order: the simulator
	// uses them to tell which second copies of a batch the protocol allows
	// (a retry after the producer's expiry, or a batch resent under a new
	// epoch while an earlier send of it could still have been written).
	Attempts []Attempt
	// MayOvertake says that the partition may have forgotten the producer
	// (producer.id.expiration.ms) before it wrote this batch, and so taken
	// it as a new producer's first: it may then precede the producer's
	// earlier batches, as in Kafka. The simulator sets it from when the
	// batches' sends reached brokers.
	MayOvertake bool

	// FetchOffset is the offset the fetch asked for.
	FetchOffset int64
	// Records are the records the fetch returned, in the order returned.
	Records []FetchedRecord
	// HighWatermark is the high watermark the fetch response reported, when
	// Outcome is OutcomeOK.
	HighWatermark int64
	// Session is the consumer session: fetches of one session and
	// topic-partition continue where the previous one ended unless Reset.
	// A negative Session (NoSession) opts out of poll-order checks.
	Session int
	// Reset says this fetch starts a new position (a seek) in its session.
	Reset bool
}

// AttemptUnanswered is Attempt.Answer for a send whose answer never came.
const AttemptUnanswered int16 = -1

// Attempt is one send of an idempotent produce's batch.
type Attempt struct {
	// Sent is when the client sent it; Arrived and ArrivedLast when a
	// broker first and last took it in (-1: none did), in virtual time.
	Sent, Arrived, ArrivedLast int64
	// ProducerID, Epoch and Sequence are what the batch carried.
	ProducerID int64
	Epoch      int16
	Sequence   int32
	// Answer is the error code the client got (0: success), or
	// AttemptUnanswered.
	Answer int16
	// Reset says that this answer made the producer take a new epoch or id.
	Reset bool
}

// History is the list of operations of one simulation run. Its order does
// not matter to the checks except as a tie-breaker; times do.
type History []Op

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String formats the partition as "topic/partition".
func (topicPartition TopicPartition) String() string {
	return fmt.Sprintf("%s/%d", topicPartition.Topic, topicPartition.Partition)
}

// compareTopicPartitions orders by topic, then partition.
func compareTopicPartitions(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// TopicPartition returns the topic-partition the operation addressed.
func (op *Op) TopicPartition() TopicPartition {
	return TopicPartition{Topic: op.Topic, Partition: op.Partition}
}

// acknowledged reports whether op is a produce the broker acknowledged.
func (op *Op) acknowledged() bool {
	return op.Kind == OpProduce && op.Outcome == OutcomeOK
}

// committedByAcknowledgement reports whether op is a produce acknowledged
// with acks=all, the only acknowledgement that promises durability.
func (op *Op) committedByAcknowledgement() bool {
	return op.acknowledged() && op.Acks == AcksAll
}

// readRecords reports whether op is a fetch whose records count as
// observations: an acknowledged fetch. Fetch errors are ignored.
func (op *Op) readRecords() bool {
	return op.Kind == OpFetch && op.Outcome == OutcomeOK
}

// returnTime is the latest instant the operation can have taken effect,
// math.MaxInt64 when the client never learned (Porcupine's convention).
func (op *Op) returnTime() int64 {
	if op.Outcome == OutcomeUnknown {
		return math.MaxInt64
	}
	return op.Return
}

// Validate reports the first way h is malformed, or nil. The checks in this
// package panic on a malformed history: it is a workload bug, and checking
// it would give answers that mean nothing.
func Validate(h History) error {
	producedBy := make(map[string]int)
	for index := range h {
		op := &h[index]
		if err := validateOp(op); err != nil {
			return fmt.Errorf("op #%d: %w", index, err)
		}
		if op.Kind != OpProduce {
			continue
		}
		for _, value := range op.Values {
			if earlier, ok := producedBy[value]; ok {
				return fmt.Errorf("op #%d: value %q was already produced by op #%d; values must be unique", index, value, earlier)
			}
			producedBy[value] = index
		}
	}
	return nil
}

// validateOp checks the fields of one operation.
func validateOp(op *Op) error {
	if op.Partition < 0 {
		return fmt.Errorf("negative partition %d", op.Partition)
	}
	switch op.Outcome {
	case OutcomeOK, OutcomeFailed:
		if op.Return < op.Call {
			return fmt.Errorf("return %d before call %d", op.Return, op.Call)
		}
	case OutcomeUnknown:
	default:
		return fmt.Errorf("invalid outcome %d", op.Outcome)
	}
	switch op.Kind {
	case OpProduce:
		if len(op.Values) == 0 {
			return fmt.Errorf("produce without values")
		}
		if op.Acks != AcksLeader && op.Acks != AcksAll {
			return fmt.Errorf("acks %d is neither 1 nor -1", op.Acks)
		}
		if op.Outcome == OutcomeOK && op.BaseOffset < 0 {
			return fmt.Errorf("negative base offset %d", op.BaseOffset)
		}
	case OpFetch:
		if op.FetchOffset < 0 {
			return fmt.Errorf("negative fetch offset %d", op.FetchOffset)
		}
	default:
		return fmt.Errorf("invalid kind %d", op.Kind)
	}
	return nil
}

// mustValidate panics if h is malformed.
func mustValidate(h History) {
	if err := Validate(h); err != nil {
		panic("linearizability: malformed history: " + err.Error())
	}
}

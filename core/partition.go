package core

import (
	"fmt"

	"cairn/core/mutant"
)

// DurabilityMode says what a replica must have done with a record before it
// counts toward acknowledging it.
type DurabilityMode uint8

const (
	// DurableAcks is the default: a record counts only once it is synced to
	// disk, so an acknowledged record survives power loss of every replica
	// that counted it.
	DurableAcks DurabilityMode = iota
	// ReplicationAcks is Kafka's mode (flush=replication): a record counts as
	// soon as it is in the replica's page cache. Faster, and lossy under
	// correlated power loss; docs/DURABILITY.md walks through exactly how.
	ReplicationAcks
)

// String names the mode as the configuration spells it.
func (m DurabilityMode) String() string {
	switch m {
	case DurableAcks:
		return "durable"
	case ReplicationAcks:
		return "replication"
	}
	return fmt.Sprintf("DurabilityMode(%d)", uint8(m))
}

// Acks is the producer's acks setting: 0, 1 or -1 (all in-sync replicas).
type Acks int16

// Token identifies one waiting produce to the driver. The core never looks
// inside it; it only hands it back in an Ack.
type Token uint64

// ErrorCode is a Kafka protocol error code, as numbered by Kafka.
type ErrorCode int16

// The error codes the partition state machine itself decides.
const (
	ErrNone                ErrorCode = 0
	ErrNotLeader           ErrorCode = 6  // NOT_LEADER_OR_FOLLOWER
	ErrRequestTimedOut     ErrorCode = 7  // REQUEST_TIMED_OUT
	ErrNotEnoughReplicas   ErrorCode = 19 // NOT_ENOUGH_REPLICAS
	ErrKafkaStorage        ErrorCode = 56 // KAFKA_STORAGE_ERROR
	ErrFencedLeaderEpoch   ErrorCode = 74 // FENCED_LEADER_EPOCH
	ErrUnknownLeaderEpoch  ErrorCode = 75 // UNKNOWN_LEADER_EPOCH
	ErrOffsetOutOfRange    ErrorCode = 1  // OFFSET_OUT_OF_RANGE
	ErrInvalidRequiredAcks ErrorCode = 21 // INVALID_REQUIRED_ACKS
)

// PartitionConfig fixes what a partition replica is and how it acknowledges.
type PartitionConfig struct {
	Topic     string
	Partition int32
	// ReplicaID is the broker this replica lives on.
	ReplicaID  int32
	Durability DurabilityMode
}

// LogState is what the driver's log storage reports about itself, at open
// and after each change the driver makes.
type LogState struct {
	StartOffset   int64 // first offset still in the log
	EndOffset     int64 // log end offset (LEO): the next offset to assign
	DurableOffset int64 // every offset below it is synced
}

// Ack completes a produce that was waiting for its records to be committed.
type Ack struct {
	Token      Token
	BaseOffset int64
	Error      ErrorCode
}

// PartitionReady is what the partition asks the driver to do. The driver
// executes it in field order: start a sync if asked (the durable offset
// comes back through Synced), then send the acknowledgments, which already
// satisfy the durability mode's condition.
type PartitionReady struct {
	// SyncWanted asks the driver to make the log durable up to its end; the
	// driver coalesces requests (group commit).
	SyncWanted bool
	// Acks are produce responses that may be sent now.
	Acks []Ack
	// HighWatermarkAdvanced tells the driver to wake fetches waiting on this
	// partition.
	HighWatermarkAdvanced bool
}

// waiter is a produce waiting for the high watermark to pass its last offset.
type waiter struct {
	token      Token
	baseOffset int64
	lastOffset int64
}

// Partition is one replica of one partition: the offsets that define what is
// written, durable and committed, and the produces waiting on them.
//
// Offsets obey, at every step:
//
//	StartOffset <= HighWatermark <= DurableOffset <= EndOffset   (durable mode)
//	StartOffset <= HighWatermark <= EndOffset                    (replication mode)
//
// and the high watermark never moves backwards while the replica lives.
type Partition struct {
	config        PartitionConfig
	leaderEpoch   int32
	startOffset   int64
	endOffset     int64
	durableOffset int64
	highWatermark int64
	// waiters are ordered by lastOffset, because offsets are assigned in
	// arrival order; acknowledging is a walk from the front.
	waiters []waiter
	ready   PartitionReady
}

// NewPartition builds a replica from its recovered log. After a restart the
// high watermark restarts at the durable offset: on a single replica
// everything durable was, or could have been, acknowledged.
func NewPartition(config PartitionConfig, log LogState, leaderEpoch int32) *Partition {
	p := &Partition{
		config:        config,
		leaderEpoch:   leaderEpoch,
		startOffset:   log.StartOffset,
		endOffset:     log.EndOffset,
		durableOffset: log.DurableOffset,
	}
	p.highWatermark = p.committableOffset()
	p.assertInvariants()
	return p
}

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.config.Topic }

// Index returns the partition number.
func (p *Partition) Index() int32 { return p.config.Partition }

// LeaderEpoch returns the epoch the replica stamps on the batches it appends.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch }

// StartOffset returns the log start offset.
func (p *Partition) StartOffset() int64 { return p.startOffset }

// EndOffset returns the log end offset.
func (p *Partition) EndOffset() int64 { return p.endOffset }

// DurableOffset returns the offset below which the log is synced.
func (p *Partition) DurableOffset() int64 { return p.durableOffset }

// HighWatermark returns the offset below which records are committed and
// visible to consumers.
func (p *Partition) HighWatermark() int64 { return p.highWatermark }

// CheckProduce decides whether a produce may be appended, and where. It does
// not change the state: the driver appends the batch at the returned offset
// and then reports it with Appended, or reports nothing if the write failed.
func (p *Partition) CheckProduce(acks Acks) (baseOffset int64, epoch int32, code ErrorCode) {
	if acks != 0 && acks != 1 && acks != -1 {
		return 0, 0, ErrInvalidRequiredAcks
	}
	return p.endOffset, p.leaderEpoch, ErrNone
}

// Appended records that the driver wrote records [baseOffset, lastOffset] to
// the log. With acks 1 or -1 the produce waits, under token, until its
// records are committed; with acks 0 nothing is sent back.
func (p *Partition) Appended(token Token, acks Acks, baseOffset, lastOffset int64) {
	if baseOffset != p.endOffset || lastOffset < baseOffset {
		panic(fmt.Sprintf("core: append [%d, %d] at log end %d", baseOffset, lastOffset, p.endOffset))
	}
	p.endOffset = lastOffset + 1
	if acks != 0 {
		p.waiters = append(p.waiters, waiter{token: token, baseOffset: baseOffset, lastOffset: lastOffset})
	}
	if p.config.Durability == DurableAcks {
		p.ready.SyncWanted = true
	}
	p.advanceHighWatermark()
	p.assertInvariants()
}

// Synced records that the log is durable below offset. Sync results can
// arrive late and out of order with respect to later appends; an older,
// smaller offset never moves the durable offset back.
func (p *Partition) Synced(offset int64) {
	if offset > p.endOffset {
		panic(fmt.Sprintf("core: synced to %d beyond log end %d", offset, p.endOffset))
	}
	if offset > p.durableOffset {
		p.durableOffset = offset
	}
	if p.durableOffset < p.endOffset && p.config.Durability == DurableAcks {
		p.ready.SyncWanted = true
	}
	p.advanceHighWatermark()
	p.assertInvariants()
}

// Failed fails every waiting produce with code: the log can no longer make
// their records durable (a failed fsync), or the replica is stopping.
func (p *Partition) Failed(code ErrorCode) {
	for _, w := range p.waiters {
		p.ready.Acks = append(p.ready.Acks, Ack{Token: w.token, BaseOffset: -1, Error: code})
	}
	p.waiters = p.waiters[:0]
}

// committableOffset is the offset the high watermark may reach: with a single
// replica in the ISR, what this replica has done under the durability mode.
func (p *Partition) committableOffset() int64 {
	if p.config.Durability == DurableAcks && !mutant.Active(mutant.AckBeforeFsync) {
		return p.durableOffset
	}
	return p.endOffset
}

func (p *Partition) advanceHighWatermark() {
	next := p.committableOffset()
	acknowledgeBelow := next
	if mutant.Active(mutant.HighWatermarkPastDurable) {
		next = p.endOffset
	}
	if next > p.highWatermark {
		p.highWatermark = next
		p.ready.HighWatermarkAdvanced = true
	}
	done := 0
	for _, w := range p.waiters {
		if w.lastOffset >= acknowledgeBelow {
			break
		}
		p.ready.Acks = append(p.ready.Acks, Ack{Token: w.token, BaseOffset: w.baseOffset})
		done++
	}
	p.waiters = p.waiters[:copy(p.waiters, p.waiters[done:])]
}

// HasReady reports whether Ready has anything for the driver.
func (p *Partition) HasReady() bool {
	return p.ready.SyncWanted || len(p.ready.Acks) > 0 || p.ready.HighWatermarkAdvanced
}

// Ready returns the pending effects. They stay valid until Advance.
func (p *Partition) Ready() PartitionReady { return p.ready }

// Advance tells the partition that the driver executed the last Ready.
func (p *Partition) Advance() {
	p.ready.SyncWanted = false
	p.ready.HighWatermarkAdvanced = false
	p.ready.Acks = p.ready.Acks[:0]
}

// assertInvariants crashes on a broken invariant: a replica that continues
// with inconsistent offsets could acknowledge or serve what it must not.
func (p *Partition) assertInvariants() {
	ok := p.startOffset <= p.highWatermark && p.highWatermark <= p.endOffset &&
		p.durableOffset <= p.endOffset
	// The two high-watermark mutants break exactly this invariant; they skip
	// the assertion so that the simulator's own checks must find them.
	if p.config.Durability == DurableAcks && !mutant.Active(mutant.AckBeforeFsync) && !mutant.Active(mutant.HighWatermarkPastDurable) {
		ok = ok && p.highWatermark <= p.durableOffset
	}
	if !ok {
		panic(fmt.Sprintf("core: partition %s-%d offsets start=%d hw=%d durable=%d end=%d",
			p.config.Topic, p.config.Partition, p.startOffset, p.highWatermark, p.durableOffset, p.endOffset))
	}
}

// PartitionStatus is a snapshot of a replica's offsets, for the predicates
// of package specs and for metrics.
type PartitionStatus struct {
	Topic         string
	Partition     int32
	Replica       int32
	Durability    DurabilityMode
	LeaderEpoch   int32
	StartOffset   int64
	HighWatermark int64
	DurableOffset int64
	EndOffset     int64
}

// Status returns the replica's current offsets.
func (p *Partition) Status() PartitionStatus {
	return PartitionStatus{
		Topic: p.config.Topic, Partition: p.config.Partition, Replica: p.config.ReplicaID,
		Durability: p.config.Durability, LeaderEpoch: p.leaderEpoch, StartOffset: p.startOffset,
		HighWatermark: p.highWatermark, DurableOffset: p.durableOffset, EndOffset: p.endOffset,
	}
}

package core

import (
	"cairn/core/errcode"
	"fmt"
	"math"
	"slices"
	"time"

	"cairn/core/mutant"
)

// Idempotent producers (KIP-98, with KIP-360's epoch bumps): each batch of
// an idempotent producer carries its producer id, epoch and the sequence
// number of its first record. Per partition the leader keeps, for every
// producer it has seen, the epoch and the last few batches it appended, so
// that a retry of a batch already written is answered with the original
// offsets instead of being written again.

// ProducerBatchesMax is how many of a producer's latest batches a partition
// remembers: a client has at most five requests in flight per partition
// (max.in.flight.requests.per.connection), so a retry is always of one of
// the last five.
const ProducerBatchesMax = 5

// NoProducerID is the producer id of a batch from a non-idempotent producer.
const NoProducerID = -1

// ProducerBatch is what a batch's header says about its producer.
type ProducerBatch struct {
	ProducerID    int64
	ProducerEpoch int16
	FirstSequence int32
	// Records is the batch's record count (last offset delta + 1).
	Records int32
}

// LastSequence is the sequence number of the batch's last record. Sequence
// numbers wrap from math.MaxInt32 to 0, as Kafka's do.
func (b ProducerBatch) LastSequence() int32 {
	return sequenceAdd(b.FirstSequence, b.Records-1)
}

// sequenceAdd adds delta >= 0 to a sequence number, wrapping at MaxInt32.
func sequenceAdd(sequence, delta int32) int32 {
	if sequence > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - sequence) - 1
	}
	return sequence + delta
}

// inSequence reports whether next follows last.
func inSequence(last, next int32) bool {
	return next == sequenceAdd(last, 1)
}

// producerAppend is one batch a producer appended: its sequence range and
// where it landed.
type producerAppend struct {
	FirstSequence int32
	LastSequence  int32
	FirstOffset   int64
	LastOffset    int64
}

// producerEntry is what a partition knows of one producer.
type producerEntry struct {
	epoch int16
	// batches are its latest appends in the current epoch, oldest first;
	// count of them are valid.
	batches [ProducerBatchesMax]producerAppend
	count   int
	// lastSeen is when it last appended, for expiry.
	lastSeen time.Time
}

func (e *producerEntry) last() producerAppend { return e.batches[e.count-1] }

func (e *producerEntry) push(a producerAppend) {
	if e.count == ProducerBatchesMax {
		copy(e.batches[:], e.batches[1:])
		e.count--
	}
	e.batches[e.count] = a
	e.count++
}

// ProducerCheck is the verdict on a produced batch.
type ProducerCheck struct {
	Code errcode.Code
	// Duplicate says the batch is a retry of one already appended, at
	// [FirstOffset, LastOffset]: answer with those, write nothing.
	Duplicate   bool
	FirstOffset int64
	LastOffset  int64
}

// Producers is a partition's producer state. Every replica keeps it from
// the batches it appends (as leader or follower), so a new leader already
// knows every producer whose batches it holds. It is a pure function of
// the log (plus the times producers were last seen), which is why the
// driver rebuilds it from the log's batch headers after a truncation or a
// restart, starting from a snapshot where one is valid.
type Producers struct {
	entries map[int64]*producerEntry
	// idleMax is how long a producer may go without appending before its
	// state is dropped (Kafka's producer.id.expiration.ms).
	idleMax time.Duration
}

// DefaultProducerIdleMax is Kafka's producer.id.expiration.ms default.
const DefaultProducerIdleMax = 24 * time.Hour

// NewProducers returns an empty producer table whose entries expire after
// idleMax without appends (zero: DefaultProducerIdleMax).
func NewProducers(idleMax time.Duration) *Producers {
	if idleMax <= 0 {
		idleMax = DefaultProducerIdleMax
	}
	return &Producers{entries: map[int64]*producerEntry{}, idleMax: idleMax}
}

// Len returns how many producers the table knows.
func (t *Producers) Len() int { return len(t.entries) }

// Reset forgets every producer.
func (t *Producers) Reset() { clear(t.entries) }

// Check decides, on the leader, what to do with a client's batch, by
// Kafka's rules:
//
//   - a retry of one of the producer's last five batches (same epoch, same
//     sequence range) is a duplicate: success, with the original offsets;
//   - an epoch older than the producer's is INVALID_PRODUCER_EPOCH;
//   - a newer epoch (a bump, KIP-360) must start again at sequence 0;
//   - in the same epoch the batch must follow the last one's sequence,
//     else OUT_OF_ORDER_SEQUENCE_NUMBER;
//   - a producer the partition does not know (never seen, or expired) may
//     start at any sequence, as in Kafka 2.5 and later.
func (t *Producers) Check(b ProducerBatch) ProducerCheck {
	if b.ProducerID < 0 {
		return ProducerCheck{}
	}
	if b.ProducerEpoch < 0 || b.FirstSequence < 0 || b.Records < 1 {
		return ProducerCheck{Code: errcode.InvalidRecord}
	}
	e, ok := t.entries[b.ProducerID]
	if !ok {
		return ProducerCheck{}
	}
	if b.ProducerEpoch == e.epoch {
		last := b.LastSequence()
		for i := 0; i < e.count; i++ {
			if mutant.Active(mutant.DuplicateCheckLastBatchOnly) && i != e.count-1 {
				continue
			}
			a := e.batches[i]
			if a.FirstSequence == b.FirstSequence && a.LastSequence == last {
				return ProducerCheck{Duplicate: true, FirstOffset: a.FirstOffset, LastOffset: a.LastOffset}
			}
		}
	}
	switch {
	case b.ProducerEpoch < e.epoch:
		return ProducerCheck{Code: errcode.InvalidProducerEpoch}
	case b.ProducerEpoch > e.epoch:
		if b.FirstSequence != 0 {
			return ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}
		}
	case e.count > 0 && !inSequence(e.last().LastSequence, b.FirstSequence):
		return ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}
	}
	return ProducerCheck{}
}

// Append records a batch written to the log at [firstOffset, lastOffset],
// by a leader after Check, by a follower replicating, or by a rebuild from
// the log. It never refuses: the log is the truth, and the leader checked.
// A batch in another epoch than the producer's starts a new window.
func (t *Producers) Append(b ProducerBatch, firstOffset, lastOffset int64, now time.Time) {
	if b.ProducerID < 0 {
		return
	}
	e, ok := t.entries[b.ProducerID]
	if !ok {
		e = &producerEntry{epoch: b.ProducerEpoch}
		t.entries[b.ProducerID] = e
	}
	if e.epoch != b.ProducerEpoch {
		e.epoch, e.count = b.ProducerEpoch, 0
	}
	e.push(producerAppend{FirstSequence: b.FirstSequence, LastSequence: b.LastSequence(),
		FirstOffset: firstOffset, LastOffset: lastOffset})
	if now.After(e.lastSeen) && !(mutant.Active(mutant.ProducerExpiryFromFirstAppend) && !e.lastSeen.IsZero()) {
		e.lastSeen = now
	}
}

// Expire drops producers idle for idleMax or longer and returns how many.
// A retry from an expired producer is accepted as from an unknown one.
func (t *Producers) Expire(now time.Time) int {
	dropped := 0
	for id, e := range t.entries {
		if now.Sub(e.lastSeen) >= t.idleMax {
			delete(t.entries, id)
			dropped++
		}
	}
	return dropped
}

// ProducerSnapshotEntry is one producer's state in a snapshot.
type ProducerSnapshotEntry struct {
	ProducerID int64
	Epoch      int16
	LastSeen   time.Time
	Batches    []ProducerSnapshotBatch
}

// ProducerSnapshotBatch is one remembered batch in a snapshot.
type ProducerSnapshotBatch struct {
	FirstSequence, LastSequence int32
	FirstOffset, LastOffset     int64
}

// Snapshot returns every entry, sorted by producer id, for the driver to
// persist together with the log end offset it describes; a rebuild
// restores it and replays the log from that offset.
func (t *Producers) Snapshot() []ProducerSnapshotEntry {
	out := make([]ProducerSnapshotEntry, 0, len(t.entries))
	for id, e := range t.entries {
		s := ProducerSnapshotEntry{ProducerID: id, Epoch: e.epoch, LastSeen: e.lastSeen}
		for i := 0; i < e.count; i++ {
			a := e.batches[i]
			s.Batches = append(s.Batches, ProducerSnapshotBatch(a))
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ProducerSnapshotEntry) int {
		switch {
		case a.ProducerID < b.ProducerID:
			return -1
		case a.ProducerID > b.ProducerID:
			return 1
		}
		return 0
	})
	return out
}

// Restore replaces the table's contents with a snapshot's.
func (t *Producers) Restore(entries []ProducerSnapshotEntry) {
	clear(t.entries)
	for _, s := range entries {
		e := &producerEntry{epoch: s.Epoch, lastSeen: s.LastSeen}
		for _, b := range s.Batches {
			e.push(producerAppend(b))
		}
		t.entries[s.ProducerID] = e
	}
}

// AwaitAppended makes a produce whose records are already in the log at
// [baseOffset, lastOffset] — a retry answered as a duplicate — wait, under
// token, for them to commit, exactly as the original write waits: its
// acknowledgment promises what the original's would have.
func (p *Partition) AwaitAppended(token Token, acks Acks, baseOffset, lastOffset int64) {
	if p.role != RoleLeader || lastOffset < baseOffset || lastOffset >= p.endOffset {
		panic(fmt.Sprintf("core: %s awaits [%d, %d] at log end %d", p.role, baseOffset, lastOffset, p.endOffset))
	}
	if acks != 0 {
		p.waiters = append(p.waiters, waiter{token: token, acks: acks, baseOffset: baseOffset, lastOffset: lastOffset})
	}
	p.advanceHighWatermark()
	p.assertInvariants()
}

// ProduceDecision is the leader's verdict on one client batch.
type ProduceDecision struct {
	// Code refuses the batch: nothing is written.
	Code errcode.Code
	// Duplicate says the batch is a retry of one already written at
	// [FirstOffset, LastOffset]: write nothing, and answer as the original
	// is answered once those records commit (AwaitAppended).
	Duplicate   bool
	FirstOffset int64
	LastOffset  int64
	// BaseOffset and LeaderEpoch are where and in which epoch to write a
	// batch that is neither refused nor a duplicate; the driver reports
	// the write with Producers.Append and Appended.
	BaseOffset  int64
	LeaderEpoch int32
}

// DecideProduce decides what a leader does with a client's batch from
// producer b: first whether this replica may take a produce with acks at
// all (CheckProduce), then the producer's sequence and epoch (Check). It
// changes nothing: the driver executes the decision.
func (p *Partition) DecideProduce(acks Acks, producers *Producers, b ProducerBatch) ProduceDecision {
	base, epoch, code := p.CheckProduce(acks)
	if code != errcode.None {
		return ProduceDecision{Code: code}
	}
	verdict := producers.Check(b)
	if verdict.Duplicate && mutant.Active(mutant.DuplicateAsOutOfOrder) {
		verdict = ProducerCheck{Code: errcode.OutOfOrderSequenceNumber}
	}
	switch {
	case verdict.Code != errcode.None:
		return ProduceDecision{Code: verdict.Code}
	case verdict.Duplicate:
		return ProduceDecision{Duplicate: true, FirstOffset: verdict.FirstOffset, LastOffset: verdict.LastOffset}
	}
	return ProduceDecision{BaseOffset: base, LeaderEpoch: epoch}
}

package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"cairn/linearizability"
)

// The crash, cluster and chaos tests record what their clients did as a
// linearizability.History and judge it with the checks the simulator uses
// (judgeHistory). What differs from a simulated history:
//
//   - Call and Return are wall-clock nanoseconds since the recorder began.
//   - One produce is one record, and one Op covers every attempt franz-go
//     makes at it: Call is when the test handed it to Produce, Return when
//     the promise ran. An error leaves the outcome unknown, since franz-go
//     may have sent the record before it gave up (a cancelled context at
//     the end of the run, a timeout).
//   - The partition of a record is known at Call, before franz-go has
//     metadata: records are keyed, and the partitioner hashes the key
//     (predictPartition); every acknowledgement confirms the prediction.
//   - The value compared is the record's key, value and headers together
//     (historyValue), so a record damaged in any of them is a value no
//     produce wrote.
//   - A fetch is one partition of one PollFetches. franz-go fetches in the
//     background and buffers, so what a poll returns may have been fetched
//     any time since the previous poll began: that is its Call.

// historyCheckTimeout bounds Porcupine's search of each partition. With the
// final read appended the search is near linear (a two-minute chaos run's
// 355,081 operations took 27 s to judge in all, on two busy cores), so the
// bound is for a search gone wrong, and leaves a ten-minute `make chaos`
// inside its 30-minute test timeout. A partition not decided in time fails
// the test rather than passing it.
const historyCheckTimeout = 10 * time.Minute

// historyRecorder collects a History from the goroutines of a test's
// clients. linearizability is pure, so the lock lives here.
type historyRecorder struct {
	start time.Time
	mu    sync.Mutex
	ops   linearizability.History
}

func newHistoryRecorder() *historyRecorder {
	return &historyRecorder{start: time.Now()}
}

// now is the time since the recorder began, in nanoseconds (monotonic).
func (h *historyRecorder) now() int64 {
	return time.Since(h.start).Nanoseconds()
}

// call records op as called now with an outcome not yet known, and
// returns its index for answered.
func (h *historyRecorder) call(op linearizability.Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Call, op.Outcome = h.now(), linearizability.OutcomeUnknown
	h.ops = append(h.ops, op)
	return len(h.ops) - 1
}

// acknowledged records that produce index was acknowledged now at base.
func (h *historyRecorder) acknowledged(index int, base int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := &h.ops[index]
	op.Return, op.Outcome, op.BaseOffset = h.now(), linearizability.OutcomeOK, base
}

// add records a finished operation.
func (h *historyRecorder) add(op linearizability.Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// historyBefore returns a copy of what was recorded so far, as a read that
// began at cutoff (a now) must judge it: an answer that came after cutoff
// is taken as not yet come, since the read may or may not include what
// such a produce wrote. A read taken while producers run needs this; one
// taken after they stopped can use history.
func (h *historyRecorder) historyBefore(cutoff int64) linearizability.History {
	ops := h.history()
	for i := range ops {
		if ops[i].Outcome != linearizability.OutcomeUnknown && ops[i].Return > cutoff {
			ops[i].Outcome, ops[i].Return, ops[i].BaseOffset = linearizability.OutcomeUnknown, ops[i].Call, 0
		}
	}
	return ops
}

// history returns a copy of what was recorded so far.
func (h *historyRecorder) history() linearizability.History {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// historyValue is the value the history compares for a record: its key,
// value and headers, each quoted, so that damage to any of them shows.
func historyValue(r record) string {
	var b strings.Builder
	b.WriteString(strconv.Quote(r.Key))
	b.WriteByte(' ')
	b.WriteString(strconv.Quote(r.Value))
	for _, h := range r.Headers {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(h.Key))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(h.Value))
	}
	return b.String()
}

// predictPartition is the partition franz-go's default partitioner
// (UniformBytesPartitioner with keys hashed) picks for a keyed record:
// murmur2 of the key, as StickyKeyPartitioner computes it.
func predictPartition(key string, partitions int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: []byte(key)}, partitions))
}

// historyProducer is one franz-go producer whose records go into a
// History as they are produced.
type historyProducer struct {
	recorder   *historyRecorder
	client     int // Op.Client
	topic      string
	partitions int
	idempotent bool
}

// errMispredicted is the error produce reports for a record acknowledged
// in another partition than the history says: the history is then wrong,
// and the test must fail however late it comes.
var errMispredicted = errors.New("the history predicted another partition")

// produce hands r to cl and records it; done runs with the promise's
// record and error after the answer is recorded, or with errMispredicted.
func (p *historyProducer) produce(ctx context.Context, cl *kgo.Client, r record, done func(*kgo.Record, error)) {
	partition := predictPartition(r.Key, p.partitions)
	index := p.recorder.call(linearizability.Op{
		Client: p.client, Kind: linearizability.OpProduce, Topic: p.topic, Partition: partition,
		Values: []string{historyValue(r)}, Acks: linearizability.AcksAll, Idempotent: p.idempotent,
	})
	cl.Produce(ctx, toKgo(r), func(kr *kgo.Record, err error) {
		if err == nil && kr.Partition != partition {
			err = fmt.Errorf("%w: acknowledged in partition %d at %d, predicted %d", errMispredicted, kr.Partition, kr.Offset, partition)
		}
		if err == nil {
			p.recorder.acknowledged(index, kr.Offset)
		}
		done(kr, err)
	})
}

// finalRead turns readAll's records into the final read the checks take,
// with an entry (perhaps empty) for every partition of topic.
func finalRead(topic string, partitions int32, got []record) map[linearizability.TopicPartition][]linearizability.FetchedRecord {
	final := make(map[linearizability.TopicPartition][]linearizability.FetchedRecord, partitions)
	for p := range partitions {
		final[linearizability.TopicPartition{Topic: topic, Partition: p}] = []linearizability.FetchedRecord{}
	}
	for _, r := range got {
		tp := linearizability.TopicPartition{Topic: topic, Partition: r.Partition}
		final[tp] = append(final[tp], linearizability.FetchedRecord{Offset: r.Offset, Value: historyValue(r)})
	}
	return final
}

// judgment is what judgeHistory found.
type judgment struct {
	// violations are every check's findings, as text; empty when h passes.
	violations []string
	// lost and duplicates count the lost-write and duplicate violations.
	lost, duplicates int
	// operations is how many operations CheckLog searched, over all
	// partitions.
	operations int
}

// judgeHistory judges h and the final read as sim.Run does: Validate,
// CheckFinalRead, CheckConsumers, and CheckLog (Porcupine, with the final
// read appended) within timeout per partition. A partition CheckLog could
// not decide is a violation.
func judgeHistory(h linearizability.History, final map[linearizability.TopicPartition][]linearizability.FetchedRecord, timeout time.Duration) judgment {
	var j judgment
	if err := linearizability.Validate(h); err != nil {
		j.violations = append(j.violations, "malformed history: "+err.Error())
		return j
	}
	violations := linearizability.CheckFinalRead(h, final)
	violations = append(violations, linearizability.CheckConsumers(h)...)
	for _, v := range violations {
		switch v.Kind {
		case linearizability.KindLostWrite:
			j.lost++
		case linearizability.KindDuplicate:
			j.duplicates++
		}
		j.violations = append(j.violations, v.String())
	}
	result := linearizability.CheckLog(linearizability.AppendFinalRead(h, final), timeout)
	for _, p := range result.Partitions {
		j.operations += p.Operations
		switch p.Verdict {
		case linearizability.VerdictOK:
		case linearizability.VerdictIllegal:
			j.violations = append(j.violations, fmt.Sprintf("%s is not a linearizable log (%d operations)", p.TopicPartition, p.Operations))
		default:
			j.violations = append(j.violations, fmt.Sprintf("%s: Porcupine did not decide within %v (%d operations)", p.TopicPartition, timeout, p.Operations))
		}
	}
	return j
}

// report returns up to limit violations, and a line saying how many more.
func (j judgment) report(limit int) []string {
	if len(j.violations) <= limit {
		return j.violations
	}
	return append(slices.Clone(j.violations[:limit]), fmt.Sprintf("… and %d more violations", len(j.violations)-limit))
}

// syntheticHistory builds by hand the history a test's producers would
// record, for the self-tests of the judging. Every produce overlaps every
// other in time, so only offsets and send order can convict.
type syntheticHistory struct {
	topic string
	ops   linearizability.History
}

func (s *syntheticHistory) produce(client int, r record, partition int32, idempotent bool) *linearizability.Op {
	call := int64(10 * len(s.ops))
	s.ops = append(s.ops, linearizability.Op{
		Client: client, Kind: linearizability.OpProduce, Topic: s.topic, Partition: partition,
		Call: call, Return: call + 1_000_000, Outcome: linearizability.OutcomeUnknown,
		Values: []string{historyValue(r)}, Acks: linearizability.AcksAll, Idempotent: idempotent,
	})
	return &s.ops[len(s.ops)-1]
}

// acked adds a produce of r acknowledged at partition@offset.
func (s *syntheticHistory) acked(client int, r record, partition int32, offset int64, idempotent bool) {
	op := s.produce(client, r, partition, idempotent)
	op.Outcome, op.BaseOffset = linearizability.OutcomeOK, offset
}

// unknown adds a produce of r to partition that was never answered.
func (s *syntheticHistory) unknown(client int, r record, partition int32, idempotent bool) {
	s.produce(client, r, partition, idempotent)
}

// read adds a fetch by client of records (at consecutive offsets of one
// partition), called after every produce so far began.
func (s *syntheticHistory) read(client int, records ...record) {
	call := int64(10 * len(s.ops))
	op := linearizability.Op{
		Client: client, Kind: linearizability.OpFetch, Topic: s.topic, Partition: records[0].Partition,
		Call: call, Return: call + 1, Outcome: linearizability.OutcomeOK,
		FetchOffset: records[0].Offset, Session: client,
	}
	for _, r := range records {
		op.Records = append(op.Records, linearizability.FetchedRecord{Offset: r.Offset, Value: historyValue(r)})
		op.HighWatermark = r.Offset + 1
	}
	s.ops = append(s.ops, op)
}

// judge judges the history with final as its final read, as the crash and
// chaos tests do, and returns the violations.
func (s *syntheticHistory) judge(partitions int32, final []record) []string {
	return judgeHistory(s.ops, finalRead(s.topic, partitions, final), time.Minute).violations
}

// TestPredictPartition holds predictPartition to franz-go's default
// partitioner (as config.go sets it) for the keys the tests use.
func TestPredictPartition(t *testing.T) {
	t.Parallel()
	defaultPartitioner := kgo.UniformBytesPartitioner(64<<10, true, true, nil).ForTopic("t").(kgo.TopicBackupPartitioner)
	for _, partitions := range []int{crashPartitions, chaosPartitions} {
		for seq := range 64 {
			for _, key := range []string{crashRecord(seq).Key, chaosRecordKey(seq)} {
				want := defaultPartitioner.PartitionByBackup(&kgo.Record{Key: []byte(key)}, partitions, nil)
				if got := predictPartition(key, partitions); int(got) != want {
					t.Errorf("key %q over %d partitions: predicted %d, franz-go picks %d", key, partitions, got, want)
				}
			}
		}
	}
}

// TestHistoryBefore makes sure a read taken while producers run is judged
// as of its start: a record acknowledged after the read began may be
// missing from it, one acknowledged before may not.
func TestHistoryBefore(t *testing.T) {
	t.Parallel()
	recorder := newHistoryRecorder()
	early := recorder.call(linearizability.Op{Kind: linearizability.OpProduce, Topic: "t", Values: []string{"early"}, Acks: linearizability.AcksAll})
	late := recorder.call(linearizability.Op{Kind: linearizability.OpProduce, Topic: "t", Values: []string{"late"}, Acks: linearizability.AcksAll})
	recorder.acknowledged(early, 0)
	readStart := recorder.now()
	time.Sleep(time.Millisecond) // the late answer comes after the read began
	recorder.acknowledged(late, 1)
	// The read reached offset 1 only: "late" was written after it began.
	final := map[linearizability.TopicPartition][]linearizability.FetchedRecord{{Topic: "t"}: {{Offset: 0, Value: "early"}}}
	if j := judgeHistory(recorder.historyBefore(readStart), final, time.Minute); len(j.violations) > 0 {
		t.Errorf("a record acknowledged after the read began: %v", j.violations)
	}
	if j := judgeHistory(recorder.history(), final, time.Minute); j.lost != 1 {
		t.Errorf("judged whole, the same read must lose the late record: %v", j.violations)
	}
	missingEarly := map[linearizability.TopicPartition][]linearizability.FetchedRecord{{Topic: "t"}: {}}
	if j := judgeHistory(recorder.historyBefore(readStart), missingEarly, time.Minute); j.lost != 1 {
		t.Errorf("a record acknowledged before the read began, missing from it: %v", j.violations)
	}
}

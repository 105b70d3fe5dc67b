package sim

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"cairn/core"
	"cairn/linearizability"
)

// Second copies the protocol allows. An idempotent producer's batch is
// written once — except in two cases Kafka allows too, which the checkers
// must not call duplicates:
//
//   - the partition forgot the producer (producer.id.expiration.ms) between
//     the write and a retry, which it then accepts as a new producer's
//     batch;
//   - the producer took a new epoch or id (after an OUT_OF_ORDER_SEQUENCE
//     _NUMBER for another batch, say) and resent the batch, while an
//     earlier send of it may have been written.
//
// Each is judged from the simulator's own record of when each send
// reached a broker (noteProduceArrival), never from the brokers'
// bookkeeping, so a broker bug that writes a retry twice stays a duplicate:
//
//   - forgetting needs an idle time of producer.id.expiration.ms between
//     the append of the first copy and that of the second, both at the
//     arrival of one of the batch's sends: so the batch's sends must have
//     arrived over a span at least that long;
//   - a send from an earlier epoch may have been written unless it never
//     arrived, it was refused for good, or the batch itself was refused
//     with OUT_OF_ORDER_SEQUENCE_NUMBER in that epoch after it arrived (a
//     broker holding the batch would have answered it as a duplicate:
//     that answer is what the duplicate-as-out-of-order mutant gets wrong).
//
// A second copy so allowed is renamed, for the history checks, into a
// batch of its own whose outcome is unknown (values "v#repeatN"): the
// checks then see every value once and judge the rest as usual.

// repeatAllowed says why a second copy of op's batch is allowed, or "".
func (w *World) repeatAllowed(op *linearizability.Op) string {
	idleMax := w.options.ProducerIdleMax
	if idleMax <= 0 {
		idleMax = core.DefaultProducerIdleMax
	}
	first, last := int64(-1), int64(-1)
	for _, a := range op.Attempts {
		if a.Arrived >= 0 && (first < 0 || a.Arrived < first) {
			first = a.Arrived
		}
		last = max(last, a.ArrivedLast)
	}
	if first >= 0 && last-first >= int64(idleMax) {
		return fmt.Sprintf("its sends arrived over %v, at least producer.id.expiration.ms (%v): the producer may have been forgotten", fmtNanos(last-first), idleMax)
	}
	for j, a := range op.Attempts {
		if !movedOn(op, j) || a.Arrived < 0 || refusedForGood(a.Answer) {
			continue
		}
		refusedAfter := false
		for _, r := range op.Attempts {
			if r.ProducerID == a.ProducerID && r.Epoch == a.Epoch && r.Reset && r.Answer == kerr.OutOfOrderSequenceNumber.Code &&
				r.Arrived >= 0 && a.ArrivedLast <= r.Arrived {
				refusedAfter = true
			}
		}
		if !refusedAfter {
			return fmt.Sprintf("it was resent under a new epoch or id after send %d (epoch %d) may have been written", j, a.Epoch)
		}
	}
	return ""
}

func fmtNanos(d int64) string { return fmt.Sprint(time.Duration(d)) }

// movedOn says whether a later send of op's batch carried another producer
// id or epoch than send j.
func movedOn(op *linearizability.Op, j int) bool {
	a := op.Attempts[j]
	for _, b := range op.Attempts[j+1:] {
		if b.ProducerID != a.ProducerID || b.Epoch != a.Epoch {
			return true
		}
	}
	return false
}

// refusedForGood lists answers a broker gives only without writing.
func refusedForGood(code int16) bool {
	switch code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.InvalidProducerEpoch.Code, kerr.UnknownProducerID.Code:
		return true
	}
	return code > 0 && definitelyNotWritten(code)
}

// allowRepeats renames the allowed second copies of idempotent batches in
// a copy of the final read and in the history's fetches, adding a batch of
// unknown outcome for each, and returns the final read the history checks
// judge. The first copy keeps the values, and so its place in the
// producer's order; an acknowledgement that named a later copy goes with
// that copy's batch.
func (w *World) allowRepeats(final map[linearizability.TopicPartition][]linearizability.FetchedRecord) map[linearizability.TopicPartition][]linearizability.FetchedRecord {
	renamed := final
	copied := map[linearizability.TopicPartition]bool{}
	fetched := fetchedIndex{}
	produces := len(w.history)
	for i := 0; i < produces; i++ {
		op := w.history[i]
		if !op.Idempotent || len(op.Values) == 0 {
			continue
		}
		tp := op.TopicPartition()
		records := renamed[tp]
		var copies []int
		for j := range records {
			if records[j].Value == op.Values[0] && wholeBatchAt(records, j, op.Values) {
				copies = append(copies, j)
			}
		}
		if len(copies) < 2 {
			continue
		}
		why := w.repeatAllowed(&op)
		if why == "" {
			continue
		}
		if len(renamed) > 0 && !copied[tp] {
			if len(copied) == 0 {
				renamed = make(map[linearizability.TopicPartition][]linearizability.FetchedRecord, len(final))
				for k, v := range final {
					renamed[k] = v
				}
			}
			renamed[tp] = append([]linearizability.FetchedRecord(nil), renamed[tp]...)
			copied[tp] = true
			records = renamed[tp]
		}
		repeat := 0
		for _, j := range copies[1:] {
			repeat++
			values := make([]string, len(op.Values))
			for k, v := range op.Values {
				values[k] = fmt.Sprintf("%s#repeat%d", v, repeat)
				records[j+k].Value = values[k]
				fetched.rename(w, tp, records[j+k].Offset, v, values[k])
			}
			w.tracef("allowed second copy of op #%d (%s) at %s@%d: %s", i, op.Values[0], tp, records[j].Offset, why)
			second := linearizability.Op{Client: op.Client, Kind: linearizability.OpProduce,
				Topic: op.Topic, Partition: op.Partition, Call: op.Call, Outcome: linearizability.OutcomeUnknown,
				Values: values, Acks: op.Acks}
			if op.Outcome == linearizability.OutcomeOK && op.BaseOffset == records[j].Offset {
				// The acknowledgement named this copy: it goes with it, and
				// the first copy's outcome becomes unknown.
				second.Outcome, second.Return, second.BaseOffset = op.Outcome, op.Return, op.BaseOffset
				w.history[i].Outcome = linearizability.OutcomeUnknown
			}
			w.history = append(w.history, second)
		}
	}
	return renamed
}

// wholeBatchAt says whether records hold values, in order and contiguous,
// from index j.
func wholeBatchAt(records []linearizability.FetchedRecord, j int, values []string) bool {
	if j+len(values) > len(records) {
		return false
	}
	for k, v := range values {
		if records[j+k].Value != v || records[j+k].Offset != records[j].Offset+int64(k) {
			return false
		}
	}
	return true
}

// fetchedIndex finds, per partition and offset, the history's fetched
// records, built on first use.
type fetchedIndex map[linearizability.TopicPartition]map[int64][]fetchedAt

type fetchedAt struct{ op, record int }

// rename renames value at offset in every fetch of tp.
func (x fetchedIndex) rename(w *World, tp linearizability.TopicPartition, offset int64, value, name string) {
	byOffset, ok := x[tp]
	if !ok {
		byOffset = map[int64][]fetchedAt{}
		for i := range w.history {
			op := &w.history[i]
			if op.Kind != linearizability.OpFetch || op.Topic != tp.Topic || op.Partition != tp.Partition {
				continue
			}
			for k := range op.Records {
				byOffset[op.Records[k].Offset] = append(byOffset[op.Records[k].Offset], fetchedAt{i, k})
			}
		}
		x[tp] = byOffset
	}
	for _, at := range byOffset[offset] {
		if r := &w.history[at.op].Records[at.record]; r.Value == value {
			r.Value = name
		}
	}
}

// markOvertakers sets MayOvertake on each idempotent batch that a
// partition may have taken from a producer it had forgotten: one whose
// sends arrived at least producer.id.expiration.ms after the first arrival
// of the producer's batch before it in the final read (the partition's
// memory of the producer is at least that recent), or one with no batch
// of its client before it.
func (w *World) markOvertakers(final map[linearizability.TopicPartition][]linearizability.FetchedRecord) {
	idleMax := w.options.ProducerIdleMax
	if idleMax <= 0 {
		idleMax = core.DefaultProducerIdleMax
	}
	byValue := map[string]int{}
	for i := range w.history {
		op := &w.history[i]
		if op.Idempotent && len(op.Values) > 0 {
			byValue[op.Values[0]] = i
		}
	}
	for _, t := range w.options.Topics {
		for p := int32(0); p < t.Partitions; p++ {
			previous := map[int]int{} // client → its last batch so far in the log
			for _, r := range final[linearizability.TopicPartition{Topic: t.Name, Partition: p}] {
				i, ok := byValue[r.Value]
				if !ok {
					continue
				}
				op := &w.history[i]
				z, seen := previous[op.Client]
				if !seen {
					op.MayOvertake = true
				} else if last, first := lastArrival(op), firstArrival(&w.history[z]); first >= 0 && last-first >= int64(idleMax) {
					op.MayOvertake = true
				}
				previous[op.Client] = i
			}
		}
	}
}

func firstArrival(op *linearizability.Op) int64 {
	first := int64(-1)
	for _, a := range op.Attempts {
		if a.Arrived >= 0 && (first < 0 || a.Arrived < first) {
			first = a.Arrived
		}
	}
	return first
}

func lastArrival(op *linearizability.Op) int64 {
	last := int64(-1)
	for _, a := range op.Attempts {
		last = max(last, a.ArrivedLast)
	}
	return last
}

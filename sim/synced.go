package sim

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/linearizability"
	"cairn/netsim"
	"cairn/replica/transport"
)

// The synced-bytes check. In the durable mode an acks=all acknowledgment
// promises (docs/DURABILITY.md) that the records are on disk, not just in
// memory, on every replica of the ISR at the moment they were
// acknowledged. The per-event predicates check that promise against what
// each broker's core says it holds durably, which is only as true as the
// storage's word: a storage layer that reports a sync it did not make
// fools them, and the loss shows only at a crash, if at all. This check
// takes nobody's word. It notes every successful produce answer as it
// leaves a broker, with the ISR of the acknowledging leader at that
// instant, and reads each broker's disk as a crash would leave it
// (diskfault.Mem's synced view: durable directory entries and file images):
// at the acknowledgment itself, each holder's synced log must hold the
// batch (its header walked to, the batch whole, the same records); at each
// crash, just before the crash decides what survives, and at the end of
// the run, the partition's segment files are parsed with core/batch and
// every promised record must be at its offset with the value that was
// produced.
//
// Exactly the promise, no stronger: only the durable mode; only acks=all
// in a cluster (an acks=1 record may be truncated when leadership moves;
// on a single broker every acknowledgment counts, as the other checks have
// it); the replicas are the acknowledging leader and the ISR it applied
// (a subset of the maximal ISR its high watermark waited for); a replica
// whose disk was lost owes nothing it was promised before, nor anything an
// ISR view from before the controller heard of the loss promised
// (specs.CheckReplicas' exemption).
//
// It is a history check: it runs with Options.SpecChecksOff too.

// syncedLedger is what the check keeps during a run.
type syncedLedger struct {
	// requests are the produce requests being answered, by broker,
	// connection and correlation id.
	requests map[fetchKey]producedRequest
	// acks are the promises made, by partition, in the order sent.
	acks map[linearizability.TopicPartition][]*syncedAck
	// checks counts the records verified on disk, and the batches at
	// their acknowledgment, for the trace.
	checks int
}

// producedRequest is what a produce request carried: acks, and per
// partition its batch.
type producedRequest struct {
	version int16
	acks    int16
	batches map[linearizability.TopicPartition][]byte
}

// syncedAck is one acknowledgment a broker sent.
type syncedAck struct {
	base    int64
	batch   []byte   // as the producer sent it: its values are what must be on disk
	values  []string // decoded from batch when first checked
	holders []int32  // the replicas that must hold it synced
	broker  int      // the broker that acknowledged
	at      time.Duration
}

// syncedCheckOff switches the check off, for tests that measure what the
// other checks catch without it (sim/mutants_test.go).
var syncedCheckOff bool

func (w *World) syncedCheckOn() bool {
	return w.options.Durability == core.DurableAcks && !syncedCheckOff
}

// noteProduce remembers the batches of a produce request a broker got.
func (w *World) noteProduce(b *broker, conn netsim.ConnID, frame []byte) {
	if !w.syncedCheckOn() || transport.RequestKey(frame) != kmsg.Produce.Int16() {
		return
	}
	h, body, parsed, err := transport.ParseRequestHeader(frame)
	req, ok := parsed.(*kmsg.ProduceRequest)
	if err != nil || !ok || req.ReadFrom(body) != nil {
		return // the broker refuses it: nothing is acknowledged
	}
	if req.Acks != -1 && w.metadata != nil {
		return
	}
	r := producedRequest{version: req.GetVersion(), acks: req.Acks, batches: map[linearizability.TopicPartition][]byte{}}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r.batches[linearizability.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = bytes.Clone(p.Records)
		}
	}
	if w.synced.requests == nil {
		w.synced.requests = map[fetchKey]producedRequest{}
		w.synced.acks = map[linearizability.TopicPartition][]*syncedAck{}
	}
	w.synced.requests[fetchKey{b.index, conn, h.CorrelationID}] = r
}

// noteProduceAnswer records the promise of each partition a produce
// answer acknowledges, with the replicas that must hold it.
func (w *World) noteProduceAnswer(b *broker, conn netsim.ConnID, frame []byte) {
	if len(w.synced.requests) == 0 || len(frame) < 4 {
		return
	}
	key := fetchKey{b.index, conn, transport.ResponseCorrelation(frame)}
	r, ok := w.synced.requests[key]
	if !ok {
		return
	}
	delete(w.synced.requests, key)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(r.version)
	body, err := transport.ResponseBody(frame, resp)
	if err != nil || resp.ReadFrom(body) != nil {
		return // the client's decoding reports it
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			tp := linearizability.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			raw, sent := r.batches[tp]
			if p.ErrorCode != 0 || !sent {
				continue
			}
			a := &syncedAck{base: p.BaseOffset, batch: raw, holders: w.holdersAt(b, tp), broker: b.index, at: w.now}
			w.synced.acks[tp] = append(w.synced.acks[tp], a)
			w.checkSyncedAtAck(tp, a)
		}
	}
}

// checkSyncedAtAck checks the promise at the moment it is made: each
// holder's synced log must already hold the acknowledged batch. Only its
// header is read here (the batch at the acknowledged base offset, whole
// within the synced bytes, with the records the producer sent: the same
// CRC, or for an idempotent retry answered with its original's offsets,
// the same producer id, sequence and count); the values are compared at
// each crash and at the end.
func (w *World) checkSyncedAtAck(tp linearizability.TopicPartition, a *syncedAck) {
	sent, err := batch.ParseHeader(a.batch)
	if err != nil {
		return // the broker refused it; it cannot have acknowledged it
	}
	for _, h := range a.holders {
		if detail := w.syncedBatchAt(w.brokers[h], tp, a.base, &sent); detail != "" {
			w.violation("synced-durability", fmt.Sprintf("at the acknowledgment: broker %d's synced log of %s-%d %s, acknowledged by broker %d to acks=all with replicas %v in sync",
				h, tp.Topic, tp.Partition, detail, a.broker, a.holders))
			return
		}
	}
}

// syncedBatchAt finds, by walking batch headers in b's synced view, the
// batch at offset base of tp and says what is wrong with it, or "".
func (w *World) syncedBatchAt(b *broker, tp linearizability.TopicPartition, base int64, sent *batch.Header) string {
	dir := path.Join(b.config.DataDir, tp.Topic+"-"+strconv.Itoa(int(tp.Partition)))
	names, _ := b.mem.SyncedList(dir)
	segment := ""
	for _, name := range names {
		digits, isLog := strings.CutSuffix(name, ".log")
		first, err := strconv.ParseInt(digits, 10, 64)
		if isLog && err == nil && first <= base {
			segment = name // names sort as their base offsets do
		}
	}
	if segment == "" {
		return fmt.Sprintf("has no segment holding offset %d", base)
	}
	name := path.Join(dir, segment)
	header := make([]byte, batch.HeaderBytes)
	for position := int64(0); ; {
		n, err := b.mem.SyncedReadAt(name, header, position)
		if err != nil || n < batch.HeaderBytes {
			return fmt.Sprintf("ends before offset %d", base)
		}
		h, err := batch.ParseHeader(header)
		if err != nil || h.BatchLength <= 0 {
			return fmt.Sprintf("has an unreadable batch before offset %d", base)
		}
		switch {
		case h.BaseOffset > base:
			return fmt.Sprintf("has no batch at offset %d", base)
		case h.BaseOffset < base:
			position += h.TotalBytes()
			continue
		}
		last := make([]byte, 1)
		if n, _ := b.mem.SyncedReadAt(name, last, position+h.TotalBytes()-1); n != 1 {
			return fmt.Sprintf("holds only part of the batch at offset %d", base)
		}
		same := h.CRC == sent.CRC ||
			sent.ProducerID >= 0 && h.ProducerID == sent.ProducerID && h.BaseSequence == sent.BaseSequence
		if !same || h.RecordCount != sent.RecordCount {
			return fmt.Sprintf("holds another batch at offset %d", base)
		}
		w.synced.checks++
		return ""
	}
}

// holdersAt is who must hold what b acknowledges for tp now: b itself,
// and the ISR b applied as leader, less replicas whose lost disk that ISR
// predates.
func (w *World) holdersAt(b *broker, tp linearizability.TopicPartition) []int32 {
	holders := []int32{int32(b.index)}
	for _, s := range b.node.Partitions() {
		if s.Topic != tp.Topic || s.Partition != tp.Partition || s.Role != core.RoleLeader {
			continue
		}
		for _, r := range s.ISR {
			if r == int32(b.index) || s.PartitionEpoch < w.lostDataEpoch(tp, r) {
				continue
			}
			holders = append(holders, r)
		}
	}
	slices.Sort(holders)
	return holders
}

// lostDataEpoch is the partition epoch from which an ISR no longer counts
// replica after its disk was lost (math.MaxInt32 while the controller has
// not heard), or -1.
func (w *World) lostDataEpoch(tp linearizability.TopicPartition, replica int32) int32 {
	if _, pending := w.lostDisk[int(replica)]; pending {
		return 1<<31 - 1
	}
	if epoch, ok := w.lostDataAt.get(int(replica), w.slots.slot(tp.Topic, tp.Partition)); ok {
		return epoch
	}
	return -1
}

// forgetHolder releases a broker whose disk is gone from every promise
// made so far: within the failure budget, the others keep them.
func (w *World) forgetHolder(index int) {
	for _, acks := range w.synced.acks {
		for _, a := range acks {
			a.holders = slices.DeleteFunc(a.holders, func(r int32) bool { return r == int32(index) })
		}
	}
}

// checkSynced reads broker b's disk as a crash would leave it and checks
// every promise b holds a part in. when says why, for the report.
func (w *World) checkSynced(b *broker, when string) {
	if len(w.synced.acks) == 0 {
		return
	}
	for _, tp := range w.syncedPartitions() {
		var owed []*syncedAck
		for _, a := range w.synced.acks[tp] {
			if slices.Contains(a.holders, int32(b.index)) {
				owed = append(owed, a)
			}
		}
		if len(owed) == 0 {
			continue
		}
		onDisk, err := w.syncedRecords(b, tp)
		if err != nil {
			w.violation("synced-durability", fmt.Sprintf("%s: broker %d's synced %s-%d cannot be read: %v", when, b.index, tp.Topic, tp.Partition, err))
			return
		}
		for _, a := range owed {
			if detail := w.missingOnDisk(a, onDisk); detail != "" {
				w.violation("synced-durability", fmt.Sprintf("%s: broker %d's synced log of %s-%d lacks %s, acknowledged by broker %d at %v to acks=all with replicas %v in sync",
					when, b.index, tp.Topic, tp.Partition, detail, a.broker, a.at, a.holders))
				return
			}
			w.synced.checks += len(a.values)
		}
	}
}

// missingOnDisk says which promised record of a the synced records lack
// or hold with another value, or "" if none.
func (w *World) missingOnDisk(a *syncedAck, onDisk map[int64]string) string {
	if err := a.decode(); err != nil {
		return fmt.Sprintf("the batch acknowledged at %d, which does not decode: %v", a.base, err)
	}
	for i, want := range a.values {
		offset := a.base + int64(i)
		got, ok := onDisk[offset]
		switch {
		case !ok:
			return fmt.Sprintf("offset %d (%q)", offset, want)
		case got != want:
			return fmt.Sprintf("offset %d: it holds %q, not %q", offset, got, want)
		}
	}
	return ""
}

// decode fills in the values of the acknowledged batch.
func (a *syncedAck) decode() error {
	if a.values != nil {
		return nil
	}
	records, err := decodeBatches(a.batch)
	if err != nil {
		return err
	}
	a.values = make([]string, len(records))
	for i, r := range records {
		a.values[i] = r.Value
	}
	return nil
}

// syncedPartitions lists the partitions with promises, in a fixed order.
func (w *World) syncedPartitions() []linearizability.TopicPartition {
	out := make([]linearizability.TopicPartition, 0, len(w.synced.acks))
	for tp := range w.synced.acks {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b linearizability.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}

// syncedRecords parses the segment files of tp in b's synced view: the
// value of every record of every whole, valid batch, by offset. A segment
// is read up to its first torn or invalid batch (the synced view holds
// only what was synced, but a storage bug may have synced anything); a
// partition directory that would not survive holds nothing.
func (w *World) syncedRecords(b *broker, tp linearizability.TopicPartition) (map[int64]string, error) {
	dir := path.Join(b.config.DataDir, tp.Topic+"-"+strconv.Itoa(int(tp.Partition)))
	names, err := b.mem.SyncedList(dir)
	if err != nil {
		return nil, nil
	}
	out := map[int64]string{}
	for _, name := range names {
		digits, isLog := strings.CutSuffix(name, ".log")
		if _, err := strconv.ParseUint(digits, 10, 63); !isLog || err != nil {
			continue
		}
		data, err := b.mem.SyncedFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for len(data) > 0 {
			total, complete, err := batch.Frame(data)
			if err != nil || !complete {
				break
			}
			one := data[:total]
			data = data[total:]
			h, err := batch.Validate(one)
			if err != nil {
				break
			}
			records, err := batch.Records(one)
			if err != nil {
				break
			}
			for i, r := range records {
				out[h.BaseOffset+int64(i)] = string(r.Value)
			}
		}
	}
	return out, nil
}

// checkSyncedEnd runs the check on every broker at the end of a run, and
// ties it to the history: every produce the history records as
// acknowledged and promised must be among the answers it saw leave a
// broker, with the same values, or the check would be judging something
// other than what the clients heard.
func (w *World) checkSyncedEnd() {
	if !w.syncedCheckOn() {
		return
	}
	for _, b := range w.brokers {
		w.checkSynced(b, "at the end")
		if len(w.violations) > 0 {
			return
		}
	}
	for i := range w.history {
		op := &w.history[i]
		if op.Kind != linearizability.OpProduce || op.Outcome != linearizability.OutcomeOK || (op.Acks != -1 && w.metadata != nil) {
			continue
		}
		seen := false
		for _, a := range w.synced.acks[op.TopicPartition()] {
			if a.base == op.BaseOffset && a.decode() == nil && slices.Equal(a.values, op.Values) {
				seen = true
				break
			}
		}
		if !seen {
			w.violation("synced-durability", fmt.Sprintf("%s-%d: the history's acknowledged produce at %d %v was never seen answered, checked on disk",
				op.Topic, op.Partition, op.BaseOffset, op.Values))
			return
		}
	}
	w.tracef("synced check: %d records and batches found on disk where promised", w.synced.checks)
}

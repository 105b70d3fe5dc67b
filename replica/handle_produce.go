package replica

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/errcode"
	"cairn/replica/storage"
	"cairn/replica/transport"
)

// produceWait is a produce request waiting for its partitions' records to
// commit. pending counts partitions not yet answered, plus one while the
// request is still being taken apart, so that an early acknowledgment cannot
// send a half-built response.
type produceWait struct {
	conn     ConnID
	seq      uint64
	header   transport.RequestHeader
	resp     *kmsg.ProduceResponse
	pending  int
	deadline time.Time
}

// produceSlot is one partition of a waiting produce.
type produceSlot struct {
	wait *produceWait
	part *kmsg.ProduceResponseTopicPartition
}

func (n *Node) handleProduce(r *request, req *kmsg.ProduceRequest) {
	now, id, c, h := r.now, r.conn, r.c, r.header
	acks := core.Acks(req.Acks)
	w := &produceWait{conn: id, header: h, pending: 1, deadline: now.Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)}
	if acks != 0 {
		w.seq = c.take()
	}
	w.resp = req.ResponseKind().(*kmsg.ProduceResponse)
	failed := false
	for i := range req.Topics {
		rt := &req.Topics[i]
		respTopic := kmsg.NewProduceResponseTopic()
		respTopic.Topic = rt.Topic
		respTopic.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			part := &respTopic.Partitions[j]
			part.Default()
			part.Partition = rp.Partition
			code, message := n.produceOne(now, w, acks, rt.Topic, rp, part, req.TransactionID != nil)
			if code != 0 {
				part.ErrorCode = code
				part.BaseOffset = -1
				if message != "" {
					part.ErrorMessage = &message
				}
				failed = true
			}
		}
		w.resp.Topics = append(w.resp.Topics, respTopic)
	}
	if acks == 0 {
		// Nothing is sent back for acks=0; Kafka closes the connection on a
		// failed produce so that the client at least notices.
		if failed {
			n.refuse(id, "failed acks=0 produce", errors.New("see per-partition errors"))
		}
		return
	}
	w.pending--
	if w.pending == 0 {
		n.respond(w.conn, w.seq, w.header, w.resp)
	}
}

// produceOne validates and appends one partition's batch. It returns a Kafka
// error code (and message) when the batch is refused; otherwise the slot
// waits for the acknowledgment, or is filled at once for acks=0.
func (n *Node) produceOne(now time.Time, w *produceWait, acks core.Acks, topicName string,
	rp *kmsg.ProduceRequestTopicPartition, part *kmsg.ProduceResponseTopicPartition, transactional bool) (int16, string) {
	p := n.partition(topicName, rp.Partition)
	switch {
	case p == nil && n.imagePartitionExists(topicName, rp.Partition):
		return kerr.NotLeaderForPartition.Code, ""
	case p == nil:
		return kerr.UnknownTopicOrPartition.Code, ""
	case transactional:
		return kerr.InvalidRequest.Code, "transactions are not supported yet"
	case p.failed:
		return kerr.KafkaStorageError.Code, "the partition's log failed; it recovers when the broker restarts"
	}
	b := rp.Records
	if int64(len(b)) > int64(p.messageBytesMax) {
		return kerr.MessageTooLarge.Code, fmt.Sprintf("batch of %d bytes exceeds max.message.bytes %d", len(b), p.messageBytesMax)
	}
	if code, message := validateProduceBatch(b); code != 0 {
		return code, message
	}
	h, _ := batch.ParseHeader(b)
	producer := producerBatch(&h)
	decision := p.core.DecideProduce(acks, p.producers, producer)
	switch {
	case decision.Code != errcode.None:
		return int16(decision.Code), ""
	case decision.Duplicate:
		// A retry of a batch already written: answer as the original
		// is answered, once its records commit, and write nothing.
		n.awaitProduce(now, w, p, acks, part, decision.FirstOffset, decision.LastOffset)
		return 0, ""
	}
	base, epoch := decision.BaseOffset, decision.LeaderEpoch
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, epoch)
	segments := p.log.SegmentCount()
	if err := p.log.Append(b, now); err != nil {
		n.logger.Error("append failed", "topic", topicName, "partition", rp.Partition, "err", err)
		if errors.Is(err, storage.ErrFailed) {
			p.failed = true
		}
		return kerr.KafkaStorageError.Code, ""
	}
	last := base + int64(h.LastOffsetDelta)
	p.producers.Append(producer, base, last, now)
	if p.log.SegmentCount() != segments {
		n.snapshotProducers(p) // as Kafka does at a segment roll
	}
	n.nextToken++
	token := n.nextToken
	if acks != 0 {
		n.produces[token] = &produceSlot{wait: w, part: part}
		w.pending++
	}
	p.core.Appended(token, acks, base, last)
	n.afterCore(now, p)
	return 0, ""
}

// awaitProduce makes a slot wait for records already in the log.
func (n *Node) awaitProduce(now time.Time, w *produceWait, p *partition, acks core.Acks,
	part *kmsg.ProduceResponseTopicPartition, first, last int64) {
	n.nextToken++
	token := n.nextToken
	if acks != 0 {
		n.produces[token] = &produceSlot{wait: w, part: part}
		w.pending++
	}
	p.core.AwaitAppended(token, acks, first, last)
	n.afterCore(now, p)
}

// validateProduceBatch checks what a client sent: exactly one v2 batch,
// intact, with a record count that agrees with its offsets, and no control
// records (only the broker writes those).
func validateProduceBatch(b []byte) (int16, string) {
	if len(b) == 0 {
		return kerr.InvalidRecord.Code, "no record batch"
	}
	total, complete, err := batch.Frame(b)
	if err != nil || !complete {
		return kerr.CorruptMessage.Code, "record batch truncated"
	}
	if total != int64(len(b)) {
		return kerr.InvalidRecord.Code, "more than one record batch for a partition"
	}
	h, err := batch.Validate(b)
	switch {
	case errors.Is(err, batch.ErrCorrupt), errors.Is(err, batch.ErrTruncated), errors.Is(err, batch.ErrBadLength):
		return kerr.CorruptMessage.Code, err.Error()
	case err != nil:
		return kerr.InvalidRecord.Code, err.Error()
	case h.IsControl():
		return kerr.InvalidRecord.Code, "control batches come only from the broker"
	case h.IsTransactional():
		return kerr.InvalidRecord.Code, "transactional batches are not supported yet"
	}
	return 0, ""
}

// produceAcked fills a partition slot when the core acknowledges it.
func (n *Node) produceAcked(ack core.Ack) {
	slot, ok := n.produces[ack.Token]
	if !ok {
		return // timed out already, or acks=0
	}
	delete(n.produces, ack.Token)
	if ack.Error != errcode.None {
		slot.part.ErrorCode = int16(ack.Error)
		slot.part.BaseOffset = -1
	} else {
		slot.part.BaseOffset = ack.BaseOffset
	}
	n.slotDone(slot.wait)
}

func (n *Node) slotDone(w *produceWait) {
	w.pending--
	if w.pending == 0 {
		n.respond(w.conn, w.seq, w.header, w.resp)
	}
}

// expireProduces answers REQUEST_TIMED_OUT for partitions still waiting at
// their deadline. Their records may yet commit, as in Kafka: the client
// learns the outcome is unknown, not that the write failed.
func (n *Node) expireProduces(now time.Time) {
	var expired []core.Token
	for token, slot := range n.produces {
		if !now.Before(slot.wait.deadline) {
			expired = append(expired, token)
		}
	}
	sort.Slice(expired, func(i, j int) bool { return expired[i] < expired[j] })
	for _, token := range expired {
		slot := n.produces[token]
		delete(n.produces, token)
		slot.part.ErrorCode = kerr.RequestTimedOut.Code
		slot.part.BaseOffset = -1
		n.slotDone(slot.wait)
	}
}

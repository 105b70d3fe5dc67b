package replica

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/errcode"
	"cairn/replica/storage"
	"cairn/replica/transport"
)

// fetchWait is a fetch parked until MinBytes are available or its wait ends
// (long poll).
type fetchWait struct {
	conn     ConnID
	seq      uint64
	header   transport.RequestHeader
	req      *kmsg.FetchRequest
	deadline time.Time
	// highWatermarks, for a follower's fetch, are the partitions' high
	// watermarks when it parked.
	highWatermarks []int64
}

func (n *Node) handleFetch(r *request, req *kmsg.FetchRequest) {
	now, id, seq, h := r.now, r.conn, r.take(), r.header
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, n.config.FetchWaitMax)
	w := &fetchWait{conn: id, seq: seq, header: h, req: req, deadline: now.Add(wait)}
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		// Cairn creates no fetch sessions (KIP-227): every response
		// carries session id 0, which tells clients to send full fetches.
		// A client naming a session must have it from elsewhere.
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		n.respond(id, seq, h, resp)
		return
	}
	if req.ReplicaID >= 0 {
		n.recordFollowerFetch(now, req)
	}
	resp, bytes, final, buffer := n.buildFetch(w.req)
	if final || bytes >= int64(req.MinBytes) || wait <= 0 {
		n.respondFetch(id, seq, h, resp, bytes, buffer)
		return
	}
	n.buffers.release(buffer)
	w.highWatermarks = n.highWatermarks(req)
	n.fetches = append(n.fetches, w)
}

// recordFollowerFetch tells each partition's core what a follower's fetch
// says: the follower holds everything below its fetch offset. That may
// commit records, acknowledge produces and grow the ISR. Errors are
// answered per partition by buildFetch, which checks the same things.
func (n *Node) recordFollowerFetch(now time.Time, req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if p := n.partition(rt.Topic, rp.Partition); p != nil {
				p.core.FetchFromFollower(now, req.ReplicaID, rp.FetchOffset, rp.CurrentLeaderEpoch)
				n.afterCore(now, p)
			}
		}
	}
}

// highWatermarks records the high watermark of each partition of a parked
// follower fetch: when one moves, the follower is told at once.
func (n *Node) highWatermarks(req *kmsg.FetchRequest) []int64 {
	if req.ReplicaID < 0 {
		return nil
	}
	var out []int64
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			hw := int64(-1)
			if p := n.partition(req.Topics[i].Topic, req.Topics[i].Partitions[j].Partition); p != nil {
				hw = p.core.HighWatermark()
			}
			out = append(out, hw)
		}
	}
	return out
}

// buildFetch reads what the fetch asks for. final is true when some
// partition answered with an error, which ends the long poll at once.
func (n *Node) buildFetch(req *kmsg.FetchRequest) (resp *kmsg.FetchResponse, bytes int64, final bool, buffer []byte) {
	resp = req.ResponseKind().(*kmsg.FetchResponse)
	remaining := int64(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = 1<<31 - 1
	}
	type planned struct {
		part      *kmsg.FetchResponseTopicPartition
		read      storage.ReadResult
		partition *partition
	}
	var plan []planned
	reader := core.ReaderForFetch(req.ReplicaID, req.IsolationLevel)
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		respTopic := &resp.Topics[i]
		respTopic.Default()
		respTopic.Topic = rt.Topic
		respTopic.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			part := &respTopic.Partitions[j]
			part.Default()
			part.Partition = rp.Partition
			// Kafka sends empty record sets, never null ones; librdkafka
			// refuses a null (size -1) record set.
			part.RecordBatches = []byte{}
			read, code := n.planFetch(rt.Topic, rp, part, remaining, bytes > 0, reader)
			if code != 0 {
				part.ErrorCode = code
				final = true
				continue
			}
			if read.Bytes > 0 {
				plan = append(plan, planned{part, read, n.partition(rt.Topic, rp.Partition)})
				bytes += read.Bytes
				remaining -= read.Bytes
			}
		}
	}
	// Read every partition into one pooled buffer, sized up front: the
	// response encoder copies it, so it goes back to the pool after.
	buf := n.buffers.take(int(bytes))
	bytes = 0
	for _, pl := range plan {
		start := len(buf)
		var err error
		buf, err = storage.ReadInto(buf, pl.read)
		if err != nil {
			n.logger.Error("refusing to serve a corrupt batch", "topic", pl.part.Partition, "err", err)
			if len(buf) == start {
				pl.part.ErrorCode = kerr.KafkaStorageError.Code
				final = true
				continue
			}
		}
		buf = buf[:start+epochConsistentPrefix(pl.partition, buf[start:])]
		if len(buf) == start {
			pl.part.ErrorCode = kerr.KafkaStorageError.Code
			final = true
			continue
		}
		pl.part.RecordBatches = buf[start:len(buf):len(buf)]
		bytes += int64(len(buf) - start)
	}
	return resp, bytes, final, buf
}

// ReleaseFrame hands a response frame back for reuse once the driver has
// written it, under the same serialization as every other call. Only the
// runtime shell calls it; a frame not released is simply collected.
func (n *Node) ReleaseFrame(frame []byte) { n.buffers.release(frame) }

// respondFetch encodes a fetch response into a frame sized for its
// records, then recycles the read buffer.
func (n *Node) respondFetch(id ConnID, seq uint64, h transport.RequestHeader, resp *kmsg.FetchResponse, bytes int64, buffer []byte) {
	resp.SetVersion(h.APIVersion)
	frame := transport.AppendResponseFrame(n.buffers.take(int(bytes)+fetchFrameOverheadBytes), h.CorrelationID, resp)
	n.buffers.release(buffer)
	n.complete(id, seq, frame)
}

// fetchFrameOverheadBytes is room for a fetch response's non-record fields.
const fetchFrameOverheadBytes = 4096

// planFetch checks one partition of a fetch and decides what to read; how
// far the reader may read is the core's decision (Partition.ReadBound).
func (n *Node) planFetch(topicName string, rp *kmsg.FetchRequestTopicPartition, part *kmsg.FetchResponseTopicPartition,
	remaining int64, haveData bool, reader core.Reader) (storage.ReadResult, int16) {
	p := n.partition(topicName, rp.Partition)
	switch {
	case p == nil && n.imagePartitionExists(topicName, rp.Partition):
		return storage.ReadResult{}, kerr.NotLeaderForPartition.Code
	case p == nil:
		return storage.ReadResult{}, kerr.UnknownTopicOrPartition.Code
	}
	bound, code := p.core.ReadBound(reader, rp.CurrentLeaderEpoch, rp.FetchOffset)
	if code == errcode.None || code == errcode.OffsetOutOfRange {
		part.HighWatermark = bound.HighWatermark
		part.LastStableOffset = bound.LastStableOffset
		part.LogStartOffset = bound.LogStartOffset
	}
	if code != errcode.None {
		return storage.ReadResult{}, int16(code)
	}
	limitOffset := bound.Limit
	if rp.FetchOffset >= limitOffset || remaining <= 0 {
		return storage.ReadResult{}, 0
	}
	limit := min(int64(rp.PartitionMaxBytes), remaining)
	if limit <= 0 {
		return storage.ReadResult{}, 0
	}
	read, err := p.log.Read(rp.FetchOffset, limit, limitOffset)
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return storage.ReadResult{}, kerr.OffsetOutOfRange.Code
	case err != nil:
		n.logger.Error("read failed", "topic", topicName, "partition", rp.Partition, "err", err)
		return storage.ReadResult{}, kerr.KafkaStorageError.Code
	}
	// Only the first batch of the whole response may exceed the limits
	// (KIP-74): it guarantees progress; later ones wait for the next fetch.
	if haveData && read.Bytes > remaining {
		return storage.ReadResult{}, 0
	}
	return read, 0
}

// wakeFetches re-evaluates parked fetches after a high watermark advanced,
// in the order they parked.
func (n *Node) wakeFetches(now time.Time) {
	kept := n.fetches[:0]
	for _, w := range n.fetches {
		if !n.fetchMayHaveData(w) {
			kept = append(kept, w)
			continue
		}
		resp, bytes, final, buffer := n.buildFetch(w.req)
		if final || bytes >= int64(w.req.MinBytes) || !now.Before(w.deadline) {
			n.respondFetch(w.conn, w.seq, w.header, resp, bytes, buffer)
			continue
		}
		n.buffers.release(buffer)
		kept = append(kept, w)
	}
	clear(n.fetches[len(kept):])
	n.fetches = kept
}

// fetchMayHaveData is a cheap test before a full read: does any requested
// partition have records at or past the fetch offset that this fetch may
// see — or, for a follower, a new high watermark to learn?
func (n *Node) fetchMayHaveData(w *fetchWait) bool {
	req := w.req
	reader := core.ReaderForFetch(req.ReplicaID, req.IsolationLevel)
	k := 0
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			rp := &req.Topics[i].Partitions[j]
			p := n.partition(req.Topics[i].Topic, rp.Partition)
			switch {
			case p == nil:
				return true
			case p.core.ReadLimit(reader) > rp.FetchOffset:
				return true
			case reader == core.ReaderFollower && p.core.HighWatermark() != w.highWatermarks[k]:
				return true
			}
			k++
		}
	}
	return false
}

func (n *Node) expireFetches(now time.Time) {
	kept := n.fetches[:0]
	for _, w := range n.fetches {
		if now.Before(w.deadline) {
			kept = append(kept, w)
			continue
		}
		resp, bytes, _, buffer := n.buildFetch(w.req)
		n.respondFetch(w.conn, w.seq, w.header, resp, bytes, buffer)
	}
	clear(n.fetches[len(kept):])
	n.fetches = kept
}

// epochConsistentPrefix returns how many leading bytes of b hold batches
// whose leader epoch is the one the epoch cache says wrote them. The CRC
// does not cover the epoch field, so a bit flipped there on the way from
// the disk would otherwise reach followers and consumers.
func epochConsistentPrefix(p *partition, b []byte) int {
	good := 0
	for good < len(b) {
		h, err := batch.ParseHeader(b[good:])
		if err != nil {
			break
		}
		if want := p.core.EpochAt(h.BaseOffset); want >= 0 && h.LeaderEpoch != want {
			break
		}
		good += int(h.TotalBytes())
	}
	return good
}

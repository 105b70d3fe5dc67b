package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
	"cairn/core/batch"
	"cairn/core/controller"
	"cairn/core/mutant"
	"cairn/diskfault"
	"cairn/replica/storage"
)

// Idempotent producers on the broker: producer ids handed out by
// InitProducerId from blocks the controller allocates (so they are unique
// across the cluster and survive controller failover: each block is a
// committed metadata record), and each partition's producer state, kept
// from every batch appended, rebuilt from the log after a restart or a
// truncation, and snapshotted so that a restart does not rescan the log.

const (
	apiKeyAllocateProducerIDs = 67
	peerAllocateVersion       = 0
	// producerSnapshotName is the producer-state snapshot in a partition's
	// directory.
	producerSnapshotName = "producer-snapshot"
	// producerSnapshotMagic opens a snapshot file (and names its version).
	producerSnapshotMagic = 0x43505331 // "CPS1"
	// producerSnapshotEntriesMax bounds what a snapshot may claim to hold.
	producerSnapshotEntriesMax = 1 << 20
	// producerRebuildReadBytes is how much of the log one rebuild read takes.
	producerRebuildReadBytes = 1 << 20
	// producerRebuildAttemptsMax bounds the rebuild's re-reads of a batch
	// that failed its CRC on the way from the disk.
	producerRebuildAttemptsMax = 3
	// producerIDRequestTimeout is when an allocation that neither
	// committed nor failed (its controller stepped down) is asked again.
	producerIDRequestTimeout = 5 * time.Second
	// producerExpiryInterval is how often partitions drop idle producers
	// unless Config.ProducerExpiryInterval says otherwise.
	producerExpiryInterval = 10 * time.Second
)

// producerIDs is the node's block of producer ids and its request for the
// next one.
type producerIDs struct {
	next, end int64 // [next, end) is unused
	// requested says an allocation is in flight: to the local controller
	// (pendingFirst is the block's first id, installed once its record
	// commits) or to a remote one (pendingFirst is -1).
	requested    bool
	pendingFirst int64
	requestedAt  time.Time
	nextExpiry   time.Time
}

// requestProducerIDs asks the controller for the next block of ids, unless
// a request is in flight.
func (n *Node) requestProducerIDs(now time.Time) {
	if (n.pids.requested && now.Before(n.pids.requestedAt.Add(producerIDRequestTimeout))) || !n.registeredNow() {
		return
	}
	n.pids.requestedAt = now
	if c := n.meta.active; c != nil {
		first, _, err := c.AllocateProducerIDs(now, n.config.NodeID, n.meta.incarnation)
		if err != nil {
			n.logger.Debug("producer id block refused", "err", err.Message)
			return
		}
		n.pids.requested, n.pids.pendingFirst = true, first
		n.commitController(now)
		return
	}
	controllerID := n.meta.controllerID
	if !n.peerAvailable(now, controllerID) {
		return
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.SetVersion(peerAllocateVersion)
	req.BrokerID, req.BrokerEpoch = n.config.NodeID, n.meta.incarnation
	n.pids.requested, n.pids.pendingFirst = true, -1
	n.send(controllerID, &peerCall{kind: callAllocateProducerIDs, request: req})
}

// producerIDsCommitted installs a block allocated by this process's own
// request through the local controller once its record has committed. A
// block of the same broker replayed from before a restart never matches:
// no request of this process is pending for it.
func (n *Node) producerIDsCommitted(r controller.AllocateProducerIDs) {
	if !n.pids.requested || r.Broker != n.config.NodeID || r.First != n.pids.pendingFirst {
		return
	}
	n.pids.next, n.pids.end = r.First, r.First+r.Count
	n.pids.requested = false
}

// onPeerAllocateProducerIDs takes the block a remote controller answered
// with; the controller answers only after the block's record committed.
func (n *Node) onPeerAllocateProducerIDs(r *kmsg.AllocateProducerIDsResponse) {
	n.pids.requested = false
	if r.ErrorCode != 0 || r.ProducerIDLen <= 0 || r.ProducerIDStart < 0 {
		return
	}
	n.pids.next, n.pids.end = r.ProducerIDStart, r.ProducerIDStart+int64(r.ProducerIDLen)
}

// producerIDCallFailed forgets a remote allocation that got no answer.
func (n *Node) producerIDCallFailed() { n.pids.requested = false }

// producerBatch reads the producer fields of a batch header.
func producerBatch(h *batch.Header) core.ProducerBatch {
	return core.ProducerBatch{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
		FirstSequence: h.BaseSequence, Records: h.LastOffsetDelta + 1}
}

// producerBecameLeader is where a new leader's producer state comes from:
// the state it kept while following, which holds every batch of its log.
// The forget-producers-on-leader-change mutant drops it instead.
func (p *partition) producerBecameLeader() {
	if mutant.Active(mutant.ForgetProducersOnLeaderChange) {
		p.producers.Reset()
	}
}

// loadProducers builds a partition's producer state when its log opens:
// from the snapshot, if it is intact and describes a prefix of this log,
// then from the batch headers after it; otherwise from the whole log. A
// snapshot beyond the recovered log end describes batches a crash took (it
// was written before they were synced); it is removed at once, durably,
// because once new batches fill those offsets it would look like a prefix
// and claim batches that are not there.
func (n *Node) loadProducers(p *partition, now time.Time) error {
	offset := int64(-1)
	if entries, at, ok := readProducerSnapshot(n.fs, p.dir); ok && at >= p.log.StartOffset() && at <= p.log.NextOffset() {
		p.producers.Restore(entries)
		offset = at
	} else if ok && at > p.log.NextOffset() {
		p.snapshotOffset = at
		if err := n.dropProducerSnapshot(p, p.log.NextOffset()); err != nil {
			return fmt.Errorf("remove a producer snapshot past the log end: %w", err)
		}
	}
	if offset < 0 {
		p.producers.Reset()
		offset = p.log.StartOffset()
	}
	p.snapshotOffset = offset
	return n.replayProducers(p, offset, now)
}

// rebuildProducers rebuilds the producer state after a truncation: the
// snapshot is gone (removed before the cut), so from the whole log.
func (n *Node) rebuildProducers(p *partition, now time.Time) error {
	p.producers.Reset()
	return n.replayProducers(p, p.log.StartOffset(), now)
}

// replayProducers applies the producer fields of every batch header from
// offset to the log end. Producers seen only here count as seen now.
func (n *Node) replayProducers(p *partition, offset int64, now time.Time) error {
	var buffer []byte
	end := p.log.NextOffset()
	for offset < end {
		var err error
		for attempt := 0; attempt < producerRebuildAttemptsMax; attempt++ {
			var r storage.ReadResult
			r, err = p.log.Read(offset, producerRebuildReadBytes, end)
			if err != nil {
				continue
			}
			buffer, err = storage.ReadInto(buffer[:0], r)
			if err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("rebuild producer state at offset %d: %w", offset, err)
		}
		if len(buffer) == 0 {
			return fmt.Errorf("rebuild producer state: nothing read at offset %d of %d", offset, end)
		}
		for b := buffer; len(b) > 0; {
			h, err := batch.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("rebuild producer state at offset %d: %w", offset, err)
			}
			if h.LastOffset() >= offset {
				p.producers.Append(producerBatch(&h), h.BaseOffset, h.LastOffset(), now)
			}
			offset = h.NextOffset()
			b = b[h.TotalBytes():]
		}
	}
	return nil
}

// expireProducers drops idle producers from every hosted partition.
func (n *Node) expireProducers(now time.Time) {
	if now.Before(n.pids.nextExpiry) {
		return
	}
	interval := n.config.ProducerExpiryInterval
	if interval <= 0 {
		interval = producerExpiryInterval
	}
	n.pids.nextExpiry = now.Add(interval)
	for _, name := range n.topicNames {
		for _, p := range n.topics[name].partitions {
			if p != nil {
				p.producers.Expire(now)
			}
		}
	}
}

// snapshotProducers writes the producer-state snapshot as of the log end.
// It is an optimisation only: a failure is logged and recovery rescans.
func (n *Node) snapshotProducers(p *partition) {
	if p.failed {
		return
	}
	at := p.log.NextOffset()
	if err := writeFileAtomic(n.fs, p.dir, producerSnapshotName, encodeProducerSnapshot(at, p.producers.Snapshot())); err != nil {
		n.logger.Warn("producer snapshot not written", "topic", p.topic.name, "partition", p.index, "err", err)
		return
	}
	p.snapshotOffset = at
}

// dropProducerSnapshot removes the snapshot before the log is cut below
// the offset it describes: a snapshot must only ever describe a prefix of
// the log, and after a cut and new appends it would describe batches that
// are gone. The removal is durable before the cut.
func (n *Node) dropProducerSnapshot(p *partition, cut int64) error {
	if p.snapshotOffset < 0 || cut >= p.snapshotOffset {
		return nil
	}
	name := path.Join(p.dir, producerSnapshotName)
	if _, err := n.fs.Stat(name); err == nil {
		if err := n.fs.Remove(name); err != nil {
			return err
		}
		if err := syncDirectory(n.fs, p.dir); err != nil {
			return err
		}
	}
	p.snapshotOffset = -1
	return nil
}

// encodeProducerSnapshot lays a snapshot out as: magic, log offset, entry
// count, the entries (id, epoch, last seen, batch count, batches), and a
// CRC-32C of everything before it.
func encodeProducerSnapshot(at int64, entries []core.ProducerSnapshotEntry) []byte {
	b := binary.BigEndian.AppendUint32(nil, producerSnapshotMagic)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastSeen.UnixNano()))
		b = append(b, byte(len(e.Batches)))
		for _, a := range e.Batches {
			b = binary.BigEndian.AppendUint32(b, uint32(a.FirstSequence))
			b = binary.BigEndian.AppendUint32(b, uint32(a.LastSequence))
			b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

var errBadProducerSnapshot = errors.New("producer snapshot malformed")

// decodeProducerSnapshot parses a snapshot, refusing anything whose CRC or
// shape is wrong.
func decodeProducerSnapshot(b []byte) (entries []core.ProducerSnapshotEntry, at int64, err error) {
	if len(b) < 20 {
		return nil, 0, errBadProducerSnapshot
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum || binary.BigEndian.Uint32(body) != producerSnapshotMagic {
		return nil, 0, errBadProducerSnapshot
	}
	at = int64(binary.BigEndian.Uint64(body[4:]))
	count := binary.BigEndian.Uint32(body[12:])
	body = body[16:]
	if at < 0 || count > producerSnapshotEntriesMax {
		return nil, 0, errBadProducerSnapshot
	}
	const entryBytes, batchBytes = 19, 24
	for i := uint32(0); i < count; i++ {
		if len(body) < entryBytes {
			return nil, 0, errBadProducerSnapshot
		}
		e := core.ProducerSnapshotEntry{ProducerID: int64(binary.BigEndian.Uint64(body)),
			Epoch:    int16(binary.BigEndian.Uint16(body[8:])),
			LastSeen: time.Unix(0, int64(binary.BigEndian.Uint64(body[10:])))}
		batches := int(body[18])
		body = body[entryBytes:]
		if batches > core.ProducerBatchesMax || len(body) < batches*batchBytes {
			return nil, 0, errBadProducerSnapshot
		}
		for k := 0; k < batches; k++ {
			e.Batches = append(e.Batches, core.ProducerSnapshotBatch{
				FirstSequence: int32(binary.BigEndian.Uint32(body)), LastSequence: int32(binary.BigEndian.Uint32(body[4:])),
				FirstOffset: int64(binary.BigEndian.Uint64(body[8:])), LastOffset: int64(binary.BigEndian.Uint64(body[16:]))})
			body = body[batchBytes:]
		}
		entries = append(entries, e)
	}
	if len(body) != 0 {
		return nil, 0, errBadProducerSnapshot
	}
	return entries, at, nil
}

// readProducerSnapshot reads a partition's snapshot by the recovery rules:
// two agreeing reads, then the CRC. Anything else is ignored and the log
// rescanned.
func readProducerSnapshot(fs diskfault.FS, dir string) ([]core.ProducerSnapshotEntry, int64, bool) {
	name := path.Join(dir, producerSnapshotName)
	if _, err := fs.Stat(name); err != nil {
		return nil, 0, false
	}
	f, err := fs.Open(name)
	if err != nil {
		return nil, 0, false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() > 64<<20 {
		return nil, 0, false
	}
	data, err := stableRead(f, info.Size())
	if err != nil {
		return nil, 0, false
	}
	entries, at, err := decodeProducerSnapshot(data)
	if err != nil {
		return nil, 0, false
	}
	return entries, at, true
}

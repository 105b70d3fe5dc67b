package sim

import (
	"time"

	"cairn/replica"
)

// metadataLog is the simulated controller quorum: one ordered log of
// committed entries with a leader that may change or vanish (outages). It
// stands in for the Raft shard of production; what it must preserve is
// what Raft gives the brokers: every broker applies the same entries in
// the same order, proposals commit only through the current leader, and a
// new leader has applied everything committed before it leads.
type metadataLog struct {
	entries [][]byte
	leader  int // broker index, -1 during an outage
	// delivered is, per broker, how many entries it has applied.
	delivered []int
	// pending are proposals waiting to commit, in order.
	pending []proposal
}

type proposal struct {
	from  int
	term  int
	entry []byte
}

// Metadata commit and delivery delays.
const (
	metadataCommitDelay   = 3 * time.Millisecond
	metadataDeliveryDelay = time.Millisecond
)

func newMetadataLog(brokers int) *metadataLog {
	return &metadataLog{leader: -1, delivered: make([]int, brokers)}
}

// propose queues a broker's entry; it commits after a delay if the broker
// still leads then.
func (w *World) proposeMetadata(from int, entry []byte) {
	m := w.metadata
	if m.leader != from {
		w.tracef("b%d metadata proposal refused: not the leader", from)
		w.schedule(w.now, eventMetadataFailed, from, w.brokers[from].incarnation, nil)
		return
	}
	m.pending = append(m.pending, proposal{from: from, term: w.metadataTerm, entry: entry})
	w.schedule(w.now+metadataCommitDelay, eventMetadataCommit, from, w.metadataTerm, nil)
}

// commitMetadata commits the oldest pending proposal of the current term.
func (w *World) commitMetadata(term int) {
	m := w.metadata
	if len(m.pending) == 0 {
		return
	}
	p := m.pending[0]
	m.pending = m.pending[1:]
	if p.term != w.metadataTerm || m.leader != p.from {
		w.schedule(w.now, eventMetadataFailed, p.from, w.brokers[p.from].incarnation, nil)
		return
	}
	m.entries = append(m.entries, p.entry)
	w.tracef("metadata entry %d committed (from b%d)", len(m.entries), p.from)
	if records, err := replica.DecodeMetadataEntry(p.entry); err == nil {
		// A refused batch changes no broker's image, nor this one.
		if w.image.ApplyBatch(records) == nil {
			w.noteRegistrations()
			w.afterMetadataCommit(len(m.entries), records)
		}
	}
	for i := range w.brokers {
		w.schedule(w.now+metadataDeliveryDelay, eventMetadataDeliver, i, w.brokers[i].incarnation, nil)
	}
}

// noteRegistrations notices the committed registrations of brokers that
// lost their disks, which take them out of every ISR: from the epochs they
// leave, no leader may count them in sync.
func (w *World) noteRegistrations() {
	for index, lost := range w.lostDisk {
		b, ok := w.image.Broker(int32(index))
		if !ok || b.DirectoryID == lost {
			continue
		}
		delete(w.lostDisk, index)
		w.replicaInputs++
		for _, t := range w.image.Topics() {
			for _, p := range w.image.Partitions(t.Name) {
				w.lostDataAt.put(index, w.slots.slot(p.Topic, p.Partition), p.PartitionEpoch)
			}
		}
	}
}

// deliverMetadata applies every committed entry a live broker lacks.
func (w *World) deliverMetadata(b *broker) {
	m := w.metadata
	if b.node == nil || b.paused {
		return
	}
	for m.delivered[b.index] < len(m.entries) {
		m.delivered[b.index]++
		index := m.delivered[b.index]
		b.node.ApplyMetadata(w.wallTime(), uint64(index), m.entries[index-1])
	}
	b.flush(w)
	if len(b.crashAt) > 0 {
		b.crashIfApplied(w)
	}
}

// electMetadataLeader moves quorum leadership to broker next (or none with
// -1). Pending proposals of the old term fail. The new leader applies every
// committed entry before it learns it leads.
func (w *World) electMetadataLeader(next int) {
	m := w.metadata
	w.metadataTerm++
	for _, p := range m.pending {
		w.schedule(w.now, eventMetadataFailed, p.from, w.brokers[p.from].incarnation, nil)
	}
	m.pending = nil
	m.leader = next
	w.tracef("metadata leader is now %d (term %d)", next, w.metadataTerm)
	if next >= 0 {
		w.deliverMetadata(w.brokers[next])
	}
	for _, b := range w.brokers {
		if b.node != nil && !b.paused {
			b.node.SetControllerLeader(w.wallTime(), int32(next))
			b.flush(w)
		}
	}
}

// liveBrokerAfter picks the first live broker after index i, or -1.
func (w *World) liveBrokerAfter(i int) int {
	for k := 1; k <= len(w.brokers); k++ {
		j := (i + k) % len(w.brokers)
		if b := w.brokers[j]; b.node != nil && !b.paused {
			return j
		}
	}
	return -1
}

package core

import "cairn/core/errcode"

// Reader is who reads a partition's log, which decides how far it may read.
type Reader uint8

const (
	// ReaderUncommitted is a consumer at isolation level read_uncommitted:
	// it sees committed records, those below the high watermark.
	ReaderUncommitted Reader = iota
	// ReaderCommitted is a consumer at isolation level read_committed: it
	// sees records below the last stable offset. Without transactions
	// nothing is open, so the last stable offset is the high watermark.
	ReaderCommitted
	// ReaderFollower is another replica of the partition: it copies
	// everything the leader has, up to the log end, so that it can count
	// toward committing it.
	ReaderFollower
)

func (r Reader) String() string {
	return [...]string{"read_uncommitted", "read_committed", "follower"}[r]
}

// ReaderForFetch names the reader of a Fetch request: a replica id of 0 or
// more is a follower; otherwise the isolation level decides (1 is
// read_committed, anything else read_uncommitted, as Kafka reads it).
func ReaderForFetch(replicaID int32, isolationLevel int8) Reader {
	switch {
	case replicaID >= 0:
		return ReaderFollower
	case isolationLevel == 1:
		return ReaderCommitted
	}
	return ReaderUncommitted
}

// ReadBound is what a leader tells one reader about a fetch: the offsets a
// fetch response carries, and Limit, the offset the read must stop
// before. A read from FetchOffset >= Limit returns nothing (yet).
type ReadBound struct {
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	Limit            int64
}

// ReadBound decides how far reader may read from fetchOffset, the fetch
// naming currentLeaderEpoch (-1: none). Errors, in Kafka's order: a fenced
// or unknown leader epoch (KIP-320), NOT_LEADER_OR_FOLLOWER on a replica
// that does not lead, and OFFSET_OUT_OF_RANGE for an offset outside
// [StartOffset, EndOffset]. With OFFSET_OUT_OF_RANGE the bound still
// carries the offsets, which the response reports so that the reader can
// reset; with the other errors it is zero.
func (p *Partition) ReadBound(reader Reader, currentLeaderEpoch int32, fetchOffset int64) (ReadBound, errcode.Code) {
	if code := p.checkEpoch(currentLeaderEpoch); code != errcode.None {
		return ReadBound{}, code
	}
	if p.role != RoleLeader {
		return ReadBound{}, errcode.NotLeaderOrFollower
	}
	bound := ReadBound{HighWatermark: p.highWatermark, LastStableOffset: p.lastStableOffset(),
		LogStartOffset: p.startOffset, Limit: p.ReadLimit(reader)}
	if fetchOffset < p.startOffset || fetchOffset > p.endOffset {
		return bound, errcode.OffsetOutOfRange
	}
	return bound, errcode.None
}

// ReadLimit is the offset reader's reads stop before: the end of what it
// may see. A fetch parked for data wakes when it passes the fetch offset.
func (p *Partition) ReadLimit(reader Reader) int64 {
	switch reader {
	case ReaderFollower:
		return p.endOffset
	case ReaderCommitted:
		return p.lastStableOffset()
	}
	return p.highWatermark
}

// lastStableOffset is the first offset of the oldest open transaction, or
// the high watermark when none is open — always, until transactions come.
func (p *Partition) lastStableOffset() int64 { return p.highWatermark }

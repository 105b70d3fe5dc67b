package core

import "cairn/core/errcode"

// FetchedBatch is what a follower's driver read of one batch its leader
// sent. The core never sees the bytes: the driver computes the CRC, the
// core decides what a bad one means.
type FetchedBatch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32
	// CRCValid is the driver's verdict on the batch's CRC-32C; the other
	// fields mean nothing when it is false.
	CRCValid bool
}

// ReplicateAction is what a follower does with one fetched batch.
type ReplicateAction uint8

const (
	// ReplicateAppend: append the batch, then report it with Replicated.
	ReplicateAppend ReplicateAction = iota
	// ReplicateSkip: this log holds the batch already; go on to the next.
	ReplicateSkip
	// ReplicateStop: append nothing more from this answer, and answer the
	// fetch as a success: the rest comes again with the next fetch.
	ReplicateStop
	// ReplicateReject: append nothing more, and end the fetch with the
	// decision's Code.
	ReplicateReject
)

func (a ReplicateAction) String() string {
	return [...]string{"append", "skip", "stop", "reject"}[a]
}

// ReplicateDecision is the verdict on one fetched batch.
type ReplicateDecision struct {
	Action ReplicateAction
	// Code, with ReplicateReject, ends the fetch: KAFKA_STORAGE_ERROR for a
	// batch that cannot be right, OFFSET_OUT_OF_RANGE for one that does not
	// continue this log, which sends the follower back to truncation
	// (FetchAnswered) before it fetches again.
	Code errcode.Code
	// Reason says why, for the driver's log, when the refusal is worth an
	// operator's attention: damage on the way. A batch that does not
	// continue the log is routine after a leader change and has none.
	Reason string
}

// AcceptFetched decides what a follower does with the next batch of its
// leader's fetch answer, in this order:
//
//   - a bad CRC means the batch was damaged on the way (the leader checks
//     what it serves): stop and fetch it again, without an error;
//   - a batch wholly below the log end is held already: skip it;
//   - the CRC does not cover the leader epoch, so check it against what it
//     can be — no older than the latest epoch this log holds, no newer
//     than the leader's. A flipped bit there would poison the epoch cache
//     that truncation trusts: reject with KAFKA_STORAGE_ERROR;
//   - a batch that does not start at the log end, or arriving while this
//     replica is not an idle follower, must not be appended: reject with
//     OFFSET_OUT_OF_RANGE, which truncates first.
func (p *Partition) AcceptFetched(b FetchedBatch) ReplicateDecision {
	switch {
	case !b.CRCValid:
		return ReplicateDecision{Action: ReplicateStop, Reason: "leader sent a corrupt batch; not replicated"}
	case b.LastOffset < p.endOffset:
		return ReplicateDecision{Action: ReplicateSkip}
	case b.LeaderEpoch < p.epochs.Latest() || b.LeaderEpoch > p.leadership.LeaderEpoch:
		return ReplicateDecision{Action: ReplicateReject, Code: errcode.KafkaStorageError,
			Reason: "leader sent a batch with an impossible leader epoch; not replicated"}
	case !p.CheckReplicate(b.BaseOffset):
		return ReplicateDecision{Action: ReplicateReject, Code: errcode.OffsetOutOfRange}
	}
	return ReplicateDecision{Action: ReplicateAppend}
}

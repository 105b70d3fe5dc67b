// Package mutant re-introduces known bugs on purpose, to prove that the
// simulator finds them. A mutant that survives a sweep means the simulator
// needs a better workload or fault, not a weaker mutant.
//
// Mutants exist only in binaries built with the cairn_mutants build tag
// (make mutants does this). In every other build Enabled is the constant
// false and each `if mutant.Active(...)` compiles away, so production code
// carries no trace of them.
package mutant

import (
	"fmt"
	"sort"
	"strings"
)

// ID names one mutant.
type ID uint8

// The mutants. Each names the bug it re-introduces.
const (
	None ID = iota
	// AckBeforeFsync acknowledges produces (and advances the high
	// watermark) when records reach the page cache, in the durable mode.
	AckBeforeFsync
	// ServeCorruptBatch skips the CRC check when serving a fetch.
	ServeCorruptBatch
	// KeepTornTail skips validation of the log tail on recovery.
	KeepTornTail
	// HighWatermarkPastDurable lets consumers read records that are not yet
	// durable, while producers still wait for the fsync.
	HighWatermarkPastDurable
	// TruncateToHighWatermark makes a new follower truncate to its high
	// watermark instead of by leader epoch (KIP-101).
	TruncateToHighWatermark
	// IgnoreResponseEpoch makes a follower truncate to the leader's end
	// offset without using the epoch the leader answered with (KIP-279).
	IgnoreResponseEpoch
	// SingleEpochQuery makes a follower truncate after one OffsetForLeaderEpoch
	// round even when it does not hold the epoch the leader answered with,
	// instead of asking again about its older epoch (KIP-279's loop).
	SingleEpochQuery
	// UnfencedFetch serves fetches that name a stale leader epoch (KIP-320).
	UnfencedFetch
	// AcksAllBelowMinISR accepts and acknowledges acks=all while the ISR is
	// smaller than min.insync.replicas.
	AcksAllBelowMinISR
	// ElectOutsideISR lets the controller elect a leader outside the ISR.
	ElectOutsideISR
	// OffsetFetchPastCommit answers OffsetFetch with the position after
	// the committed offset, as a coordinator that took a commit to name
	// the last record processed rather than the next one to read: a new
	// owner skips the committed-but-unprocessed record (consumer groups).
	OffsetFetchPastCommit
	// CommitFetchedPosition makes the simulator's group members commit
	// the position after the last record fetched rather than the last
	// processed, as a client that commits on poll does: a member that
	// dies before processing what it fetched loses those records for the
	// group (a client-side bug; consumer groups).
	CommitFetchedPosition
	// LastReplicaStanding lets a replica that lost unsynced data in a crash
	// stay eligible to lead (KIP-966).
	LastReplicaStanding
	// DuplicateAsOutOfOrder answers a retry of a batch already written
	// with OUT_OF_ORDER_SEQUENCE_NUMBER instead of its original offsets,
	// as Redpanda did before deduplicating (its issue 3039): modern
	// clients then bump their epoch, reset sequences and write it again.
	DuplicateAsOutOfOrder
	// ForgetProducersOnLeaderChange drops a partition's producer state
	// when a replica becomes leader, so retries of batches the old leader
	// wrote look like a new producer's.
	ForgetProducersOnLeaderChange
	// CommitFromStaleGeneration accepts an OffsetCommit from a member of
	// an earlier generation of its group (consumer groups).
	CommitFromStaleGeneration
	// StableBeforeAllSynced completes a rebalance on the leader's
	// SyncGroup before its assignment is written (consumer groups).
	StableBeforeAllSynced
	// AssignBeforeRevoke gives a consumer-protocol member (KIP-848) its
	// whole target assignment at once, before the partitions' previous
	// owners have revoked them.
	AssignBeforeRevoke
	// StaleCommitOwnedNow accepts an OffsetCommit v9 with an older member
	// epoch for partitions the member owns now, whether or not it owned
	// them since that epoch (KIP-1251's check without its "since"): a
	// delayed commit from before the member lost a partition and got it
	// back moves the offset back (consumer groups).
	StaleCommitOwnedNow
	// StaleAlterPartition makes the controller accept an AlterPartition
	// that carries an older partition epoch than the partition's (from the
	// right leader, in the right leader epoch): an ISR change computed
	// from an ISR that has changed since — a late or duplicated request —
	// overwrites the newer one instead of being refused with
	// INVALID_UPDATE_VERSION.
	StaleAlterPartition
	// EpochCheckpointNotFsynced writes the leader epoch checkpoint
	// without an fsync of the file or of its directory: after a power
	// loss the checkpoint may be gone, old, empty or torn.
	EpochCheckpointNotFsynced
	// SyncSkipsRolledSegment makes a log's sync job skip the fsync of
	// segment files other than the active one, and still report its
	// whole prefix durable: a storage that misreports what it synced.
	// The tail written to a segment just before it rolled is then
	// acknowledged from the page cache.
	SyncSkipsRolledSegment
	// DuplicateCheckLastBatchOnly makes a partition compare a retry with
	// only the producer's last batch, not each of the last five: a retry
	// of an older one of them, which a producer with several batches in
	// flight sends, is judged out of order instead of a duplicate.
	DuplicateCheckLastBatchOnly
	// ProducerExpiryFromFirstAppend measures a producer's idle time from
	// its first append instead of its last: a producer active the whole
	// time is forgotten producer.id.expiration.ms after it started, and
	// its next retry of a written batch is taken as new.
	ProducerExpiryFromFirstAppend
)

var names = map[ID]string{
	AckBeforeFsync:                "ack-before-fsync",
	ServeCorruptBatch:             "serve-corrupt-batch",
	KeepTornTail:                  "keep-torn-tail",
	HighWatermarkPastDurable:      "hw-past-durable",
	TruncateToHighWatermark:       "truncate-to-hw",
	IgnoreResponseEpoch:           "ignore-response-epoch",
	SingleEpochQuery:              "single-epoch-query",
	UnfencedFetch:                 "unfenced-fetch",
	AcksAllBelowMinISR:            "acks-all-below-min-isr",
	ElectOutsideISR:               "elect-outside-isr",
	OffsetFetchPastCommit:         "offset-fetch-past-commit",
	CommitFetchedPosition:         "commit-fetched-position",
	LastReplicaStanding:           "last-replica-standing",
	DuplicateAsOutOfOrder:         "duplicate-as-out-of-order",
	ForgetProducersOnLeaderChange: "forget-producers-on-leader-change",
	CommitFromStaleGeneration:     "commit-from-stale-generation",
	StableBeforeAllSynced:         "stable-before-all-synced",
	AssignBeforeRevoke:            "assign-before-revoke",
	StaleCommitOwnedNow:           "stale-commit-owned-now",
	StaleAlterPartition:           "stale-alter-partition",
	EpochCheckpointNotFsynced:     "epoch-checkpoint-not-fsynced",
	SyncSkipsRolledSegment:        "sync-skips-rolled-segment",
	DuplicateCheckLastBatchOnly:   "duplicate-check-last-batch-only",
	ProducerExpiryFromFirstAppend: "producer-expiry-from-first-append",
}

// String returns the mutant's name as make mutants prints it.
func (id ID) String() string {
	if n, ok := names[id]; ok {
		return n
	}
	return "none"
}

// All lists every mutant, sorted by name.
func All() []ID {
	out := make([]ID, 0, len(names))
	for id := range names {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return names[out[i]] < names[out[j]] })
	return out
}

// Parse finds a mutant by name.
func Parse(name string) (ID, error) {
	for id, n := range names {
		if n == name {
			return id, nil
		}
	}
	valid := make([]string, 0, len(names))
	for _, id := range All() {
		valid = append(valid, names[id])
	}
	return None, fmt.Errorf("unknown mutant %q; the mutants are: %s", name, strings.Join(valid, ", "))
}

// active is the mutant in force; set once, before a run, by Set.
var active ID

// Active reports whether mutant id is in force.
func Active(id ID) bool { return Enabled && active == id }

// Set puts mutant id in force for the whole process.
func Set(id ID) error {
	if !Enabled && id != None {
		return fmt.Errorf("mutant %s: this binary was built without the cairn_mutants tag; build one with `make mutants-bin` (bin/cairn-mutants) or `go run -tags cairn_mutants ./cmd/cairn sim ...`", id)
	}
	active = id
	return nil
}

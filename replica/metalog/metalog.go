// Package metalog is the metadata log of a Cairn cluster in production: an
// ordered, replicated log of opaque entries, agreed by the controller quorum
// with Raft (a dragonboat shard), and delivered to every node in log order.
//
// In combined mode every Cairn node is a broker and a voter of the quorum:
// a three-node cluster is three processes, each with its own dragonboat
// NodeHost on its own Raft port. The node that leads the Raft shard runs the
// active controller (package core/controller); every node applies committed
// entries to its metadata image through the apply callback.
//
// This package must never interpret entries (their meaning belongs to
// package core/controller, which the simulator also drives over its own
// simulated log), deliver an entry twice or out of order to one Log's
// callback, or hand the callback a slice it will reuse.
package metalog

import (
	"context"
	"errors"
)

// Log is the metadata log as a node's runtime shell drives it.
//
// Committed entries are delivered to the apply callback given at
// construction, in log order, each exactly once per opened Log, from the
// start of the log. (Snapshots are not supported yet: a restarted node
// replays the whole log and rebuilds its image from scratch, which is the
// simplest correct thing while metadata logs are small.) The callback runs
// on the log's own goroutine: it must return promptly and must not wait on
// Propose or Barrier, which wait for that goroutine.
type Log interface {
	// Propose appends entry to the log, through the leader, and returns
	// once the entry is committed and delivered to this node's apply
	// callback. It fails if no leader is reachable before ctx's deadline (a
	// default applies when ctx has none). A failed proposal may still
	// commit later; the controller's records are written so that a late or
	// duplicated batch is refused by every node's image.
	Propose(ctx context.Context, entry []byte) error
	// Barrier returns once every entry committed before the call has been
	// delivered to this node's apply callback. A node that just became the
	// leader calls it before building its active controller from its image,
	// so that the controller starts from the whole committed log.
	Barrier(ctx context.Context) error
	// LeaderID returns the current leader as this node knows it.
	LeaderID() (id uint64, ok bool)
	// IsLeader reports whether this node is the leader as far as it knows.
	// Another node may have been elected since; the log, not this answer,
	// orders what commits.
	IsLeader() bool
	// Close stops this node's replica. Pending proposals fail.
	Close() error
}

// ApplyFunc receives one committed entry. index is the entry's Raft log
// index: increasing, though not contiguous (Raft's own entries, such as a
// new leader's empty entry, are not delivered). entry is the callback's to
// keep.
type ApplyFunc func(index uint64, entry []byte)

// LeaderFunc learns that the leader, as this node knows it, changed; 0
// means no leader is known. It runs on the log's own goroutine.
type LeaderFunc func(leader uint64)

// Errors Propose returns before reaching Raft.
var (
	ErrEmptyEntry = errors.New("metalog: empty entry")
	ErrClosed     = errors.New("metalog: closed")
)

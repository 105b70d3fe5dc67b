// Package controller is Cairn's cluster metadata, KRaft-style: the records of
// the metadata log, the Image every node folds them into, and the decision
// logic of the active controller.
//
// The metadata log is an ordered sequence of record batches. Every node
// applies each committed batch, in order, to its Image with ApplyBatch; the
// image is a pure function of the batches applied, so two nodes that applied
// the same prefix hold equal images. Apply checks every record against the
// image's invariants (leader in ISR in replicas, epochs monotone, no fenced
// leader) and refuses, leaving the image unchanged, a record that would break
// one. Because the checks are deterministic, every node refuses the same
// batches, and a stale batch from a deposed controller that lost a race is
// harmlessly skipped everywhere rather than corrupting the image.
//
// The Controller runs only on the active controller (the node that leads the
// metadata log). It has the shape of etcd raft's RawNode: inputs are method
// calls carrying the current time as a value (broker registrations and
// heartbeats, ticks, topic creation, AlterPartition from partition leaders),
// and its outputs are records collected in a Ready, which the driver
// proposes to the metadata log and acknowledges with Advance.
//
// This package must never read a clock, draw randomness, do I/O, start
// goroutines, take locks, or let map iteration order reach a record or an
// accessor's result: the simulator replays it from a seed, and every node
// must fold the same records into the same image. core/lint_test.go enforces
// the first five.
package controller

// Package specs writes Cairn's guarantees down once, as prose and as Go
// predicates that the simulator evaluates after every step and that tests
// evaluate wherever they like.
//
// A predicate takes plain snapshots (core.PartitionStatus and facts the
// caller recorded, such as the offsets it saw acknowledged) and returns an
// error describing the first violation it finds. Predicates are pure: no
// clock, no I/O, no randomness, no goroutines.
//
// The guarantees, for one replica (replication adds its own below them):
//
//  1. Offsets are ordered: start <= high watermark <= log end, and in the
//     durable mode the high watermark never passes the durable offset —
//     consumers never see what a crash could take back.
//  2. The core's view of its log agrees with the log itself.
//  3. While a replica lives, its high watermark and leader epoch never move
//     backwards.
//  4. Every acknowledged record is durable: in the durable mode, the durable
//     offset of a live replica is past every offset it acknowledged, and
//     after any crash the log still holds them (checked by the simulator's
//     final read and package linearizability).
//  5. Offsets are dense: a fetch returns consecutive offsets from where it
//     started (checked by package linearizability over histories).
package specs

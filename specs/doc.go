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
//
// Across replicas (CheckReplicas, CheckLogMatching, CheckLeaderComplete):
// at most one leader per epoch; below its high watermark every replica
// holds the records committed there; in the durable mode every in-sync
// replica holds every acks=all record durably and reaches the leader's high
// watermark; the leader holds every acks=all record.
//
// # The replication harness (cluster.go, cluster_adapter.go)
//
// Cluster is N real core.Partition replicas of one partition and the real
// core/controller Controller, with nothing moving by itself: a produce, a
// sync, the delivery of a follower's request (Deliver, or Serve and later
// Answer, so that an answer can arrive after an election), a lost request,
// a crash that keeps the durable prefix or more, a restart, an ISR shrink, a
// preferred election, a consumer's fetch naming a leader epoch. Each call
// runs the cores' Ready as a driver does, then every predicate above; the
// first broken one is the call's error. Every call into core.Partition goes
// through replicaCore (cluster_adapter.go), so that a change of the core's
// API touches one file.
//
// Transcripts in testdata/cluster (cockroachdb/datadriven; regenerate with
// `go test ./specs -run TestClusterTranscripts -rewrite`) tell the KIP-101,
// KIP-279, KIP-320 and KIP-966 stories step by step; testdata/cluster_mutants
// (under -tags cairn_mutants) tell the same stories with the bug each KIP
// fixed switched back on, each ending in a VIOLATION line.
//
// # The explorers (explore.go, explore_cluster.go)
//
// Explore drives one replica through every sequence of produces, fsyncs and
// crashes. ExploreReplication drives the harness through every sequence of
// its events up to a depth (replicationExplorations lists the configurations:
// two and three replicas, min.insync.replicas 1 and 2, answers delayed past
// elections, both durability modes), pruning states already reached at the
// same or a smaller depth. A state's signature holds what the predicates and
// the cores' futures depend on, including what Status does not show (a
// leader's view of its followers, whether a request in flight is still
// awaited), which replicaCore records from the calls it forwards. Each
// sequence is replayed from scratch — the core has no cloning — and only its
// last step is checked, every prefix having been checked as a sequence of
// its own. A violation is a *ClusterViolation: the sequence as transcript
// commands, which replays on a new harness (Replay) and, saved as a
// transcript with -rewrite, shows every step. Every replication mutant of
// core/mutant whose site is in core.Partition or core/controller is found by
// some configuration (TestMutantsReplicationExplorer), and the clean build
// finds none.
package specs

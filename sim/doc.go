// Package sim is Cairn's deterministic simulator: one seed, one goroutine,
// a virtual clock, and real broker nodes (package replica, the code that
// `cairn serve` runs) on the simulated network (netsim) and the in-memory
// crash-semantics disk (diskfault.Mem).
//
// Workload clients speak Kafka's protocol to the brokers: requests are
// encoded to bytes with kmsg and decoded by the broker's real front end.
// Every operation is recorded with its call and return times, or as having
// an unknown outcome. A seed draws its own mix of faults (swarm testing):
// crashes that lose or tear unsynced writes, pauses, disk errors and bit
// flips, network delay, stalls, resets and partitions. A run has a safety
// phase with faults, then a liveness phase in which faults stop, every
// broker comes back, and every operation must finish within a bounded
// virtual time. The predicates of package specs run after every event; at
// the end, a final read and package linearizability judge the history.
//
// Nothing nondeterministic may reach a run: no wall clock, no global
// randomness, no goroutines, no map iteration order in outputs.
// lint_test.go enforces what it can see; TestDeterminism runs seeds twice
// and compares trace hashes.
package sim

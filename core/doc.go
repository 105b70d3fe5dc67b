// Package core holds Cairn's pure state machines: the partition replica here
// (replication, reads, idempotent-producer state), the group coordinator in
// core/group and the controller in core/controller.
//
// Each machine has the shape of etcd raft's RawNode. Inputs arrive as method
// calls that carry everything the machine needs to know, including the
// current time as a value; outputs collect in a Ready that the driver reads,
// executes in the order its documentation gives, and acknowledges with
// Advance. The same objects run inside the broker (package replica, driven
// by replica/shell on TCP and a real disk) and inside the simulator (package
// sim, on netsim and the in-memory disk), so this package must never read a
// clock, draw global randomness, do I/O, start goroutines, take locks, or let
// map iteration order reach an output. lint_test.go enforces the first five.
package core

// Package replica is a Cairn broker node: it hosts the core state machines,
// executes their effects against an environment (filesystem, clock values,
// seeded randomness), and speaks Kafka's wire protocol to clients.
//
// Node is deterministic and single-threaded: every input — a request frame,
// a finished fsync, the passing of time — is a method call carrying the
// current time, and every output — response frames, fsyncs to run, the next
// deadline — is collected in a Ready. The simulator (package sim) drives a
// Node from one goroutine over the in-memory disk; Server drives the very
// same Node over TCP and the real disk, with goroutines around it that never
// reach inside.
//
// A Node must never read the wall clock, draw global randomness, start
// goroutines or block; Server is where those live.
package replica

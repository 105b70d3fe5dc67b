// Package shell is the runtime shell of a Cairn broker: it runs a
// deterministic replica.Node on TCP, the real disk and the wall clock. It is
// where goroutines, locks, sockets and timers live, and only here: a reader
// and a writer per client connection, one goroutine per fsync in flight, a
// timer for the node's deadlines, and for a clustered node the sessions with
// peer brokers (whose routing policy is transport.Session, shared with the
// simulator), the dragonboat metadata log and its proposer. It also keeps the
// broker's Prometheus metrics.
//
// Every call into the node is made under one lock and followed by
// flushLocked, which executes the node's effects through replica.Node.Execute
// — the same loop the simulator runs. The shell never reaches inside the
// node, and makes no decision of the node's: it must stay thin enough that
// the simulator, which replaces it, tests what production runs.
package shell

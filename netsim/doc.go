// Package netsim is the simulated network under Cairn's deterministic
// simulator: the stand-in for TCP between brokers and workload clients.
//
// A Network is a pure data structure that one goroutine drives. The simulator
// calls Dial, Send and Close on behalf of nodes, injects faults (Clog,
// Partition, Isolate, Heal, Cut, Mend, SetDown), and reads what the network
// does back as Events in time order (Next, Pop). Every method that changes the network
// takes the current virtual time as a time.Duration since the start of the
// run; every random choice is drawn from the *rand.Rand given to New.
//
// The unit is a connection between two endpoints, as Kafka speaks over TCP.
// Within a connection, messages (one Kafka frame each) arrive in the order
// they were sent, at most once, with no gaps: a connection either delivers
// everything sent on it or ends with a Closed or Reset event. Faults show
// the way TCP shows them — as delay, stalls and resets:
//
//   - Delay: each message waits a one-way delay drawn from its path's
//     distribution (fixed, uniform or exponential tail), plus size/bandwidth
//     on a path with finite bandwidth. A message never overtakes an earlier
//     one on the same connection; messages on different connections, even
//     between the same two nodes, reorder freely.
//   - Loss: a lost segment is retransmitted by TCP, so loss is a latency
//     spike (a retransmission timeout that doubles on each repeated loss).
//   - Duplication: TCP removes duplicate segments, so no message reaches the
//     receiver twice; there is deliberately no duplication fault. A duplicate
//     at the application level (a client retrying a request on a new
//     connection) is the client's doing, not the network's.
//   - Reset: with a configured probability per message, or when a partition
//     holds data longer than the connection timeout, or when a node crashes,
//     a connection breaks; undelivered data is discarded and each live end
//     learns after its own detection delay (ends may learn at different
//     times).
//   - Clog: a direction between two nodes holds its messages until a given
//     time, then releases them in order.
//   - Partition: messages across a partition are held (TCP keeps trying);
//     dials across it fail after the connect timeout. Symmetric partitions
//     block both directions, asymmetric ones only traffic leaving sides[0].
//   - Cut: one direction between two nodes blocked, as by a partition,
//     until Mend lifts it; Heal leaves cuts alone, so a fault schedule of
//     its own (a client cut off from some brokers) composes with another's
//     partitions.
//   - Down: a crashed node's connections vanish from its side at once; its
//     peers learn by Reset, and dials to it are refused.
//
// This package must never read the wall clock, sleep, start goroutines,
// take locks, draw global randomness, or do I/O, and map iteration order
// must never reach an Event, a Stats value or any other output; the same
// seed and the same calls must give the same events on every machine.
// Probabilities are integer ratios, never floats. lint_test.go enforces the
// rules it can see.
package netsim

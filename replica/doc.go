// Package replica is a Cairn broker node: it hosts the core state machines,
// executes their effects against an environment (filesystem, clock values,
// seeded randomness), and speaks Kafka's wire protocol to clients.
//
// Node is deterministic and single-threaded: every input — a request frame,
// a finished fsync, the passing of time — is a method call carrying the
// current time, and every output — response frames, fsyncs to run, peer
// requests, metadata proposals, the next deadline — is collected in a Ready,
// which Execute hands to a Driver. The simulator (package sim) drives a
// Node from one goroutine over netsim and the in-memory disk; the runtime
// shell (replica/shell) drives the very same Node over TCP and the real
// disk, with goroutines around it that never reach inside. Both frame and
// route their traffic with replica/transport.
//
// A Node must never read the wall clock, draw global randomness, start
// goroutines, take locks or block; TestNodeIsDeterministic holds it to the
// rules of specs/lint, and the shell is where those things live.
//
// # Adding an API
//
// Every Kafka API the node answers is one row of apiTable (apis.go) and one
// handler file, handle_<api>.go (or one file for a small family, as
// handle_controller.go). To add one:
//
//  1. Write the handler with the one signature,
//     func (n *Node) handleThing(r *request, req *kmsg.ThingRequest): answer
//     now with n.answer(r, resp), or keep r.take()'s number with whatever
//     waits and respond with it later. A request for a coordinator (a
//     group's, and later a transaction's) goes through route or toGroup
//     (coordinator_route.go), which answers it with an error where this
//     broker is not the coordinator.
//  2. Add the row, in key order: the versions implemented in full and why
//     the minimum is what it is, interBroker if clients must not see it,
//     frameBytesMax if the default limit does not fit, and
//     handles((*Node).handleThing).
//  3. Regenerate docs/APIS.md: go test ./replica -run TestAPITable -rewrite.
//
// ApiVersions, the version and frame-size checks of DecodeRequest and
// dispatch all read the table; there is no other list to keep in step.
package replica

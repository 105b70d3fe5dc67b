// Package linearizability checks histories recorded by the simulator, and by
// compat's tests of real `cairn serve` processes, for the guarantees of a
// Kafka-compatible log (docs: DESIGN.md, "Guarantees").
//
// A History is the list of client operations a simulation run observed:
// produces with their outcome and acknowledged base offset, and fetches with
// the records they returned. Three independent checks read it:
//
//   - CheckLog asks whether each topic-partition's history is linearizable
//     against a sequential model of an append-only log (one Porcupine search
//     per partition), after a direct pre-check that finds the common
//     violations without search.
//   - CheckConsumers runs Jepsen-style checks on what consumers saw: lost,
//     duplicated and inconsistent records, polls that go backwards or skip,
//     reads of failed writes and of records above the high watermark.
//   - CheckFinalRead compares a complete read of every partition at the end
//     of the run with what was acknowledged and what was read.
//
// AppendFinalRead adds that final read to the history as one more reader,
// which CheckLog should be given: it makes the search near-linear.
// SeparateRetries first turns the copies a real client without idempotence
// wrote by resending a batch into produces of their own, since the checks
// want every value once.
// WriteReport draws Porcupine's visualization of each partition CheckLog
// could not linearize.
//
// The package is a pure function of its inputs. It must never read the clock
// for any decision of its own, never draw from a global random source and
// never let map iteration order reach a result: the same history gives the
// same violations, in the same order, every run. The one exception is the
// caller's search timeout, which Porcupine enforces with a wall-clock timer;
// pass a timeout of 0 for verdicts that do not depend on machine speed.
// It must also never mutate the history it is given.
package linearizability

package sim

import (
	"fmt"
	"io"
	"time"

	"cairn/linearizability"
)

// checkTimeout bounds the Porcupine search per partition.
const checkTimeout = 10 * time.Second

// Result is what one run found.
type Result struct {
	Options    Options
	Violations []Violation
	TraceHash  uint64
	Operations int
	Events     int64
	Virtual    time.Duration
	// History and Check are kept for reports on failure.
	History linearizability.History
	Check   linearizability.Result
}

// Failed reports whether the run broke any guarantee.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

// Run executes one run. trace, if not nil, receives the readable trace.
func Run(options Options, trace io.Writer) Result { return run(options, trace) }

// RunGroups executes one run with a consumer group of members besides the
// scenario's clients (group.go): Run with Options.GroupMembers set.
func RunGroups(options Options, members int, trace io.Writer) Result {
	options.GroupMembers = members
	return run(options, trace)
}

// RunConsumerGroups executes one run with a KIP-848 consumer group of
// members besides the scenario's clients (consumer_group.go).
func RunConsumerGroups(options Options, members int, trace io.Writer) Result {
	options.GroupMembers, options.GroupProtocol = members, GroupProtocolConsumer
	return run(options, trace)
}

func run(options Options, trace io.Writer) (result Result) {
	w := newWorld(options, trace)
	w.groupMembers = options.GroupMembers
	defer func() {
		// A panic inside the broker or the simulator is a finding, not a
		// crash of the sweep: report it against the seed.
		if r := recover(); r != nil {
			w.violation("panic", fmt.Sprint(r))
			result = w.result(linearizability.Result{})
		}
	}()
	w.tracef("options %s", options)
	for _, f := range options.Faults {
		w.tracef("scheduled %s", f)
	}
	if err := w.setup(); err != nil {
		w.violation("setup", err.Error())
		return w.result(linearizability.Result{})
	}
	w.run()
	var check linearizability.Result
	if len(w.violations) == 0 {
		w.checkLogMatching()
	}
	if len(w.violations) == 0 {
		w.checkSyncedEnd()
	}
	if len(w.violations) == 0 {
		groupFinal := w.finalRead()
		final := w.allowRepeats(groupFinal)
		w.markOvertakers(final)
		if err := linearizability.Validate(w.history); err != nil {
			w.violation("history", err.Error())
			return w.result(check)
		}
		for _, v := range linearizability.CheckFinalRead(w.history, final) {
			w.violation(v.Kind, v.String())
		}
		for _, v := range linearizability.CheckConsumers(w.history) {
			w.violation(v.Kind, v.String())
		}
		if w.groups != nil {
			w.groups.checkFinal(w, groupFinal)
		}
		if w.consumerGroups != nil {
			w.consumerGroups.checkFinal(w, groupFinal)
		}
		full := linearizability.AppendFinalRead(w.history, final)
		check = linearizability.CheckLog(full, checkTimeout)
		for _, p := range check.Partitions {
			if p.Verdict == linearizability.VerdictIllegal {
				w.violation("linearizability", fmt.Sprintf("%s is not a linearizable log", p.TopicPartition))
			}
		}
	}
	return w.result(check)
}

func (w *World) result(check linearizability.Result) Result {
	w.tracef("end: %d events, %d operations, %d violations", w.events, len(w.history), len(w.violations))
	return Result{
		Options:    w.options,
		Violations: w.violations,
		TraceHash:  w.traceSum(),
		Operations: len(w.history),
		Events:     w.events,
		Virtual:    w.now,
		History:    w.history,
		Check:      check,
	}
}

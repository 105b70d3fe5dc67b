package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"cairn/core"
	"cairn/core/mutant"
	"cairn/sim"
)

func runSim(args []string) error { return runSimTo(os.Stdout, args) }

// runSimTo is cairn sim writing its report (and a trace) to out.
func runSimTo(out io.Writer, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	seeds := fs.String("seeds", "", "sweep a range of seeds, e.g. 1-500")
	seed := fs.Uint64("seed", 0, "run one seed and print its trace hash")
	trace := fs.Bool("trace", false, "with --seed: print the readable trace")
	faults := fs.String("faults", "", "with --seed: keep only these scheduled faults (indices, or none), as a shrink prints")
	produces := fs.Int("produces", 0, "with --seed: cap each producer's requests, as a shrink prints")
	workers := fs.Int("parallel", 0, "seeds run at once (default: one per core)")
	mutantName := fs.String("mutant", "", "re-introduce a known bug (needs a binary built with -tags cairn_mutants)")
	reportDir := fs.String("report-dir", "sim-failures", "where failing seeds' traces and visualizations go")
	noShrink := fs.Bool("no-shrink", false, "do not shrink failing seeds")
	durability := fs.String("durability", "", "force the brokers' durability mode: durable, or replication (Kafka's page-cache acknowledgment) with the seed's whole fault schedule, beyond the failure budget, so that crashes can lose acknowledged records (default: each seed draws its mode and keeps its faults within the budget)")
	group := fs.Int("group", 0, "run every seed with a consumer group of this many members that consume the first topic while they crash, pause, leave and are cut off from brokers, with the group checks (sim/group.go), or none with --group 0; replay a failing seed with the same --group (default: a three-member group on the seeds divisible by four, on KIP-848's protocol where seed/4 is odd, classic on the others)")
	groupProtocol := fs.String("group-protocol", "classic", "with --group: classic (JoinGroup/SyncGroup, sim/group.go), consumer (KIP-848's ConsumerGroupHeartbeat with a server-side assignor, sim/consumer_group.go), or mixed (each seed draws one, the consumer protocol on one seed in two)")
	noControlFaults := fs.Bool("no-control-faults", false, "leave out the faults of the controller's requests (drop-answer, duplicate-request, delay-request) and the aimed recipes (crash-on-rejoin, crash-after-isr-change, pause-controller), to measure what they find")
	historyOnly := fs.Bool("history-only", false, "switch off the per-event predicates (package specs, and the group workloads' checks as members consume): only the history checks judge the run — the synced-bytes durability check at each acknowledgment, at each crash and at the end, log matching, the final read, Porcupine, the consumer and group end checks, and the liveness bound")
	stopAtFirst := fs.Bool("first", false, "with --seeds: stop at the first failing seed and print its number of seeds-to-detection")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: cairn sim (--seeds A-B | --seed N) [flags]

Runs the real broker code in the deterministic simulator under seeded faults.
A failing seed prints seed=N first, is shrunk to a smaller reproduction (in
a sweep), and its trace (seed-N.trace.txt) and, per partition whose history
is not linearizable, Porcupine's visualization (seed-N-TOPIC-PARTITION.html,
for a browser) are written to --report-dir.

examples:
  cairn sim --seeds 1-500                            # a group on one seed in four
  cairn sim --seeds 1-500 --group 0                  # no consumer group
  cairn sim --seed 42 --trace
  cairn sim --seed 42 --faults=0,3 --produces=5 --trace
  cairn sim --seeds 1-200 --durability replication   # Kafka's mode, unbudgeted crashes
  cairn sim --seeds 1-2000 --group 3                  # with a three-member consumer group
  cairn sim --seeds 1-1000 --group 3 --group-protocol consumer   # the group on KIP-848's protocol

flags (-name and --name are the same):
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, out); err != nil {
		return err
	}
	if *mutantName != "" {
		id, err := mutant.Parse(*mutantName)
		if err != nil {
			return err
		}
		if err := mutant.Set(id); err != nil {
			return err
		}
	}
	scenario := sim.Scenario
	switch *durability {
	case "":
	case "durable":
		scenario = func(seed uint64) sim.Options { return sim.ScenarioInMode(seed, core.DurableAcks, true) }
	case "replication":
		scenario = func(seed uint64) sim.Options { return sim.ScenarioInMode(seed, core.ReplicationAcks, false) }
	default:
		return fmt.Errorf("--durability %q: want durable or replication", *durability)
	}
	if *noControlFaults {
		drawn := scenario
		scenario = func(seed uint64) sim.Options { return sim.WithoutControlFaults(drawn(seed)) }
	}
	if *group < 0 {
		return fmt.Errorf("--group %d: want a number of members, or 0 for none", *group)
	}
	switch *groupProtocol {
	case sim.GroupProtocolClassic, sim.GroupProtocolConsumer, groupProtocolMixed:
	default:
		return fmt.Errorf("--group-protocol %q: want classic, consumer or mixed", *groupProtocol)
	}
	groupSet, protocolSet := false, false
	fs.Visit(func(f *flag.Flag) {
		groupSet = groupSet || f.Name == "group"
		protocolSet = protocolSet || f.Name == "group-protocol"
	})
	if !groupSet && protocolSet {
		return errors.New("--group-protocol needs --group N: without it, the seeds divisible by four run a three-member group of either protocol")
	}
	if !groupSet {
		drawn := scenario
		scenario = func(seed uint64) sim.Options { return sim.WithMixedGroup(drawn(seed)) }
	}
	if *group > 0 {
		drawn := scenario
		scenario = func(seed uint64) sim.Options {
			o := drawn(seed)
			o.GroupMembers = *group
			o.GroupProtocol = groupProtocolOf(*groupProtocol, seed)
			return o
		}
	}
	if *historyOnly {
		drawn := scenario
		scenario = func(seed uint64) sim.Options {
			o := drawn(seed)
			o.SpecChecksOff = true
			return o
		}
	}
	replayFlags := ""
	if *historyOnly {
		replayFlags += " --history-only"
	}
	if *durability != "" {
		replayFlags += " --durability " + *durability
	}
	if groupSet {
		replayFlags += fmt.Sprintf(" --group %d", *group)
		if *groupProtocol != sim.GroupProtocolClassic {
			replayFlags += " --group-protocol " + *groupProtocol
		}
	}
	if *mutantName != "" {
		replayFlags += " --mutant " + *mutantName
	}
	if *noControlFaults {
		replayFlags += " --no-control-faults"
	}
	switch {
	case *seeds != "" && *seed != 0:
		return errors.New("give --seeds or --seed, not both")
	case *seeds != "" && (*trace || *faults != "" || *produces != 0):
		return errors.New("--trace, --faults and --produces replay one seed: give them with --seed N, not --seeds")
	case *seeds == "" && *stopAtFirst:
		return errors.New("--first stops a sweep: give it with --seeds A-B")
	case *seeds != "":
		first, last, err := parseRange(*seeds)
		if err != nil {
			return err
		}
		return sweep(out, scenario, first, last, *workers, *reportDir, !*noShrink, *stopAtFirst, replayFlags)
	case *seed != 0:
		var reduction sim.Reduction
		if *faults != "" {
			kept, err := sim.ParseFaults(*faults)
			if err != nil {
				return err
			}
			if scheduled := len(scenario(*seed).Faults); len(kept) > 0 {
				for _, i := range kept {
					if i >= scheduled {
						return fmt.Errorf("--faults: seed %d schedules %d fault(s), numbered 0 to %d; there is no fault %d", *seed, scheduled, scheduled-1, i)
					}
				}
			}
			reduction.Faults = kept
		}
		reduction.Produces = *produces
		return single(out, scenario, *seed, reduction, *trace, *reportDir)
	}
	fs.Usage()
	return errors.New("give --seeds A-B or --seed N")
}

// groupProtocolMixed runs the consumer protocol on odd seeds and the
// classic one on even seeds: a seed names its protocol, so that a replay
// with the same flags runs the same group.
const groupProtocolMixed = "mixed"

func groupProtocolOf(flag string, seed uint64) string {
	if flag != groupProtocolMixed {
		return flag
	}
	if seed%2 == 1 {
		return sim.GroupProtocolConsumer
	}
	return sim.GroupProtocolClassic
}

func parseRange(s string) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return 0, 0, fmt.Errorf("--seeds %q: want A-B with 1 <= A <= B", s)
	}
	return first, last, nil
}

func single(out io.Writer, scenario func(uint64) sim.Options, seed uint64, reduction sim.Reduction, trace bool, reportDir string) error {
	options := reduction.Apply(scenario(seed))
	start := time.Now()
	var r sim.Result
	if trace {
		r = sim.Run(options, out)
	} else {
		r = sim.Run(options, nil)
	}
	fmt.Fprintf(out, "seed=%d trace=%016x operations=%d events=%d virtual=%v real=%v violations=%d\n",
		seed, r.TraceHash, r.Operations, r.Events, r.Virtual.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), len(r.Violations))
	if !r.Failed() {
		return nil
	}
	for _, v := range r.Violations {
		fmt.Fprintf(out, "  %s\n", v)
	}
	if paths, err := sim.Report(reportDir, r); err != nil {
		fmt.Fprintf(out, "  report: %v\n", err)
	} else {
		fmt.Fprintf(out, "  report: %s\n", strings.Join(paths, " "))
	}
	return fmt.Errorf("seed %d violated %d guarantee(s)", seed, len(r.Violations))
}

// sweep runs seeds first to last; replayFlags are the flags (with a
// leading space) that a replay of a failing seed needs besides --seed.
func sweep(out io.Writer, scenario func(uint64) sim.Options, first, last uint64, workers int, reportDir string, shrink, stopAtFirst bool, replayFlags string) error {
	var firstFailure uint64
	meter := newSweepProgress(first, last)
	summary := sim.SweepUntil(first, last, workers, scenario, func(r sim.Result) bool {
		if r.Failed() && (firstFailure == 0 || r.Options.Seed < firstFailure) {
			firstFailure = r.Options.Seed
		}
		meter.seen(r)
		return stopAtFirst && r.Failed()
	})
	meter.finish()
	shown := summary.Failures
	if stopAtFirst && len(shown) > 1 {
		shown = shown[:1]
	}
	for _, r := range shown {
		fmt.Fprintf(out, "seed=%d FAILED: %s\n", r.Options.Seed, r.Violations[0])
		fmt.Fprintf(out, "  replay: cairn sim --seed %d%s --trace\n", r.Options.Seed, replayFlags)
		if shrink {
			reduction, small := sim.Shrink(scenario(r.Options.Seed), r)
			fmt.Fprintf(out, "  shrunk to %d fault(s), %d produce(s) per producer: cairn sim --seed %d%s %s --trace\n",
				len(small.Options.Faults), small.Options.ProducesPerProducer, r.Options.Seed, replayFlags, reduction.Flags())
		}
		if paths, err := sim.Report(reportDir, r); err != nil {
			fmt.Fprintf(out, "  report: %v\n", err)
		} else {
			fmt.Fprintf(out, "  report: %s\n", strings.Join(paths, " "))
		}
	}
	fmt.Fprintf(out, "seeds=%d operations=%d events=%d virtual=%v real=%v speedup=%.0fx violations=%d\n",
		summary.Seeds, summary.Operations, summary.Events, summary.Virtual.Round(time.Second),
		summary.Real.Round(time.Millisecond), summary.SpeedUp(), len(summary.Failures))
	if len(summary.Failures) > 0 {
		if stopAtFirst {
			fmt.Fprintf(out, "first-detection seed=%d seeds-to-detection=%d\n", firstFailure, firstFailure-first+1)
		}
		return fmt.Errorf("%d of %d seeds failed", len(summary.Failures), summary.Seeds)
	}
	return nil
}

// sweepProgress prints, on a terminal only, one line rewritten in place:
// seeds done of the range, failures so far, and seeds per second. Piped or
// redirected output (CI, scripts) gets only the final summary.
type sweepProgress struct {
	out         io.Writer // nil when stderr is not a terminal
	total, done uint64
	failures    int
	start, last time.Time
}

func newSweepProgress(first, last uint64) *sweepProgress {
	p := &sweepProgress{total: last - first + 1, start: time.Now()}
	if info, err := os.Stderr.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
		p.out = os.Stderr
	}
	return p
}

func (p *sweepProgress) seen(r sim.Result) {
	p.done++
	if r.Failed() {
		p.failures++
	}
	if p.out == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	rate := float64(p.done) / time.Since(p.start).Seconds()
	fmt.Fprintf(p.out, "\rseeds %d/%d  failures %d  %.1f seeds/s ", p.done, p.total, p.failures, rate)
}

func (p *sweepProgress) finish() {
	if p.out != nil && p.done > 0 {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

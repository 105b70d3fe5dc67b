// Command bench measures the broker against the machine's own limits and
// against franz-go's kfake, each in separate processes, and writes the
// result to docs/PERFORMANCE.md. `make bench` runs it.
//
// One run: measure the disk (dd) and loopback TCP; then, for each
// repetition and each target, start a fresh broker, produce with
// `cairn perf produce --json` in one process, consume with
// `cairn perf consume --json` in another, and stop the broker. Each figure
// reported is the median over the repetitions.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cairn/perf"
)

// settings are the benchmark's parameters, from flags.
type settings struct {
	Out              string
	Binary           string
	WorkDir          string
	Records          int64
	ClusterRecords   int64
	RecordBytes      int
	Partitions       int
	Repeats          int
	ProduceDuration  time.Duration
	Targets          []string
	LoopbackDuration time.Duration
	CommandLine      string
}

// target is one broker setup under test.
type target struct {
	// Name appears in the table.
	Name string
	// Description says what was run, for the report.
	Description string
	// Baseline marks kfake, the reference of the ratios.
	Baseline bool
	// Brokers is how many broker processes make up the target: 1, or 3
	// for a cluster (then clusterArguments, not arguments, starts them).
	Brokers int
	// ReplicationFactor of the benchmark topic the producer creates; 0
	// leaves it to the broker (1 on a single broker).
	ReplicationFactor int
	// arguments returns the server's command line for a fresh data
	// directory and a free port.
	arguments func(binary, kfakeBinary, dataDir string, port int) (string, []string)
	// clusterArguments returns the command line of broker node of a
	// cluster, for a fresh data directory, the cluster's --peers and a
	// --raft-port-offset whose ports are free.
	clusterArguments func(binary, dataDir string, node int, peers string, raftPortOffset int) (string, []string)
}

// brokers returns how many broker processes t runs (at least 1).
func (t target) brokers() int { return max(t.Brokers, 1) }

// clustered tells whether t is a cluster of several brokers.
func (t target) clustered() bool { return t.brokers() > 1 }

// records returns how many records one produce run against t sends.
func (s settings) records(t target) int64 {
	if t.clustered() {
		return s.ClusterRecords
	}
	return s.Records
}

var knownTargets = []target{
	{
		Name:        "cairn",
		Description: "`cairn serve` with the default durability (durable: acknowledged once fsynced, group commit), fresh data directory",
		arguments: func(binary, _ string, dataDir string, port int) (string, []string) {
			return binary, []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", dataDir, "--log-level", "warn"}
		},
	},
	{
		Name: "cairn-rf3",
		Description: "three `cairn serve --node-id N --peers ...` processes on loopback (a 3-broker cluster, default durability: durable), fresh data directories, " +
			"all ready before the producer starts; the topic is created with replication factor 3 and the producer bootstraps from all three addresses",
		Brokers:           3,
		ReplicationFactor: 3,
		clusterArguments: func(binary, dataDir string, node int, peers string, raftPortOffset int) (string, []string) {
			return binary, []string{"serve", "--node-id", strconv.Itoa(node), "--peers", peers, "--raft-port-offset", strconv.Itoa(raftPortOffset),
				"--data-dir", dataDir, "--log-level", "warn"}
		},
	},
	{
		Name:        "cairn-replication",
		Description: "`cairn serve --durability replication` (Kafka's page-cache acknowledgment), fresh data directory; for information, not a target",
		arguments: func(binary, _ string, dataDir string, port int) (string, []string) {
			return binary, []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", dataDir, "--durability", "replication", "--log-level", "warn"}
		},
	},
	{
		Name:        "kfake",
		Description: "franz-go's kfake, one broker, in memory (bench/kfake), in its own process",
		Baseline:    true,
		arguments: func(_, kfakeBinary, _ string, _ int) (string, []string) {
			return kfakeBinary, []string{"--port", "0"}
		},
	},
}

func targetNamed(name string) (target, bool) {
	for _, t := range knownTargets {
		if t.Name == name {
			return t, true
		}
	}
	return target{}, false
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseSettings() (settings, error) {
	var s settings
	var targets string
	flag.StringVar(&s.Out, "out", "", "write the report (markdown) to this file; empty prints it only")
	flag.StringVar(&s.Binary, "cairn", "bin/cairn", "the cairn binary (make build)")
	flag.StringVar(&s.WorkDir, "work-dir", "", "directory for data, dd probes and logs (removed afterwards); empty is a new temporary directory")
	flag.Int64Var(&s.Records, "records", 4_000_000, "records per produce run")
	flag.Int64Var(&s.ClusterRecords, "cluster-records", 2_000_000, "records per produce run against a cluster target (cairn-rf3), fewer to keep the run short")
	flag.IntVar(&s.RecordBytes, "record-size", 1024, "bytes per record value")
	flag.IntVar(&s.Partitions, "partitions", 4, "partitions of the benchmark topic")
	flag.IntVar(&s.Repeats, "repeats", 3, "repetitions of every measurement; the report gives medians")
	flag.DurationVar(&s.ProduceDuration, "produce-duration", 30*time.Second, "cap on one produce run; fewer records are sent if it is reached")
	flag.StringVar(&targets, "targets", "cairn,cairn-rf3,cairn-replication,kfake", "comma-separated targets: cairn, cairn-rf3, cairn-replication, kfake")
	flag.DurationVar(&s.LoopbackDuration, "loopback-duration", 3*time.Second, "length of the loopback TCP measurement")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\nBenchmarks cairn against the machine's limits and kfake; make bench runs\n  go run ./bench -out docs/PERFORMANCE.md\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if s.Records <= 0 || s.ClusterRecords <= 0 || s.RecordBytes <= 0 || s.Partitions <= 0 || s.Repeats <= 0 || s.ProduceDuration <= 0 || s.LoopbackDuration <= 0 {
		return s, errors.New("-records, -cluster-records, -record-size, -partitions, -repeats, -produce-duration and -loopback-duration must be positive")
	}
	for _, name := range strings.Split(targets, ",") {
		name = strings.TrimSpace(name)
		if _, ok := targetNamed(name); !ok {
			return s, fmt.Errorf("unknown target %q", name)
		}
		s.Targets = append(s.Targets, name)
	}
	s.CommandLine = "go run ./bench " + strings.Join(os.Args[1:], " ")
	return s, nil
}

func run() error {
	s, err := parseSettings()
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.Binary); err != nil {
		return fmt.Errorf("the cairn binary %s: %w (build it with make build)", s.Binary, err)
	}
	binary, err := filepath.Abs(s.Binary)
	if err != nil {
		return err
	}
	for _, tool := range []string{"dd", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	processes := newSupervisor()
	defer processes.killAll()

	workDir := s.WorkDir
	if workDir == "" {
		workDir, err = os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(workDir)
	} else if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	started := time.Now()
	logf("work directory %s", workDir)

	kfakeBinary := filepath.Join(workDir, "kfake")
	if _, err := processes.run(ctx, 5*time.Minute, "go", "build", "-o", kfakeBinary, "./bench/kfake"); err != nil {
		return fmt.Errorf("building kfake: %w", err)
	}

	report := report{Settings: s, Started: started, Machine: describeMachine(ctx, workDir)}
	for _, name := range s.Targets {
		t, _ := targetNamed(name)
		report.Targets = append(report.Targets, &targetRuns{Target: t})
	}
	// Each repetition measures the machine's limits just before the
	// brokers, so that the limits and the brokers see the same conditions
	// of a shared, drifting machine.
	for repeat := 1; repeat <= s.Repeats; repeat++ {
		logf("machine limits, repetition %d of %d", repeat, s.Repeats)
		sample, err := measureLimits(ctx, s, workDir)
		if err != nil {
			return err
		}
		report.LimitSamples = append(report.LimitSamples, sample)
		for _, runs := range report.Targets {
			logf("%s, repetition %d of %d", runs.Target.Name, repeat, s.Repeats)
			outcome, err := runOnce(ctx, processes, s, runs.Target, binary, kfakeBinary, workDir, repeat)
			if err != nil && runs.Target.clustered() && ctx.Err() == nil {
				// A cluster's failure is a finding to report, not a
				// reason to lose the other targets' measurements.
				logf("  FAILED: %v", err)
				runs.Failures = append(runs.Failures, fmt.Sprintf("repetition %d: %v", repeat, firstLine(err.Error())))
				continue
			}
			if err != nil {
				return fmt.Errorf("%s, repetition %d: %w", runs.Target.Name, repeat, err)
			}
			logf("  produce %.1f MB/s (%d records, p99 %.1f ms), consume %.1f MB/s",
				outcome.Produce.MegabytesPerSecond, outcome.Produce.Records, milliseconds(outcome.Produce.Latency.P99), outcome.Consume.MegabytesPerSecond)
			runs.Runs = append(runs.Runs, outcome)
		}
	}
	logf("simulator sweep of %d seeds", simulatorSeeds)
	simulator, err := measureSimulator(ctx, processes, binary)
	if err != nil {
		return err
	}
	report.Simulator = &simulator
	report.Limits = medianLimits(report.LimitSamples)
	report.Machine.LoadAtEnd = loadAverage()
	report.Elapsed = time.Since(started)

	text := report.markdown()
	fmt.Println(report.summary())
	if s.Out != "" {
		if err := os.WriteFile(s.Out, []byte(text), 0o644); err != nil {
			return err
		}
		logf("wrote %s", s.Out)
	}
	return nil
}

func logf(format string, arguments ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", arguments...)
}

// measureLimits runs dd and the loopback test once each.
func measureLimits(ctx context.Context, s settings, workDir string) (limits, error) {
	var sample limits
	var err error
	if sample.SequentialWriteBytesPerSecond, err = measureSequentialWrite(ctx, workDir); err != nil {
		return limits{}, err
	}
	if sample.SyncWriteLatency, err = measureSyncWriteLatency(ctx, workDir); err != nil {
		return limits{}, err
	}
	if sample.LoopbackBytesPerSecond, err = measureLoopback(ctx, s.LoopbackDuration); err != nil {
		return limits{}, fmt.Errorf("loopback: %w", err)
	}
	logf("  dd %.0f MB/s, 4 KiB dsync write %.3f ms, loopback %.0f MB/s",
		sample.SequentialWriteBytesPerSecond/1e6, milliseconds(sample.SyncWriteLatency), sample.LoopbackBytesPerSecond/1e6)
	return sample, nil
}

// medianLimits returns the median of every measurement over the samples.
func medianLimits(samples []limits) limits {
	return limits{
		SequentialWriteBytesPerSecond: medianOf(samples, func(l limits) float64 { return l.SequentialWriteBytesPerSecond }),
		SyncWriteLatency:              time.Duration(medianOf(samples, func(l limits) float64 { return float64(l.SyncWriteLatency) })),
		LoopbackBytesPerSecond:        medianOf(samples, func(l limits) float64 { return l.LoopbackBytesPerSecond }),
	}
}

// runOutcome is one repetition against one target.
type runOutcome struct {
	Produce perf.Result
	Consume perf.Result
	// Broker processor seconds (user + system) while producing and while
	// consuming; negative if unknown.
	ProduceProcessorSeconds, ConsumeProcessorSeconds float64
	// LogWarnings is how many WARN or ERROR lines a cluster's brokers
	// logged from all being ready to the end of the consumer.
	LogWarnings int
}

// perfArguments returns the command lines of the producer and the consumer
// against target t reached at address (comma-separated for a cluster).
func perfArguments(s settings, t target, address string) (produce, consume []string) {
	produce = []string{"perf", "produce", "--brokers", address, "--topic", "bench",
		"--records", strconv.FormatInt(s.records(t), 10), "--record-size", strconv.Itoa(s.RecordBytes),
		"--acks", "all", "--compression", "none", "--partitions", strconv.Itoa(s.Partitions)}
	if t.ReplicationFactor > 0 {
		produce = append(produce, "--replication-factor", strconv.Itoa(t.ReplicationFactor))
	}
	produce = append(produce, "--duration", s.ProduceDuration.String(), "--json", "--quiet")
	consume = []string{"perf", "consume", "--brokers", address, "--topic", "bench", "--json", "--quiet"}
	return produce, consume
}

// firstLine returns text up to its first line break.
func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}

// runOnce starts a fresh broker of target t, produces, consumes, and stops
// it, removing its data.
func runOnce(ctx context.Context, processes *supervisor, s settings, t target, binary, kfakeBinary, workDir string, repeat int) (runOutcome, error) {
	runDir := filepath.Join(workDir, fmt.Sprintf("%s-%d", t.Name, repeat))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return runOutcome{}, err
	}
	defer os.RemoveAll(runDir)
	var broker *brokers
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between the check and the bind
		if t.clustered() {
			broker, err = startCluster(ctx, processes, t, binary, runDir)
		} else {
			var port int
			port, err = freePort()
			if err != nil {
				return runOutcome{}, err
			}
			name, arguments := t.arguments(binary, kfakeBinary, filepath.Join(runDir, "data"), port)
			var one *server
			one, err = processes.startServer(ctx, filepath.Join(runDir, "server.log"), 30*time.Second, name, arguments...)
			if err == nil {
				broker = &brokers{servers: []*server{one}}
			}
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		logf("  start attempt %d failed: %v", attempt+1, firstLine(err.Error()))
	}
	if err != nil {
		return runOutcome{}, fmt.Errorf("starting the broker: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			broker.stop()
		}
	}()

	var outcome runOutcome
	produceArguments, consumeArguments := perfArguments(s, t, broker.address())
	processorBefore := broker.processorSeconds()
	output, err := processes.run(ctx, s.ProduceDuration+2*time.Minute, binary, produceArguments...)
	if err != nil {
		return outcome, fmt.Errorf("producing: %w\nbroker log:\n%s", err, broker.logTail())
	}
	if err := json.Unmarshal(output, &outcome.Produce); err != nil {
		return outcome, fmt.Errorf("the producer's output %q: %w", output, err)
	}
	processorAfterProduce := broker.processorSeconds()
	output, err = processes.run(ctx, 5*time.Minute, binary, consumeArguments...)
	if err != nil {
		return outcome, fmt.Errorf("consuming: %w\nbroker log:\n%s", err, broker.logTail())
	}
	if err := json.Unmarshal(output, &outcome.Consume); err != nil {
		return outcome, fmt.Errorf("the consumer's output %q: %w", output, err)
	}
	processorAfterConsume := broker.processorSeconds()
	outcome.ProduceProcessorSeconds, outcome.ConsumeProcessorSeconds = -1, -1
	if processorBefore >= 0 && processorAfterProduce >= 0 && processorAfterConsume >= 0 {
		outcome.ProduceProcessorSeconds = processorAfterProduce - processorBefore
		outcome.ConsumeProcessorSeconds = processorAfterConsume - processorAfterProduce
	}
	if outcome.Consume.Records != outcome.Produce.Records {
		return outcome, fmt.Errorf("produced %d records but consumed %d", outcome.Produce.Records, outcome.Consume.Records)
	}
	if outcome.Produce.Latency == nil {
		return outcome, errors.New("the producer reported no latency")
	}
	if t.clustered() {
		outcome.LogWarnings = broker.reportWarnings()
	}
	stopped = true
	if err := broker.stop(); err != nil {
		logf("  %s did not stop cleanly: %v", t.Name, err)
	}
	return outcome, nil
}

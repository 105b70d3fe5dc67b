// Command bench measures the broker against the machine's own limits and
// against its peers — franz-go's kfake and NATS JetStream (R1 and R3, with
// JetStream's default sync and with sync_interval always) — each in
// separate processes, at every record size, and writes the result to
// docs/PERFORMANCE.md. `make bench` runs it.
//
// One run: for each repetition, measure the disk (dd) and loopback TCP;
// then, for each record size and each target, start a fresh broker (or
// cluster), produce with `cairn perf produce --json` (Kafka targets) or
// `natsperf produce` (NATS targets) in one process, read everything back
// in another, and stop the broker. Each figure reported is the median over
// the repetitions, with the spread.
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

	"cairn/bench/natsbench"
	"cairn/perf"
)

// settings are the benchmark's parameters, from flags.
type settings struct {
	Out     string
	Binary  string
	WorkDir string
	// RecordSizes are the record value sizes measured, each with the
	// number of records every target gets at that size (Records[i] at
	// RecordSizes[i]), so that every target moves the same bytes.
	RecordSizes      []int
	Records          []int64
	Partitions       int
	Repeats          int
	ProduceDuration  time.Duration
	Targets          []string
	LoopbackDuration time.Duration
	// NatsPendingMax bounds the unacknowledged messages of each of a NATS
	// publisher's connections.
	NatsPendingMax int
	// NatsConnections is how many connections the NATS publisher uses
	// (each publishes to its share of the streams).
	NatsConnections int
	CommandLine     string
}

// recordsAt returns how many records one produce run of recordBytes sends.
func (s settings) recordsAt(recordBytes int) int64 {
	for i, size := range s.RecordSizes {
		if size == recordBytes && i < len(s.Records) {
			return s.Records[i]
		}
	}
	return 0
}

// natsConnections returns how many connections the NATS publisher uses.
func (s settings) natsConnections() int { return max(s.NatsConnections, 1) }

// clientKind is the protocol a target speaks, and so the client that
// measures it.
type clientKind int

const (
	// kafkaClient targets are measured with `cairn perf` (franz-go).
	kafkaClient clientKind = iota
	// natsClient targets are measured with bench/natsperf (nats.go).
	natsClient
)

// tools are the programs the benchmark runs.
type tools struct {
	Cairn, Kfake, NatsServer, NatsPerf string
}

// target is one broker setup under test.
type target struct {
	// Name appears in the table.
	Name string
	// Description says what was run, for the report.
	Description string
	// Durability says in a few words when a write is acknowledged.
	Durability string
	// Baseline marks kfake, the reference of the ratios to the machine.
	Baseline bool
	// Cairn marks Cairn's own targets; the others are peers.
	Cairn bool
	// Client is the protocol the target speaks.
	Client clientKind
	// Brokers is how many broker processes make up the target: 1, or 3
	// for a cluster (then clusterArguments, not arguments, starts them).
	Brokers int
	// ReplicationFactor of the benchmark topic (or streams) the producer
	// creates; 0 leaves it to the broker (1 on a single broker).
	ReplicationFactor int
	// arguments returns the server's command line for a fresh data
	// directory and a free port.
	arguments func(programs tools, dataDir string, port int) (string, []string)
	// clusterArguments returns the command line of broker node of a
	// cluster, for a fresh data directory, the cluster's --peers and a
	// port offset whose ports are free (Cairn's Raft ports, NATS's route
	// ports).
	clusterArguments func(programs tools, dataDir string, node int, peers string, portOffset int) (string, []string)
}

// brokers returns how many broker processes t runs (at least 1).
func (t target) brokers() int { return max(t.Brokers, 1) }

// clustered tells whether t is a cluster of several brokers.
func (t target) clustered() bool { return t.brokers() > 1 }

// replicationFactor returns the replication factor of t's data.
func (t target) replicationFactor() int { return max(t.ReplicationFactor, 1) }

// natsServerArguments is a single nats-server's command line.
func natsServerArguments(syncAlways bool) func(tools, string, int) (string, []string) {
	return func(programs tools, dataDir string, port int) (string, []string) {
		arguments := []string{"--port", strconv.Itoa(port), "--store-dir", dataDir}
		if syncAlways {
			arguments = append(arguments, "--sync-always")
		}
		return programs.NatsServer, arguments
	}
}

// natsClusterArguments is the command line of server node of a NATS
// cluster: its client port is its entry of peers, its route port that
// plus portOffset, and it routes to every server's route port.
func natsClusterArguments(syncAlways bool) func(tools, string, int, string, int) (string, []string) {
	return func(programs tools, dataDir string, node int, peers string, portOffset int) (string, []string) {
		var routes []string
		var clientPort, routePort string
		for entry := range strings.SplitSeq(peers, ",") {
			id, address, _ := strings.Cut(entry, "=")
			_, portText, _ := strings.Cut(address, ":")
			port, err := strconv.Atoi(portText)
			route := fmt.Sprintf("%s+%d", portText, portOffset) // for the report's example, where ports are names
			if err == nil {
				route = strconv.Itoa(port + portOffset)
			}
			routes = append(routes, "nats-route://127.0.0.1:"+route)
			if id == strconv.Itoa(node) {
				clientPort, routePort = portText, route
			}
		}
		arguments := []string{"--name", "nats-" + strconv.Itoa(node), "--port", clientPort, "--cluster-port", routePort,
			"--routes", strings.Join(routes, ","), "--store-dir", dataDir}
		if syncAlways {
			arguments = append(arguments, "--sync-always")
		}
		return programs.NatsServer, arguments
	}
}

// natsDefaultSync and natsAlwaysSync say when NATS acknowledges.
const (
	natsDefaultSync = "page cache (default sync_interval: fsync every 2 min)"
	natsAlwaysSync  = "sync_interval: always"
)

// natsServerVersion is the nats-server module's version.
var natsServerVersion = "v" + natsbench.ServerVersion

var knownTargets = []target{
	{
		Name:        "cairn",
		Description: "`cairn serve` with the default durability (durable: acknowledged once fsynced, group commit), fresh data directory",
		Durability:  "fsync before ack (group commit)",
		Cairn:       true,
		arguments: func(programs tools, dataDir string, port int) (string, []string) {
			return programs.Cairn, []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", dataDir, "--log-level", "warn"}
		},
	},
	{
		Name: "cairn-rf3",
		Description: "three `cairn serve --node-id N --peers ...` processes on loopback (a 3-broker cluster, default durability: durable), fresh data directories, " +
			"all ready before the producer starts; the topic is created with replication factor 3 and the producer bootstraps from all three addresses",
		Durability:        "fsync on all 3 replicas before ack",
		Cairn:             true,
		Brokers:           3,
		ReplicationFactor: 3,
		clusterArguments: func(programs tools, dataDir string, node int, peers string, raftPortOffset int) (string, []string) {
			return programs.Cairn, []string{"serve", "--node-id", strconv.Itoa(node), "--peers", peers, "--raft-port-offset", strconv.Itoa(raftPortOffset),
				"--data-dir", dataDir, "--log-level", "warn"}
		},
	},
	{
		Name:        "cairn-replication",
		Description: "`cairn serve --durability replication` (Kafka's page-cache acknowledgment), fresh data directory; for information, not a target",
		Durability:  "page cache (Kafka's mode)",
		Cairn:       true,
		arguments: func(programs tools, dataDir string, port int) (string, []string) {
			return programs.Cairn, []string{"serve", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", dataDir, "--durability", "replication", "--log-level", "warn"}
		},
	},
	{
		Name:        "kfake",
		Description: "franz-go's kfake, one broker, in memory (bench/kfake), in its own process",
		Durability:  "memory only",
		Baseline:    true,
		arguments: func(programs tools, _ string, _ int) (string, []string) {
			return programs.Kfake, []string{"--port", "0"}
		},
	},
	{
		Name: "nats-r1",
		Description: "nats-server " + natsServerVersion + " embedded from the Go module (bench/natsserver), JetStream on file storage with its default sync " +
			"(an fsync every 2 minutes: a write is acknowledged from the page cache), fresh store directory; one stream per partition, replicas 1",
		Durability: natsDefaultSync,
		Client:     natsClient,
		arguments:  natsServerArguments(false),
	},
	{
		Name: "nats-r1-sync",
		Description: "as nats-r1 but with JetStream's `sync_interval: always`: the file store fsyncs every message before it is acknowledged, " +
			"the setting that matches Cairn's durable mode",
		Durability: "fsync every message before ack (" + natsAlwaysSync + ")",
		Client:     natsClient,
		arguments:  natsServerArguments(true),
	},
	{
		Name: "nats-r3",
		Description: "three nats-servers (bench/natsserver) clustered on loopback (routes on free ports), JetStream on file storage with its default sync, " +
			"all with a current JetStream meta leader before the publisher starts; one stream per partition, replicas 3 (a message is acknowledged once a " +
			"majority of the stream's Raft group has it, from the page cache)",
		Durability:        "majority (2 of 3) in " + natsDefaultSync,
		Client:            natsClient,
		Brokers:           3,
		ReplicationFactor: 3,
		clusterArguments:  natsClusterArguments(false),
	},
	{
		Name: "nats-r3-sync",
		Description: "as nats-r3 but with `sync_interval: always`: in a replicated stream NATS " + natsServerVersion + " fsyncs its Raft log on every append " +
			"(a majority has the message on disk before it is acknowledged) and relaxes the stream's own file store to fsync when it snapshots (SyncOnFlush)",
		Durability:        "majority (2 of 3) fsynced (" + natsAlwaysSync + ", Raft log)",
		Client:            natsClient,
		Brokers:           3,
		ReplicationFactor: 3,
		clusterArguments:  natsClusterArguments(true),
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
	var recordSizes, records string
	flag.StringVar(&recordSizes, "record-sizes", "100,1024", "comma-separated bytes per record value; every size is measured against every target")
	flag.StringVar(&records, "records", "1000000,500000", "comma-separated records per produce run, one per record size (every target gets the same)")
	flag.IntVar(&s.NatsPendingMax, "nats-pending-max", natsPendingMaxDefault, "most unacknowledged messages on each connection of the NATS publisher")
	flag.IntVar(&s.NatsConnections, "nats-connections", 1, "connections of the NATS publisher, each publishing to its share of the streams (at most -partitions)")
	flag.IntVar(&s.Partitions, "partitions", 4, "partitions of the benchmark topic")
	flag.IntVar(&s.Repeats, "repeats", 3, "repetitions of every measurement; the report gives medians")
	flag.DurationVar(&s.ProduceDuration, "produce-duration", 10*time.Second, "cap on one produce run; fewer records are sent if it is reached")
	flag.StringVar(&targets, "targets", strings.Join(targetNames(), ","), "comma-separated targets: "+strings.Join(targetNames(), ", "))
	flag.DurationVar(&s.LoopbackDuration, "loopback-duration", 3*time.Second, "length of the loopback TCP measurement")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\nBenchmarks cairn against the machine's limits, kfake and NATS JetStream; make bench runs\n  go run ./bench -out docs/PERFORMANCE.md\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	var err error
	if s.RecordSizes, err = parseList(recordSizes, strconv.Atoi); err != nil {
		return s, fmt.Errorf("-record-sizes: %w", err)
	}
	if s.Records, err = parseList(records, func(text string) (int64, error) { return strconv.ParseInt(text, 10, 64) }); err != nil {
		return s, fmt.Errorf("-records: %w", err)
	}
	if len(s.Records) != len(s.RecordSizes) {
		return s, fmt.Errorf("-records has %d counts for %d record sizes", len(s.Records), len(s.RecordSizes))
	}
	if s.Partitions <= 0 || s.Repeats <= 0 || s.ProduceDuration <= 0 || s.LoopbackDuration <= 0 || s.NatsPendingMax <= 0 {
		return s, errors.New("-partitions, -repeats, -produce-duration, -loopback-duration and -nats-pending-max must be positive")
	}
	if s.NatsConnections <= 0 || s.NatsConnections > s.Partitions {
		return s, errors.New("-nats-connections must be between 1 and -partitions")
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

// natsPendingMaxDefault is nats.go's own default bound on unacknowledged
// asynchronous publishes.
const natsPendingMaxDefault = 4000

// targetNames lists every known target.
func targetNames() []string {
	names := make([]string, len(knownTargets))
	for i, t := range knownTargets {
		names[i] = t.Name
	}
	return names
}

// parseList parses a comma-separated list of positive numbers.
func parseList[T int | int64](text string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for field := range strings.SplitSeq(text, ",") {
		value, err := parse(strings.TrimSpace(field))
		if err != nil {
			return nil, err
		}
		if value <= 0 {
			return nil, fmt.Errorf("%d is not positive", value)
		}
		out = append(out, value)
	}
	return out, nil
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

	programs := tools{Cairn: binary, Kfake: filepath.Join(workDir, "kfake"), NatsServer: filepath.Join(workDir, "natsserver"), NatsPerf: filepath.Join(workDir, "natsperf")}
	for output, pkg := range map[string]string{programs.Kfake: "./bench/kfake", programs.NatsServer: "./bench/natsserver", programs.NatsPerf: "./bench/natsperf"} {
		if _, err := processes.run(ctx, 10*time.Minute, "go", "build", "-o", output, pkg); err != nil {
			return fmt.Errorf("building %s: %w", pkg, err)
		}
	}

	report := report{Settings: s, Started: started, Machine: describeMachine(ctx, workDir)}
	for _, size := range s.RecordSizes {
		for _, name := range s.Targets {
			t, _ := targetNamed(name)
			report.Targets = append(report.Targets, &targetRuns{Target: t, RecordBytes: size})
		}
	}
	// Each repetition measures the machine's limits just before the
	// brokers, so that the limits and the brokers see the same conditions
	// of a shared, drifting machine.
	var loadSamples []string
	for repeat := 1; repeat <= s.Repeats; repeat++ {
		loadSamples = append(loadSamples, loadAverage())
		logf("machine limits, repetition %d of %d", repeat, s.Repeats)
		sample, err := measureLimits(ctx, s, workDir)
		if err != nil {
			return err
		}
		report.LimitSamples = append(report.LimitSamples, sample)
		for _, runs := range report.Targets {
			logf("%s, %d-byte records, repetition %d of %d (load %s)", runs.Target.Name, runs.RecordBytes, repeat, s.Repeats, loadAverage())
			outcome, err := runOnce(ctx, processes, s, runs.Target, runs.RecordBytes, programs, workDir, repeat)
			if err != nil && (runs.Target.clustered() || !runs.Target.Cairn) && ctx.Err() == nil {
				// A cluster's or a peer's failure is a finding to
				// report, not a reason to lose the other targets'
				// measurements.
				logf("  FAILED: %v", err)
				runs.Failures = append(runs.Failures, fmt.Sprintf("repetition %d: %v", repeat, firstLine(err.Error())))
				continue
			}
			if err != nil {
				return fmt.Errorf("%s, %d-byte records, repetition %d: %w", runs.Target.Name, runs.RecordBytes, repeat, err)
			}
			logf("  produce %.1f MB/s (%d records, p99 %.1f ms), consume %.1f MB/s",
				outcome.Produce.MegabytesPerSecond, outcome.Produce.Records, milliseconds(outcome.Produce.Latency.P99), outcome.Consume.MegabytesPerSecond)
			runs.Runs = append(runs.Runs, outcome)
		}
	}
	logf("simulator sweep of %d seeds", simulatorSeeds)
	simulator, err := measureSimulator(ctx, processes, programs.Cairn)
	if err != nil {
		return err
	}
	report.Simulator = &simulator
	report.Limits = medianLimits(report.LimitSamples)
	report.Machine.LoadAtEnd = loadAverage()
	report.Machine.LoadSamples = loadSamples
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

// perfArguments returns the program and command lines of the producer and
// the consumer against target t reached at address (comma-separated for a
// cluster), with records of recordBytes.
func perfArguments(s settings, programs tools, t target, recordBytes int, address string) (program string, produce, consume []string) {
	records := strconv.FormatInt(s.recordsAt(recordBytes), 10)
	if t.Client == natsClient {
		var servers []string
		for a := range strings.SplitSeq(address, ",") {
			servers = append(servers, "nats://"+a)
		}
		urls := strings.Join(servers, ",")
		produce = []string{"produce", "--servers", urls, "--streams", strconv.Itoa(s.Partitions), "--replicas", strconv.Itoa(t.replicationFactor()),
			"--records", records, "--record-size", strconv.Itoa(recordBytes), "--pending-max", strconv.Itoa(s.NatsPendingMax),
			"--connections", strconv.Itoa(s.natsConnections()),
			"--duration", s.ProduceDuration.String()}
		consume = []string{"consume", "--servers", urls, "--streams", strconv.Itoa(s.Partitions)}
		return programs.NatsPerf, produce, consume
	}
	produce = []string{"perf", "produce", "--brokers", address, "--topic", "bench",
		"--records", records, "--record-size", strconv.Itoa(recordBytes),
		"--acks", "all", "--compression", "none", "--partitions", strconv.Itoa(s.Partitions)}
	if t.ReplicationFactor > 0 {
		produce = append(produce, "--replication-factor", strconv.Itoa(t.ReplicationFactor))
	}
	produce = append(produce, "--duration", s.ProduceDuration.String(), "--json", "--quiet")
	consume = []string{"perf", "consume", "--brokers", address, "--topic", "bench", "--json", "--quiet"}
	return programs.Cairn, produce, consume
}

// firstLine returns text up to its first line break.
func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}

// runOnce starts a fresh broker of target t, produces, consumes, and stops
// it, removing its data.
func runOnce(ctx context.Context, processes *supervisor, s settings, t target, recordBytes int, programs tools, workDir string, repeat int) (runOutcome, error) {
	runDir := filepath.Join(workDir, fmt.Sprintf("%s-%d-%d", t.Name, recordBytes, repeat))
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return runOutcome{}, err
	}
	defer os.RemoveAll(runDir)
	var broker *brokers
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken between the check and the bind
		if t.clustered() {
			broker, err = startCluster(ctx, processes, t, programs, runDir)
		} else {
			var port int
			port, err = freePort()
			if err != nil {
				return runOutcome{}, err
			}
			name, arguments := t.arguments(programs, filepath.Join(runDir, "data"), port)
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
	client, produceArguments, consumeArguments := perfArguments(s, programs, t, recordBytes, broker.address())
	processorBefore := broker.processorSeconds()
	output, err := processes.run(ctx, s.ProduceDuration+2*time.Minute, client, produceArguments...)
	if err != nil {
		return outcome, fmt.Errorf("producing: %w\nbroker log:\n%s", err, broker.logTail())
	}
	if err := json.Unmarshal(output, &outcome.Produce); err != nil {
		return outcome, fmt.Errorf("the producer's output %q: %w", output, err)
	}
	processorAfterProduce := broker.processorSeconds()
	output, err = processes.run(ctx, 5*time.Minute, client, consumeArguments...)
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
	if t.clustered() && t.Client == kafkaClient {
		outcome.LogWarnings = broker.reportWarnings()
	}
	stopped = true
	if err := broker.stop(); err != nil {
		logf("  %s did not stop cleanly: %v", t.Name, err)
	}
	return outcome, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"cairn/perf"
)

const perfUsage = `usage: cairn perf produce|consume [flags]

Load-tests a Kafka-compatible cluster (Cairn or any other), in the manner of
kafka-producer-perf-test and kafka-consumer-perf-test. Progress goes to
stderr once a second (on a terminal, one line rewritten in place); the
result goes to stdout, as one line or, with --json,
as one JSON object. MB/s is 10^6 bytes per second.

  produce   send records and report throughput and per-record ack latency
            (from handing the record to the client to its acknowledgment)
  consume   read a topic from the start of every partition (no consumer
            group) and report throughput

examples:
  cairn perf produce --topic load --records 1000000 --record-size 1024 --partitions 4
  cairn perf produce --topic load --records 100000 --rate 5000 --acks 1 --compression zstd
  cairn perf consume --topic load
  cairn perf consume --topic load --records 500000 --json

Run 'cairn perf produce -h' or 'cairn perf consume -h' for the flags.
`

func runPerf(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, perfUsage)
		return errors.New("give produce or consume")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stdout, perfUsage)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, verb := range perfCommands() {
		if verb.name == args[0] {
			err := verb.run(ctx, args[1:], standardStreams())
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("unknown perf command %q: give produce or consume (run 'cairn perf -h')", args[0])
}

// perfCommands are perf's verbs (its usage describes them at more length).
func perfCommands() []subcommand {
	return []subcommand{
		{"produce", "send records and report throughput and ack latency", func(ctx context.Context, args []string, std streams) error {
			return runPerfProduce(ctx, args, std.out, std.err)
		}},
		{"consume", "read a topic from the start and report throughput", func(ctx context.Context, args []string, std streams) error {
			return runPerfConsume(ctx, args, std.out, std.err)
		}},
	}
}

// brokerList splits a comma-separated list of host:port addresses.
func brokerList(text string) []string {
	var brokers []string
	for _, broker := range strings.Split(text, ",") {
		if broker = strings.TrimSpace(broker); broker != "" {
			brokers = append(brokers, broker)
		}
	}
	return brokers
}

// parseAcks accepts all, -1, 0 and 1.
func parseAcks(text string) (int, error) {
	if strings.EqualFold(text, "all") {
		return -1, nil
	}
	acks, err := strconv.Atoi(text)
	if err != nil || (acks != -1 && acks != 0 && acks != 1) {
		return 0, fmt.Errorf("--acks %q: want all, -1, 0 or 1", text)
	}
	return acks, nil
}

// parsePerfFlags parses a perf subcommand's flags and rejects arguments.
func parsePerfFlags(flags *flag.FlagSet, args []string, help io.Writer) error {
	if err := parseFlags(flags, args, help); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags start with --)", flags.Arg(0))
	}
	return nil
}

// writePerfResult prints a result as JSON or as one line.
func writePerfResult(out io.Writer, result perf.Result, asJSON bool) error {
	if asJSON {
		encoded, err := json.Marshal(result)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", encoded)
		return err
	}
	_, err := fmt.Fprintln(out, result)
	return err
}

func runPerfProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("perf produce", flag.ContinueOnError)
	flags.SetOutput(stderr)
	brokers := addBrokersFlag(flags)
	topic := flags.String("topic", "perf", "topic to produce to")
	records := flags.Int64("records", 1_000_000, "how many records to send")
	recordSize := flags.Int("record-size", 1024, "bytes in each record's value (records have no key)")
	rate := flags.Float64("rate", 0, "records per second at most; 0 is unlimited")
	acks := flags.String("acks", "all", "acknowledgment: all (-1), 1 (leader) or 0 (none)")
	compression := flags.String("compression", "none", "batch compression: "+strings.Join(perf.Compressions, ", "))
	partitions := flags.Int("partitions", 0, "create the topic with this many partitions if it does not exist; 0 uses the existing (or auto-created) topic")
	replicationFactor := flags.Int("replication-factor", 0, "replication factor of a topic created by --partitions; 0 is the broker's default")
	linger := flags.Duration("linger", perf.LingerDefault, "how long a batch may wait for more records")
	batchBytes := flags.Int("batch-bytes", 0, "largest record batch in bytes; 0 is the client's default (1000012)")
	duration := flags.Duration("duration", 0, "stop sending after this long even if fewer records were sent; 0 is no limit")
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	quiet := flags.Bool("quiet", false, "no progress lines on stderr")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), "usage: cairn perf produce [flags]\n\nSends records as fast as allowed and reports throughput and per-record ack latency.\n\nexamples:\n  cairn perf produce --topic load --records 1000000 --record-size 1024 --partitions 4\n  cairn perf produce --brokers 10.0.0.1:9092,10.0.0.2:9092 --topic load --rate 10000 --acks 1 --json\n\nflags (-name and --name are the same):\n")
		flags.PrintDefaults()
	}
	if err := parsePerfFlags(flags, args, stdout); err != nil {
		return err
	}
	acksValue, err := parseAcks(*acks)
	if err != nil {
		return err
	}
	if *partitions < 0 || *partitions > 1<<20 {
		return fmt.Errorf("--partitions %d: want 0 or a positive count", *partitions)
	}
	if *replicationFactor < 0 || *replicationFactor > 1<<15-1 {
		return fmt.Errorf("--replication-factor %d: want 0 or a positive count", *replicationFactor)
	}
	if *batchBytes < 0 || *batchBytes > 1<<31-1 {
		return fmt.Errorf("--batch-bytes %d: want 0 or a positive size", *batchBytes)
	}
	options := perf.ProduceOptions{
		Brokers:           brokerList(*brokers),
		Topic:             *topic,
		Records:           *records,
		RecordBytes:       *recordSize,
		RatePerSecond:     *rate,
		Acks:              acksValue,
		Compression:       *compression,
		Partitions:        int32(*partitions),
		ReplicationFactor: int16(*replicationFactor),
		Linger:            *linger,
		BatchBytesMax:     int32(*batchBytes),
		DurationMax:       *duration,
	}
	if err := options.Validate(); err != nil {
		return err
	}
	if err := reachable(ctx, options.Brokers); err != nil {
		return err
	}
	var progress *progressWriter
	if !*quiet {
		progress = newProgressWriter(stderr)
		options.Progress = progress
	}
	result, err := perf.Produce(ctx, options)
	progress.finish()
	if err != nil {
		if result.Records > 0 {
			fmt.Fprintf(stderr, "before the error: %s\n", result)
		}
		return err
	}
	return writePerfResult(stdout, result, *asJSON)
}

func runPerfConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("perf consume", flag.ContinueOnError)
	flags.SetOutput(stderr)
	brokers := addBrokersFlag(flags)
	topic := flags.String("topic", "perf", "topic to read")
	records := flags.Int64("records", 0, "stop after this many records; 0 reads to the high watermarks as of the start")
	fetchBytes := flags.Int("fetch-bytes", 0, "largest fetch response in bytes; 0 is the client's default (50 MiB)")
	fetchPartitionBytes := flags.Int("fetch-partition-bytes", 0, "largest share of one partition in a fetch response; 0 is the client's default (1 MiB)")
	fetchWait := flags.Duration("fetch-wait", 0, "how long the broker may hold a fetch for data; 0 is the client's default (5s)")
	idleTimeout := flags.Duration("idle-timeout", 0, "fail when no record arrives for this long while records are expected; 0 is 10s")
	asJSON := flags.Bool("json", false, "print the result as one JSON object")
	quiet := flags.Bool("quiet", false, "no progress lines on stderr")
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), "usage: cairn perf consume [flags]\n\nReads a topic from the start of every partition, without a consumer group, and reports throughput.\n\nexamples:\n  cairn perf consume --topic load\n  cairn perf consume --topic load --records 500000 --json\n\nflags (-name and --name are the same):\n")
		flags.PrintDefaults()
	}
	if err := parsePerfFlags(flags, args, stdout); err != nil {
		return err
	}
	for name, value := range map[string]int{"--fetch-bytes": *fetchBytes, "--fetch-partition-bytes": *fetchPartitionBytes} {
		if value < 0 || value > 1<<31-1 {
			return fmt.Errorf("%s %d: want 0 or a positive size", name, value)
		}
	}
	options := perf.ConsumeOptions{
		Brokers:                brokerList(*brokers),
		Topic:                  *topic,
		Records:                *records,
		FetchBytesMax:          int32(*fetchBytes),
		FetchPartitionBytesMax: int32(*fetchPartitionBytes),
		FetchWaitMax:           *fetchWait,
		IdleTimeout:            *idleTimeout,
	}
	if err := options.Validate(); err != nil {
		return err
	}
	if err := reachable(ctx, options.Brokers); err != nil {
		return err
	}
	var progress *progressWriter
	if !*quiet {
		progress = newProgressWriter(stderr)
		options.Progress = progress
	}
	result, err := perf.Consume(ctx, options)
	progress.finish()
	if err != nil {
		if result.Records > 0 {
			fmt.Fprintf(stderr, "before the error: %s\n", result)
		}
		return err
	}
	return writePerfResult(stdout, result, *asJSON)
}

// progressWriter shows perf's once-a-second progress lines. On a terminal
// each line replaces the one before (carriage return, clear to the end of
// the line), so the run shows one live line; elsewhere (a file, a pipe, CI
// logs) every line is kept.
type progressWriter struct {
	out      io.Writer
	terminal bool
	wrote    bool
}

func newProgressWriter(out io.Writer) *progressWriter {
	p := &progressWriter{out: out}
	if f, ok := out.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progressWriter) Write(line []byte) (int, error) {
	if !p.terminal {
		return p.out.Write(line)
	}
	p.wrote = true
	trimmed := strings.TrimRight(string(line), "\n")
	if _, err := fmt.Fprintf(p.out, "\r\033[K%s", trimmed); err != nil {
		return 0, err
	}
	return len(line), nil
}

// finish ends the live line, so that what follows starts on its own.
// A nil writer (--quiet) has nothing to finish.
func (p *progressWriter) finish() {
	if p != nil && p.terminal && p.wrote {
		fmt.Fprintln(p.out)
	}
}

// Command natsperf is the benchmark's client of NATS JetStream, the peer
// of `cairn perf`: `natsperf produce` publishes and `natsperf consume`
// reads back, each printing a perf.Result as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"cairn/bench/natsbench"
	"cairn/perf"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: natsperf produce|consume [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var result perf.Result
	var err error
	switch os.Args[1] {
	case "produce":
		result, err = produce(ctx, os.Args[2:])
	case "consume":
		result, err = consume(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsperf: %v\n", err)
		os.Exit(1)
	}
	output, err := json.Marshal(result)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsperf: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(output))
}

func produce(ctx context.Context, arguments []string) (perf.Result, error) {
	flags := flag.NewFlagSet("produce", flag.ExitOnError)
	servers := flags.String("servers", "nats://127.0.0.1:4222", "comma-separated client URLs")
	var o natsbench.ProduceOptions
	flags.IntVar(&o.Streams, "streams", 4, "streams to spread the messages over, round robin")
	flags.IntVar(&o.Replicas, "replicas", 1, "replicas of every stream")
	flags.Int64Var(&o.Records, "records", 1_000_000, "messages to publish")
	flags.IntVar(&o.RecordBytes, "record-size", 1024, "bytes per message")
	flags.IntVar(&o.PendingMax, "pending-max", 50_000, "most messages published on one connection and not yet acknowledged")
	flags.IntVar(&o.Connections, "connections", 1, "connections publishing at once, each to its share of the streams")
	flags.DurationVar(&o.Duration, "duration", 30*time.Second, "cap on the run")
	flags.Parse(arguments)
	o.Servers = strings.Split(*servers, ",")
	return natsbench.Produce(ctx, o)
}

func consume(ctx context.Context, arguments []string) (perf.Result, error) {
	flags := flag.NewFlagSet("consume", flag.ExitOnError)
	servers := flags.String("servers", "nats://127.0.0.1:4222", "comma-separated client URLs")
	var o natsbench.ConsumeOptions
	flags.IntVar(&o.Streams, "streams", 4, "streams to read")
	flags.Parse(arguments)
	o.Servers = strings.Split(*servers, ",")
	return natsbench.Consume(ctx, o)
}

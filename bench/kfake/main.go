// Command kfake runs an in-process fake Kafka cluster (franz-go's kfake) on
// a given port until it is interrupted or terminated. The benchmark runs it
// as a separate process, as a baseline for the broker.
//
// It prints "kfake: ready on ADDR" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port to listen on (127.0.0.1); 0 picks a free one")
	dataDir := flag.String("data-dir", "", "persist to this directory; empty keeps everything in memory")
	syncWrites := flag.Bool("sync-writes", false, "with --data-dir, fsync every batch")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: kfake [--port N] [--data-dir DIR [--sync-writes]]\n\nRuns a one-broker fake Kafka cluster until interrupted.\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kfake: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	options := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port)}
	if *dataDir != "" {
		options = append(options, kfake.DataDir(*dataDir))
		if *syncWrites {
			options = append(options, kfake.SyncWrites())
		}
	}
	cluster, err := kfake.NewCluster(options...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kfake: %v\n", err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	fmt.Printf("kfake: ready on %s\n", cluster.ListenAddrs()[0])
	<-signals
	cluster.Close()
}

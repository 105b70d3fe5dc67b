// Command cairn is Cairn's one binary: the broker (serve), the simulator
// (sim), and the operator's tools. Each subcommand parses its flags and calls
// into the packages; nothing of substance lives here.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one of cairn's commands. verbs lists a command's verbs
// (topic create, group describe), nil for a command without them; the
// dispatcher and the shell completion both read these tables.
type command struct {
	name    string
	summary string
	run     func(args []string) error
	verbs   func() []subcommand
}

func commands() []command {
	return []command{
		{"serve", "run a broker (zero flags: single node on 127.0.0.1:9092, data in ./data)", runServe, nil},
		{"topic", "create, list, describe, delete and reconfigure topics", runTopic, topicCommands},
		{"produce", "send lines of standard input as records", runProduce, nil},
		{"consume", "print records from a topic, alone or as a consumer group", runConsume, nil},
		{"group", "list, describe (with lag), reset and delete consumer groups", runGroup, groupCommands},
		{"cluster", "show brokers and controller; check the cluster's health", runCluster, clusterCommands},
		{"perf", "load-test a cluster: produce or consume, report throughput and latency", runPerf, perfCommands},
		{"sim", "run the broker in the deterministic simulator under seeded faults", runSim, nil},
		{"completion", "print a shell completion script: bash, zsh or fish", runCompletion, nil},
		{"version", "print the version, commit and Go version", runVersion, nil},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: cairn <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'cairn <command> -h' for a command's flags and examples.\n")
	fmt.Fprintf(w, "The client commands (topic ... perf) work against any Kafka-compatible cluster;\n")
	fmt.Fprintf(w, "--brokers (or CAIRN_BROKERS) names it, 127.0.0.1:9092 by default.\n")
	fmt.Fprintf(w, "Listings (topic list/describe, group list/describe, cluster info/health) print\n")
	fmt.Fprintf(w, "JSON with --json or -o json; 'cairn completion bash|zsh|fish' completes commands.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return
	case "--version", "-version":
		printVersion(os.Stdout)
		return
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			err := c.run(os.Args[2:])
			if errors.Is(err, flag.ErrHelp) {
				return // -h: the usage went to stdout
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "cairn %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "cairn: unknown command %q (run 'cairn -h' for the list)\n", os.Args[1])
	os.Exit(2)
}

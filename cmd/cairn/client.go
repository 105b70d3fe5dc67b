package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The client commands (topic, produce, consume, group, cluster) are Kafka
// clients: franz-go and its admin package kadm. They work against any
// Kafka-compatible cluster, Cairn or not.

// brokersDefault is --brokers' default when CAIRN_BROKERS is not set.
const brokersDefault = "127.0.0.1:9092"

// dialTimeout bounds the reachability check before a command's first
// request.
const dialTimeout = 3 * time.Second

// streams are a command's standard input, output and error.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func standardStreams() streams { return streams{in: os.Stdin, out: os.Stdout, err: os.Stderr} }

// subcommand is one verb of a command with verbs (topic create, group
// describe).
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, std streams) error
}

// runSubcommands dispatches args to the verb it names, with the process's
// streams and a context cancelled by SIGINT or SIGTERM.
func runSubcommands(command, usage string, verbs []subcommand, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dispatch(ctx, command, usage, verbs, args, standardStreams())
}

func dispatch(ctx context.Context, command, usage string, verbs []subcommand, args []string, std streams) error {
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fmt.Fprintf(w, "\ncommands:\n")
		for _, v := range verbs {
			fmt.Fprintf(w, "  %-14s %s\n", v.name, v.summary)
		}
		fmt.Fprintf(w, "\nRun 'cairn %s <command> -h' for a command's flags and examples.\n", command)
	}
	if len(args) == 0 {
		printUsage(std.err)
		return fmt.Errorf("give a command: %s", verbNames(verbs))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(std.out)
		return nil
	}
	for _, v := range verbs {
		if v.name == args[0] {
			err := v.run(ctx, args[1:], std)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("unknown command %q: want one of %s (run 'cairn %s -h')", args[0], verbNames(verbs), command)
}

func verbNames(verbs []subcommand) string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

// newFlagSet returns a flag set whose -h prints usage (a one-line summary,
// then examples) followed by the flags.
func newFlagSet(name, usage string, std streams) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(std.err)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprint(fs.Output(), "\nflags (-name and --name are the same):\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (cairn topic create demo --partitions 3), and
// returns the positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string, help io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args, help); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// clientFlags are every client command's connection flags.
type clientFlags struct {
	brokers *string
	timeout *time.Duration
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		brokers: addBrokersFlag(fs),
		timeout: fs.Duration("timeout", 15*time.Second, "how long to wait for the cluster before giving up"),
	}
}

// addBrokersFlag defines --brokers, whose default is CAIRN_BROKERS if set.
func addBrokersFlag(fs *flag.FlagSet) *string {
	brokers := brokersDefault
	if fromEnvironment, ok := os.LookupEnv("CAIRN_BROKERS"); ok && fromEnvironment != "" {
		brokers = fromEnvironment
	}
	return fs.String("brokers", brokers, "comma-separated seed brokers, host:port; CAIRN_BROKERS sets the default")
}

// connect checks that a seed broker answers TCP at all, so that a stopped
// broker is reported at once and by name rather than as a timeout after
// retries, and then returns a client and its admin client.
func (f clientFlags) connect(ctx context.Context, options ...kgo.Opt) (*kgo.Client, *kadm.Client, error) {
	seeds := brokerList(*f.brokers)
	if len(seeds) == 0 {
		return nil, nil, errors.New("--brokers is empty: give host:port of at least one broker")
	}
	if err := reachable(ctx, seeds); err != nil {
		return nil, nil, err
	}
	options = append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("cairn-cli"), kgo.RetryTimeout(*f.timeout)}, options...)
	client, err := kgo.NewClient(options...)
	if err != nil {
		return nil, nil, err
	}
	admin := kadm.NewClient(client)
	admin.SetTimeoutMillis(int32(min(f.timeout.Milliseconds(), 1<<31-1)))
	return client, admin, nil
}

// reachable returns nil once one seed accepts a TCP connection, or an error
// naming each seed and what to do.
func reachable(ctx context.Context, seeds []string) error {
	var failures []string
	for _, seed := range seeds {
		dialer := net.Dialer{Timeout: dialTimeout}
		conn, err := dialer.DialContext(ctx, "tcp", seed)
		if err == nil {
			conn.Close()
			return nil
		}
		reason := err.Error()
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Err != nil {
			reason = opErr.Err.Error()
			if errors.Is(err, syscall.ECONNREFUSED) {
				reason = "connection refused"
			}
		}
		failures = append(failures, fmt.Sprintf("%s: %s", seed, reason))
	}
	return fmt.Errorf("cannot reach %s — is a broker running? start one with `make run` (or `cairn serve`), or point --brokers (CAIRN_BROKERS) at your cluster", strings.Join(failures, "; "))
}

// unsupported reports whether err says the broker does not implement the
// request (it did not advertise the API, or refused the version).
func unsupported(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "broker is too old") ||
		errors.Is(err, kerr.InvalidRequest) && strings.Contains(err.Error(), "unknown")
}

// explainGroups turns "the broker does not know this API" into what it
// means for a group command.
func explainGroups(err error) error {
	if unsupported(err) {
		return fmt.Errorf("the cluster does not serve consumer groups: consume without --group (cairn consume TOPIC --offset start), or use a cluster that serves them [the client said: %v]", err)
	}
	return err
}

// explainUnsupported names the API a broker refused.
func explainUnsupported(err error, what string) error {
	if unsupported(err) {
		return fmt.Errorf("the cluster does not support %s (%v)", what, err)
	}
	return err
}

// parseConfigPairs reads key=value pairs.
func parseConfigPairs(flagName string, pairs []string) (map[string]*string, error) {
	configs := map[string]*string{}
	for _, pair := range pairs {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("%s %q: want key=value, for example %s retention.ms=86400000", flagName, pair, flagName)
		}
		configs[key] = &value
	}
	return configs, nil
}

// stringList is a flag that may be given many times.
type stringList []string

func (l *stringList) String() string         { return strings.Join(*l, ",") }
func (l *stringList) Set(value string) error { *l = append(*l, value); return nil }

func sortedTopicNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// sortedInt32s is a sorted copy of values, never nil (JSON's [] rather
// than null).
func sortedInt32s(values []int32) []int32 {
	sorted := append([]int32{}, values...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted
}

func int32sText(values []int32) string {
	sorted := sortedInt32s(values)
	parts := make([]string, len(sorted))
	for i, v := range sorted {
		parts[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

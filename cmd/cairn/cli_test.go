package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"cairn/diskfault"
	"cairn/replica"
	"cairn/replica/shell"
)

// startedServers maps the address of each broker startCairn started to its
// server. Tests do not run in parallel.
var startedServers = map[string]*shell.Server{}

// startCairn runs a real standalone Cairn broker in this process on a free
// port and returns its address.
func startCairn(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	config := replica.DefaultConfig()
	config.DataDir = t.TempDir()
	config.AdvertisedPort = int32(l.Addr().(*net.TCPAddr).Port)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: rand.New(rand.NewPCG(7, 7))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	server := shell.NewServer(node, logger)
	startedServers[l.Addr().String()] = server
	go server.Serve(l)
	t.Cleanup(func() {
		if err := server.Close(); err != nil {
			t.Error(err)
		}
	})
	return l.Addr().String()
}

// startKfake runs franz-go's fake Kafka cluster (which has consumer groups
// and IncrementalAlterConfigs) and returns its address.
func startKfake(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()[0]
}

// cli runs one cairn client command in-process against brokers.
type cli struct {
	t       *testing.T
	brokers string
}

type cliResult struct {
	stdout, stderr string
	err            error
}

func (c cli) run(stdin string, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	std := streams{in: strings.NewReader(stdin), out: &stdout, err: &stderr}
	args = append(args, "--brokers", c.brokers)
	var err error
	switch args[0] {
	case "topic":
		err = dispatch(ctx, "topic", topicUsage, topicCommands(), args[1:], std)
	case "group":
		err = dispatch(ctx, "group", groupUsage, groupCommands(), args[1:], std)
	case "cluster":
		err = dispatch(ctx, "cluster", clusterUsage, clusterCommands(), args[1:], std)
	case "produce":
		err = produce(ctx, args[1:], std)
	case "consume":
		err = consume(ctx, args[1:], std)
	default:
		c.t.Fatalf("no command %q", args[0])
	}
	return cliResult{stdout.String(), stderr.String(), err}
}

// ok runs a command that must succeed and returns its output.
func (c cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.err != nil {
		c.t.Fatalf("cairn %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

func sortedLines(text string) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	sort.Strings(lines)
	return lines
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}

// TestTopicsProduceConsumeCluster walks the new user's path (create a
// topic, produce, consume, look at the cluster) against a real Cairn broker
// and against kfake.
func TestTopicsProduceConsumeCluster(t *testing.T) {
	for name, start := range map[string]func(*testing.T) string{"cairn": startCairn, "kfake": startKfake} {
		t.Run(name, func(t *testing.T) {
			c := cli{t, start(t)}
			out := c.ok("", "topic", "create", "demo", "--partitions", "3", "-r", "1", "-c", "retention.ms=86400000")
			mustContain(t, "topic create", out, "demo", "created")
			if r := c.run("", "topic", "create", "demo", "-p", "3"); r.err == nil || !strings.Contains(r.stdout, "TOPIC_ALREADY_EXISTS") {
				t.Errorf("creating demo twice: %v, %q; want TOPIC_ALREADY_EXISTS", r.err, r.stdout)
			}
			mustContain(t, "topic list", c.ok("", "topic", "list"), "demo   3           1")

			r := c.run("origin=test|a:1\n|b:2\nsource=x,kind=y|c:3\n", "produce", "demo", "--key-delimiter", ":", "--header-delimiter", "|", "--header", "batch=7")
			if r.err != nil {
				t.Fatal(r.err)
			}
			mustContain(t, "produce's report", r.stderr, "3 records produced to demo")
			got := sortedLines(c.ok("", "consume", "demo", "--offset", "start", "--exit-at-end", "--format", `%k=%v [%h]\n`))
			want := []string{"a=1 [origin=test,batch=7]", "b=2 [batch=7]", "c=3 [source=x,kind=y,batch=7]"}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("consumed %q, want %q", got, want)
			}
			// Keys hash to partitions: 3 keys, each record at offset 0 of its
			// own partition or later ones; every line names topic/partition@offset.
			for _, line := range sortedLines(c.ok("", "consume", "demo", "-o", "start", "-e", "-f", `%t/%p@%o\n`)) {
				if !strings.HasPrefix(line, "demo/") || !strings.Contains(line, "@") {
					t.Errorf("consume --format %%t/%%p@%%o printed %q", line)
				}
			}
			if got := c.ok("", "consume", "demo", "-o", "start", "-n", "2"); strings.Count(got, "\n") != 2 {
				t.Errorf("--count 2 printed %q", got)
			}
			if got := c.ok("", "consume", "demo", "-o", "end", "-e"); got != "" {
				t.Errorf("--offset end --exit-at-end printed %q, want nothing", got)
			}
			if got := c.ok("", "consume", "demo", "-o", "@-1h", "-e", "-f", "%v\n"); len(sortedLines(got)) != 3 {
				t.Errorf("--offset @-1h printed %q, want the 3 records of the last hour", got)
			}
			if got := c.ok("", "consume", "demo", "-o", "@-1h", "-e", "-f", "json"); !strings.Contains(got, `"value":"1"`) || !strings.Contains(got, `"key":"a"`) {
				t.Errorf("--format json printed %q", got)
			}
			r = c.run("x\ny\n", "produce", "demo", "--partition", "1", "--acks", "1")
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := c.ok("", "consume", "demo", "--partition", "1", "-o", "-2", "-e"); got != "x\ny\n" {
				t.Errorf("the last 2 records of partition 1: %q, want x and y", got)
			}

			describe := c.ok("", "topic", "describe", "demo")
			mustContain(t, "topic describe", describe, "PARTITIONS  3", "retention.ms=86400000", "HIGH-WATERMARK")
			mustContain(t, "cluster info", c.ok("", "cluster", "info"), "CONTROLLER", "127.0.0.1:")
			mustContain(t, "cluster health", c.ok("", "cluster", "health"), "HEALTHY                     true", "OFFLINE PARTITIONS          0")

			// A missing topic: produce has the broker create it (both allow
			// auto-creation here); consume says it is not there.
			mustContain(t, "produce to a new topic", c.run("x\n", "produce", "fresh").stderr, "1 record produced to fresh")
			if r := c.run("", "consume", "absent", "-n", "1"); r.err == nil || !strings.Contains(r.err.Error(), "no topic absent in the cluster") {
				t.Errorf("consuming a missing topic: %v", r.err)
			}

			mustContain(t, "topic delete", c.ok("", "topic", "delete", "demo"), "deleted")
			if r := c.run("", "topic", "describe", "demo"); r.err == nil {
				t.Errorf("describing a deleted topic succeeded:\n%s", r.stdout)
			}
		})
	}
}

// TestGroupCommands exercises consume --group and every group command
// against Cairn and against kfake: the same answers from both.
func TestGroupCommands(t *testing.T) {
	for _, cluster := range []struct {
		name  string
		start func(*testing.T) string
	}{{"cairn", startCairn}, {"kfake", startKfake}} {
		t.Run(cluster.name, func(t *testing.T) { testGroupCommands(t, cli{t, cluster.start(t)}) })
	}
}

func testGroupCommands(t *testing.T, c cli) {
	c.ok("", "topic", "create", "orders", "-p", "2")
	// Five records in each partition.
	c.ok("o1\no2\no3\no4\no5\n", "produce", "orders", "--partition", "0")
	c.ok("o6\no7\no8\no9\no10\n", "produce", "orders", "--partition", "1")
	if got := c.ok("", "consume", "orders", "--group", "billing", "-o", "start", "--count", "4"); strings.Count(got, "\n") != 4 {
		t.Fatalf("consume --group --count 4 printed %q", got)
	}
	mustContain(t, "group list", c.ok("", "group", "list"), "billing")
	describe := c.ok("", "group", "describe", "billing")
	mustContain(t, "group describe", describe, "GROUP        billing", "TOTAL-LAG    6", "COMMITTED", "LOG-END")

	// The group resumes where it committed; --offset start applies to the
	// partition it has no commit for.
	if got := c.ok("", "consume", "orders", "-g", "billing", "-o", "start", "-e"); strings.Count(got, "\n") != 6 {
		t.Errorf("the group's second run printed %q, want the 6 records not yet read", got)
	}
	mustContain(t, "group describe after reading all", c.ok("", "group", "describe", "billing"), "TOTAL-LAG    0")

	dry := c.ok("", "group", "reset-offsets", "billing", "--topic", "orders", "--to", "start", "--dry-run")
	mustContain(t, "reset --dry-run", dry, "OLD", "NEW")
	mustContain(t, "group describe after a dry run", c.ok("", "group", "describe", "billing"), "TOTAL-LAG    0")
	c.ok("", "group", "reset-offsets", "billing", "--topic", "orders", "--to", "start")
	mustContain(t, "group describe after reset to start", c.ok("", "group", "describe", "billing"), "TOTAL-LAG    10")
	c.ok("", "group", "reset-offsets", "billing", "--topic", "orders", "--to", "-1")
	mustContain(t, "group describe after reset to -1", c.ok("", "group", "describe", "billing"), "TOTAL-LAG    2")
	c.ok("", "group", "reset-offsets", "billing", "--topic", "orders", "--to", "end", "--partition", "0")
	if r := c.run("", "group", "reset-offsets", "billing", "--topic", "orders", "--to", "sideways"); r.err == nil || !strings.Contains(r.err.Error(), "--to") {
		t.Errorf("--to sideways: %v, want an error naming --to", r.err)
	}

	// A live member: describe shows it and its assignment, and
	// reset-offsets refuses to move offsets under it.
	member, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("live-member"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for read := 0; read < 10; {
		fetches := member.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("the live member read %d of 10 records: %v", read, err)
		}
		read += fetches.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	live := c.ok("", "group", "describe", "live")
	mustContain(t, "group describe of a live group", live, "STATE        Stable", "MEMBERS      1", "live-member", "orders[0 1]", "TOTAL-LAG    0")
	if r := c.run("", "group", "reset-offsets", "live", "--topic", "orders", "--to", "start"); r.err == nil || !strings.Contains(r.err.Error(), "1 active member (") {
		t.Errorf("reset-offsets of a live group: %v, want a refusal naming its active members", r.err)
	}

	// A live member of the consumer protocol (KIP-848): describe shows
	// the broker's assignment (kfake names no topics in it, so only the
	// partitions are checked), and reset-offsets refuses too.
	next, err := kgo.NewClient(kgo.SeedBrokers(c.brokers), kgo.ConsumerGroup("live848"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("next-member"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	for read := 0; read < 10; {
		fetches := next.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("the consumer-protocol member read %d of 10 records: %v", read, err)
		}
		read += fetches.NumRecords()
	}
	if err := next.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "group describe of a consumer-protocol group", c.ok("", "group", "describe", "live848"),
		"STATE        Stable", "consumer (KIP-848), assignor uniform", "MEMBERS      1", "next-member", "[0 1]", "TOTAL-LAG    0")
	if r := c.run("", "group", "reset-offsets", "live848", "--topic", "orders", "--to", "start"); r.err == nil || !strings.Contains(r.err.Error(), "1 active member (") {
		t.Errorf("reset-offsets of a live consumer-protocol group: %v, want a refusal naming its active members", r.err)
	}
	mustContain(t, "group list shows the consumer-protocol group", c.ok("", "group", "list"), "live848")

	mustContain(t, "group delete", c.ok("", "group", "delete", "billing"), "deleted")
	if out := c.ok("", "group", "list"); strings.Contains(out, "billing") {
		t.Errorf("billing still listed after delete:\n%s", out)
	}
}

// TestAlterConfigAgainstKfake: alter-config works where the broker has
// IncrementalAlterConfigs.
func TestAlterConfigAgainstKfake(t *testing.T) {
	c := cli{t, startKfake(t)}
	c.ok("", "topic", "create", "orders", "-p", "2")
	c.ok("", "topic", "alter-config", "orders", "--set", "retention.ms=1000")
	mustContain(t, "topic describe after alter-config", c.ok("", "topic", "describe", "orders"), "retention.ms=1000")
}

// TestCairnSaysWhatItDoesNotServe: alter-config against Cairn (no
// IncrementalAlterConfigs yet) fails saying so.
func TestCairnSaysWhatItDoesNotServe(t *testing.T) {
	c := cli{t, startCairn(t)}
	c.ok("", "topic", "create", "orders", "-p", "1")
	r := c.run("", "topic", "alter-config", "orders", "--set", "retention.ms=1000")
	if r.err == nil || !strings.Contains(r.err.Error(), "does not support changing topic configuration") {
		t.Errorf("alter-config against Cairn: %v", r.err)
	}
}

func TestUnreachableBrokerIsNamed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := l.Addr().String()
	l.Close() // nothing listens there now
	r := cli{t, address}.run("", "topic", "list")
	if r.err == nil {
		t.Fatal("topic list against a closed port succeeded")
	}
	mustContain(t, "the error", r.err.Error(), "cannot reach "+address, "connection refused", "make run")
}

func TestCommandsRefuseBadArguments(t *testing.T) {
	c := cli{t, "127.0.0.1:1"} // never reached: arguments are checked first
	for _, bad := range []struct {
		args []string
		says string
	}{
		{[]string{"topic", "create"}, "at least one topic"},
		{[]string{"topic", "create", "x", "-p", "0"}, "--partitions 0"},
		{[]string{"topic", "create", "x", "-c", "retention.ms"}, "key=value"},
		{[]string{"topic", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"produce"}, "exactly one topic"},
		{[]string{"produce", "x", "--acks", "2"}, "--acks"},
		{[]string{"produce", "x", "--compression", "brotli"}, "--compression"},
		{[]string{"consume", "x", "--offset", "yesterday"}, "--offset"},
		{[]string{"consume", "x", "--format", "%q"}, "unknown directive %q"},
		{[]string{"consume", "x", "-g", "g", "--partition", "1"}, "do not go together"},
		{[]string{"group", "reset-offsets", "g", "--to", "start"}, "--topic"},
		{[]string{"topic", "alter-config", "x"}, "nothing to change"},
	} {
		r := c.run("", bad.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), bad.says) {
			t.Errorf("cairn %s: error %v, want one saying %q", strings.Join(bad.args, " "), r.err, bad.says)
		}
	}
}

// TestEveryCommandHasHelp: -h on every verb prints a summary, examples and
// the flags to stdout (so `cairn X -h | less` works), leaves stderr empty,
// and ends in flag.ErrHelp, which main turns into exit status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	check := func(name string, run func(std streams) error) {
		var stdout, stderr bytes.Buffer
		err := run(streams{in: strings.NewReader(""), out: &stdout, err: &stderr})
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s -h: %v", name, err)
		}
		mustContain(t, name+" -h", stdout.String(), "usage: cairn", "examples:", "-brokers")
		if stderr.Len() != 0 {
			t.Errorf("%s -h wrote to stderr: %q", name, stderr.String())
		}
	}
	ctx := context.Background()
	for _, command := range []struct {
		name  string
		usage string
		verbs []subcommand
	}{{"topic", topicUsage, topicCommands()}, {"group", groupUsage, groupCommands()}, {"cluster", clusterUsage, clusterCommands()}} {
		for _, verb := range command.verbs {
			check(command.name+" "+verb.name, func(std streams) error {
				return dispatch(ctx, command.name, command.usage, command.verbs, []string{verb.name, "-h"}, std)
			})
		}
	}
	check("produce", func(std streams) error { return produce(ctx, []string{"-h"}, std) })
	check("consume", func(std streams) error { return consume(ctx, []string{"-h"}, std) })
}

// TestBadFlagIsOneLine: a mistyped flag is reported in one line that names
// the way to the full list, instead of the whole usage text.
func TestBadFlagIsOneLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := produce(context.Background(), []string{"t", "--bogus"}, streams{in: strings.NewReader(""), out: &stdout, err: &stderr})
	if err == nil {
		t.Fatal("produce --bogus: no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "bogus") || !strings.Contains(msg, "cairn produce -h") {
		t.Errorf("produce --bogus: %q, want one line naming the flag and 'cairn produce -h'", msg)
	}
	if stdout.Len() != 0 || stderr.Len() != 0 {
		t.Errorf("produce --bogus printed usage: stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestParseLine(t *testing.T) {
	r, err := parseLine("a=1,b=2|key:value:with:colons", ":", "|")
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "key" || string(r.Value) != "value:with:colons" || len(r.Headers) != 2 || r.Headers[1].Key != "b" || string(r.Headers[1].Value) != "2" {
		t.Errorf("parsed %q %q %v", r.Key, r.Value, r.Headers)
	}
	if r, err := parseLine("plain line", "", ""); err != nil || r.Key != nil || string(r.Value) != "plain line" {
		t.Errorf("plain line: %v %q %q", err, r.Key, r.Value)
	}
	if _, err := parseLine("no delimiter", ":", ""); err == nil {
		t.Error("a line without the key delimiter was accepted")
	}
	if _, err := parseLine("a|v", "", "|"); err == nil {
		t.Error("a header without = was accepted")
	}
}

func TestParseStartOffset(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		text  string
		kind  string
		value int64
	}{
		{"start", "start", 0},
		{"end", "end", 0},
		{"42", "exact", 42},
		{"-10", "relative", 10},
		{"@1767366245000", "time", 1767366245000},
		{"@2026-01-02T15:04:05Z", "time", now.UnixMilli()},
		{"@-1h", "time", now.Add(-time.Hour).UnixMilli()},
	} {
		got, err := parseStartOffset(c.text, now)
		if err != nil || got.kind != c.kind || got.value != c.value {
			t.Errorf("parseStartOffset(%q) = %s %d, %v; want %s %d", c.text, got.kind, got.value, err, c.kind, c.value)
		}
	}
	for _, bad := range []string{"", "later", "@yesterday", "@-1x"} {
		if _, err := parseStartOffset(bad, now); err == nil {
			t.Errorf("parseStartOffset(%q) accepted", bad)
		}
	}
}

// TestProduceToAMissingTopic: a broker that does not auto-create topics
// gets the record refused, and produce says what to do.
func TestProduceToAMissingTopic(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1)) // no auto-creation
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	r := cli{t, cluster.ListenAddrs()[0]}.run("x\n", "produce", "fresh")
	if r.err == nil || !strings.Contains(r.err.Error(), "cairn topic create fresh") {
		t.Errorf("produce to a missing topic: %v", r.err)
	}
}

func TestBrokersFromEnvironment(t *testing.T) {
	t.Setenv("CAIRN_BROKERS", startCairn(t))
	var stdout bytes.Buffer
	err := dispatch(context.Background(), "cluster", clusterUsage, clusterCommands(), []string{"info"}, streams{in: strings.NewReader(""), out: &stdout, err: io.Discard})
	if err != nil {
		t.Fatalf("cluster info with CAIRN_BROKERS and no --brokers: %v", err)
	}
	mustContain(t, "cluster info", stdout.String(), "CONTROLLER  0")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const topicUsage = `usage: cairn topic <command> [flags]

Creates, lists, describes, deletes and reconfigures topics, and elects
their leaders, on any Kafka-compatible cluster.
`

func topicCommands() []subcommand {
	return []subcommand{
		{"create", "create topics", runTopicCreate},
		{"list", "list topics with their partition counts and replication", runTopicList},
		{"describe", "show a topic's configuration and, per partition, leader, replicas, ISR and offsets", runTopicDescribe},
		{"delete", "delete topics", runTopicDelete},
		{"alter-config", "set or remove topic configuration keys (IncrementalAlterConfigs)", runTopicAlterConfig},
		{"elect-leaders", "move leaders to their preferred replicas, or elect leaderless partitions (ElectLeaders)", runTopicElectLeaders},
	}
}

func runTopic(args []string) error {
	return runSubcommands("topic", topicUsage, topicCommands(), args)
}

func runTopicCreate(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic create", `usage: cairn topic create TOPIC... [flags]

Creates topics. -1 for partitions or replication factor asks for the broker's
default.

examples:
  cairn topic create orders
  cairn topic create orders payments --partitions 6 --replication-factor 3
  cairn topic create events -p 3 -c retention.ms=86400000 -c segment.bytes=104857600
`, std)
	cf := addClientFlags(fs)
	partitions := fs.Int("partitions", -1, "partitions per topic; -1 is the broker's default")
	fs.IntVar(partitions, "p", -1, "short for --partitions")
	replication := fs.Int("replication-factor", -1, "replicas per partition; -1 is the broker's default")
	fs.IntVar(replication, "r", -1, "short for --replication-factor")
	var configs stringList
	fs.Var(&configs, "config", "topic configuration key=value; repeat for more")
	fs.Var(&configs, "c", "short for --config")
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return errors.New("give the name of at least one topic: cairn topic create TOPIC")
	}
	if *partitions == 0 || *partitions < -1 || *partitions > 1<<31-1 {
		return fmt.Errorf("--partitions %d: want a positive count, or -1 for the broker's default", *partitions)
	}
	if *replication == 0 || *replication < -1 || *replication > 1<<15-1 {
		return fmt.Errorf("--replication-factor %d: want a positive count, or -1 for the broker's default", *replication)
	}
	configMap, err := parseConfigPairs("--config", configs)
	if err != nil {
		return err
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	responses, err := admin.CreateTopics(ctx, int32(*partitions), int16(*replication), configMap, topics...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICAS\tSTATUS")
	failed := 0
	for _, r := range responses.Sorted() {
		// A failed create has no partitions or replicas (the response
		// says -1): dashes, and the error, say so.
		if r.Err != nil {
			failed++
			fmt.Fprintf(w, "%s\t-\t-\t%s\n", r.Topic, describeError(r.Err, r.ErrMessage))
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\tcreated\n", r.Topic, r.NumPartitions, r.ReplicationFactor)
	}
	w.Flush()
	if failed > 0 {
		return errors.New(failedOf(failed, len(topics), "topic", "created"))
	}
	return nil
}

func runTopicList(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic list", `usage: cairn topic list [flags]

Lists the cluster's topics with their partition counts and replication
factors.

examples:
  cairn topic list
  cairn topic list --internal --brokers 10.0.0.1:9092
  cairn topic list --json | jq -r '.topics[].name'
`, std)
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	internal := fs.Bool("internal", false, "also list internal topics (__consumer_offsets, ...)")
	if rest, err := parseInterleaved(fs, args, std.out); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q: topic list takes no topic names (see cairn topic describe)", rest[0])
	}
	asJSON, err := output.wantJSON()
	if err != nil {
		return err
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	var topics kadm.TopicDetails
	if *internal {
		topics, err = admin.ListTopicsWithInternal(ctx)
	} else {
		topics, err = admin.ListTopics(ctx)
	}
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	if asJSON {
		return writeJSON(std.out, topicListJSON(topics))
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITIONS\tREPLICAS")
	for _, name := range topics.Names() {
		t := topics[name]
		if t.Err != nil {
			fmt.Fprintf(w, "%s\t-\t-\t%v\n", name, t.Err)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\n", name, len(t.Partitions), t.Partitions.NumReplicas())
	}
	return w.Flush()
}

// topicSummary is one topic of topic list --json.
type topicSummary struct {
	Name              string  `json:"name"`
	ID                *string `json:"id"`
	Internal          bool    `json:"internal"`
	Partitions        int     `json:"partitions"`
	ReplicationFactor int     `json:"replication_factor"`
	Error             *string `json:"error"`
}

func topicListJSON(topics kadm.TopicDetails) any {
	list := []topicSummary{}
	for _, name := range topics.Names() {
		t := topics[name]
		list = append(list, topicSummary{Name: name, ID: known(kafkaTopicID(t.ID), t.ID != kadm.TopicID{}), Internal: t.IsInternal,
			Partitions: len(t.Partitions), ReplicationFactor: t.Partitions.NumReplicas(), Error: errorText(t.Err)})
	}
	return struct {
		Topics []topicSummary `json:"topics"`
	}{list}
}

func runTopicDelete(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic delete", `usage: cairn topic delete TOPIC... [flags]

Deletes topics and every record in them.

examples:
  cairn topic delete orders
  cairn topic delete scratch-1 scratch-2
`, std)
	cf := addClientFlags(fs)
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return errors.New("give the name of at least one topic: cairn topic delete TOPIC")
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	responses, err := admin.DeleteTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tSTATUS")
	failed := 0
	for _, name := range topics {
		status := "deleted"
		if r, ok := responses[name]; !ok {
			status, failed = "no answer", failed+1
		} else if r.Err != nil {
			status, failed = describeError(r.Err, r.ErrMessage), failed+1
		}
		fmt.Fprintf(w, "%s\t%s\n", name, status)
	}
	w.Flush()
	if failed > 0 {
		return errors.New(failedOf(failed, len(topics), "topic", "deleted"))
	}
	return nil
}

func runTopicAlterConfig(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic alter-config", `usage: cairn topic alter-config TOPIC... --set key=value | --delete key [flags]

Changes topic configuration with IncrementalAlterConfigs: --set sets a key,
--delete returns it to the broker's default. Cairn does not serve
IncrementalAlterConfigs yet (its topic configs are fixed at creation: use
cairn topic create -c); against Cairn this command reports that.

examples:
  cairn topic alter-config orders --set retention.ms=604800000
  cairn topic alter-config orders --delete retention.ms --set cleanup.policy=compact
`, std)
	cf := addClientFlags(fs)
	var sets, deletes stringList
	fs.Var(&sets, "set", "key=value to set; repeat for more")
	fs.Var(&deletes, "delete", "key to return to its default; repeat for more")
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return errors.New("give the name of at least one topic: cairn topic alter-config TOPIC --set key=value")
	}
	if len(sets)+len(deletes) == 0 {
		return errors.New("nothing to change: give --set key=value or --delete key")
	}
	setMap, err := parseConfigPairs("--set", sets)
	if err != nil {
		return err
	}
	var alter []kadm.AlterConfig
	for _, key := range sortedTopicNames(setMap) {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: key, Value: setMap[key]})
	}
	for _, key := range deletes {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key})
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	responses, err := admin.AlterTopicConfigs(ctx, alter, topics...)
	if err != nil {
		return fmt.Errorf("alter topic configs: %w", explainUnsupported(err, "changing topic configuration (IncrementalAlterConfigs); set configs when creating the topic: cairn topic create TOPIC -c key=value"))
	}
	failed := 0
	for _, r := range responses {
		status := "altered"
		if r.Err != nil {
			failed++
			status = describeError(r.Err, r.ErrMessage)
		}
		fmt.Fprintf(std.out, "%s\t%s\n", r.Name, status)
	}
	if failed > 0 {
		return errors.New(failedOf(failed, len(topics), "topic", "altered"))
	}
	return nil
}

// describeError is a per-resource error with the broker's message, if
// any. Kafka's error text is its code's name and a description ending in a
// full stop ("INVALID_CONFIG: Configuration is invalid."); the broker's
// message is the specific reason, so it replaces the generic description
// rather than being glued after it ("invalid.: unknown topic config").
func describeError(err error, message string) string {
	if message == "" || message == err.Error() {
		return err.Error()
	}
	var kafkaErr *kerr.Error
	if errors.As(err, &kafkaErr) {
		return kafkaErr.Message + ": " + message
	}
	return fmt.Sprintf("%v: %s", err, message)
}

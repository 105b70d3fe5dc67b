package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func runTopicDescribe(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic describe", `usage: cairn topic describe TOPIC... [flags]

Shows each topic's id (as Kafka prints it: URL-safe base64, 22 characters),
its configuration keys that differ from the broker's defaults (all with
--all-configs), and per partition its leader, leader epoch, replicas,
in-sync replicas, log start offset and high watermark.

examples:
  cairn topic describe orders
  cairn topic describe orders --all-configs
  cairn topic describe orders --json | jq '.topics[0].partitions[].high_watermark'
`, std)
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	allConfigs := fs.Bool("all-configs", false, "show every configuration key, defaults included")
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return errors.New("give the name of at least one topic: cairn topic describe TOPIC")
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
	described, err := describeTopics(ctx, admin, topics, *allConfigs)
	if err != nil {
		return err
	}
	missing := 0
	for _, d := range described {
		if d.Error != nil {
			missing++
		}
	}
	if len(described) == 1 && missing == 1 && !asJSON {
		return fmt.Errorf("topic %s: %s; cairn topic list shows what exists", described[0].Name, *described[0].Error)
	}
	if asJSON {
		err = writeJSON(std.out, struct {
			Topics []topicDescription `json:"topics"`
		}{described})
	} else {
		printTopicDescriptions(std, described)
	}
	if err == nil && missing > 0 {
		err = errors.New(failedOf(missing, len(topics), "topic", "found") + "; cairn topic list shows what exists")
	}
	return err
}

// topicDescription is what topic describe shows of one topic, and its
// --json shape.
type topicDescription struct {
	Name              string                 `json:"name"`
	ID                *string                `json:"id"`
	PartitionCount    int                    `json:"partition_count"`
	ReplicationFactor int                    `json:"replication_factor"`
	Configs           []configEntry          `json:"configs"`
	ConfigsError      *string                `json:"configs_error"`
	Partitions        []partitionDescription `json:"partitions"`
	Error             *string                `json:"error"`
}

type configEntry struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Source string  `json:"source"`
}

type partitionDescription struct {
	Partition      int32   `json:"partition"`
	Leader         *int32  `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset *int64  `json:"log_start_offset"`
	HighWatermark  *int64  `json:"high_watermark"`
	Error          *string `json:"error"`
}

// describeTopics gathers, per topic in the order given, its metadata,
// offsets and configs.
func describeTopics(ctx context.Context, admin *kadm.Client, topics []string, allConfigs bool) ([]topicDescription, error) {
	details, err := admin.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	starts, err := admin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list log start offsets: %w", err)
	}
	ends, err := admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list high watermarks: %w", err)
	}
	configs, configsErr := admin.DescribeTopicConfigs(ctx, topics...)
	described := make([]topicDescription, 0, len(topics))
	for _, name := range topics {
		d := topicDescription{Name: name, Configs: []configEntry{}, Partitions: []partitionDescription{}}
		t, ok := details[name]
		if !ok || t.Err != nil {
			reason := "not in the cluster's metadata"
			if ok {
				reason = t.Err.Error()
			}
			d.Error = &reason
			described = append(described, d)
			continue
		}
		d.ID = known(kafkaTopicID(t.ID), t.ID != kadm.TopicID{})
		d.PartitionCount, d.ReplicationFactor = len(t.Partitions), t.Partitions.NumReplicas()
		d.Configs, d.ConfigsError = topicConfigs(name, configs, configsErr, allConfigs)
		for _, p := range t.Partitions.Sorted() {
			start, startOK := starts.Lookup(name, p.Partition)
			end, endOK := ends.Lookup(name, p.Partition)
			d.Partitions = append(d.Partitions, partitionDescription{
				Partition: p.Partition, Leader: known(p.Leader, p.Leader >= 0), LeaderEpoch: p.LeaderEpoch,
				Replicas: sortedInt32s(p.Replicas), ISR: sortedInt32s(p.ISR),
				LogStartOffset: known(start.Offset, startOK && start.Err == nil),
				HighWatermark:  known(end.Offset, endOK && end.Err == nil),
				Error:          errorText(p.Err),
			})
		}
		described = append(described, d)
	}
	return described, nil
}

// topicConfigs returns the topic's configs that are set (every one with
// all), or why there are none to show.
func topicConfigs(topic string, configs kadm.ResourceConfigs, err error, all bool) ([]configEntry, *string) {
	entries := []configEntry{}
	if err != nil {
		return entries, errorText(explainUnsupported(err, "DescribeConfigs"))
	}
	resource, err := configs.On(topic, nil)
	if err == nil {
		err = resource.Err
	}
	if err != nil {
		return entries, errorText(err)
	}
	for _, c := range resource.Configs {
		if !all && (c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceStaticBrokerConfig) {
			continue
		}
		entries = append(entries, configEntry{Key: c.Key, Value: c.Value, Source: c.Source.String()})
	}
	return entries, nil
}

func printTopicDescriptions(std streams, described []topicDescription) {
	for i, d := range described {
		if i > 0 {
			fmt.Fprintln(std.out)
		}
		if d.Error != nil {
			fmt.Fprintf(std.out, "topic %s: %s\n", d.Name, *d.Error)
			continue
		}
		id := "-"
		if d.ID != nil {
			id = *d.ID
		}
		fmt.Fprintf(std.out, "NAME        %s\nID          %s\nPARTITIONS  %d\nREPLICAS    %d\n", d.Name, id, d.PartitionCount, d.ReplicationFactor)
		printConfigEntries(std, d)
		fmt.Fprintln(std.out)
		w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tHIGH-WATERMARK")
		for _, p := range d.Partitions {
			fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%s\t%s", p.Partition, orText(p.Leader, "none"), p.LeaderEpoch,
				int32sText(p.Replicas), int32sText(p.ISR), orText(p.LogStartOffset, "-"), orText(p.HighWatermark, "-"))
			if p.Error != nil {
				fmt.Fprintf(w, "\t%s", *p.Error)
			}
			fmt.Fprintln(w)
		}
		w.Flush()
	}
}

func printConfigEntries(std streams, d topicDescription) {
	switch {
	case d.ConfigsError != nil:
		fmt.Fprintf(std.out, "CONFIGS     (not available: %s)\n", *d.ConfigsError)
	case len(d.Configs) == 0:
		fmt.Fprintln(std.out, "CONFIGS     (all defaults; --all-configs lists them)")
	default:
		fmt.Fprintln(std.out, "CONFIGS")
		for _, c := range d.Configs {
			value := ""
			if c.Value != nil {
				value = *c.Value
			}
			fmt.Fprintf(std.out, "  %s=%s\n", c.Key, value)
		}
	}
}

// orText prints *v, or absent when v is nil.
func orText[V any](v *V, absent string) string {
	if v == nil {
		return absent
	}
	return fmt.Sprint(*v)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

const groupUsage = `usage: cairn group <command> [flags]

Lists, describes (members, assignments, committed offsets and lag), resets
and deletes consumer groups on any Kafka-compatible cluster.

Cairn serves consumer groups of both protocols, the classic one (JoinGroup,
SyncGroup) and Kafka 4's consumer protocol (KIP-848, where the broker
assigns partitions), with their offsets in __consumer_offsets; these
commands work the same against any Kafka cluster.
`

func groupCommands() []subcommand {
	return []subcommand{
		{"list", "list consumer groups and their states", runGroupList},
		{"describe", "show members, assignments, committed offsets and lag", runGroupDescribe},
		{"reset-offsets", "move an inactive group's committed offsets", runGroupResetOffsets},
		{"delete", "delete inactive consumer groups and their offsets", runGroupDelete},
	}
}

func runGroup(args []string) error {
	return runSubcommands("group", groupUsage, groupCommands(), args)
}

func runGroupList(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("group list", `usage: cairn group list [flags]

Lists the cluster's consumer groups with their state and coordinator.

examples:
  cairn group list
  cairn group list --brokers 10.0.0.1:9092
  cairn group list --json | jq -r '.groups[].group'
`, std)
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	if rest, err := parseInterleaved(fs, args, std.out); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q: group list takes no group names (see cairn group describe)", rest[0])
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
	groups, err := admin.ListGroups(ctx)
	if err != nil {
		return explainGroups(fmt.Errorf("list groups: %w", err))
	}
	if asJSON {
		return writeJSON(std.out, groupListJSON(groups))
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", g.Group, orDash(g.State), orDash(g.ProtocolType), g.Coordinator)
	}
	return w.Flush()
}

// listedGroupJSON is one group of group list --json.
type listedGroupJSON struct {
	Group        string  `json:"group"`
	State        *string `json:"state"`
	ProtocolType *string `json:"protocol_type"`
	Coordinator  int32   `json:"coordinator"`
}

func groupListJSON(groups kadm.ListedGroups) any {
	list := []listedGroupJSON{}
	for _, g := range groups.Sorted() {
		list = append(list, listedGroupJSON{g.Group, known(g.State, g.State != ""), known(g.ProtocolType, g.ProtocolType != ""), g.Coordinator})
	}
	return struct {
		Groups []listedGroupJSON `json:"groups"`
	}{list}
}

// describeConsumerGroup describes a group of Kafka 4's consumer protocol
// (KIP-848), of which DescribeGroups shows no members (Kafka and Cairn
// call it Dead, kfake Stable): only such a group, on a broker that has
// ConsumerGroupDescribe, is returned.
func describeConsumerGroup(ctx context.Context, admin *kadm.Client, name string, classicMembers int) (kadm.DescribedConsumerGroup, bool) {
	if classicMembers > 0 {
		return kadm.DescribedConsumerGroup{}, false
	}
	described, err := admin.DescribeConsumerGroups(ctx, name)
	if err != nil {
		return kadm.DescribedConsumerGroup{}, false
	}
	cg, ok := described[name]
	return cg, ok && cg.Err == nil
}

func runGroupResetOffsets(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("group reset-offsets", `usage: cairn group reset-offsets GROUP --topic TOPIC --to start|end|OFFSET|@TIME [flags]

Commits new offsets for a group that has no active members (stop its
consumers first: a live group would overwrite them). Prints each
partition's old and new offset. With --dry-run, only prints them.

--to takes start, end, an offset (42), -N (N records before the end), or
@TIME (an RFC 3339 time, Unix milliseconds, or -DURATION such as @-1h): the
first offset at or after that time.

examples:
  cairn group reset-offsets billing --topic orders --to start
  cairn group reset-offsets billing --topic orders --to @-2h --dry-run
  cairn group reset-offsets billing --topic orders --to 1000 --partition 0
`, std)
	cf := addClientFlags(fs)
	var topics stringList
	fs.Var(&topics, "topic", "topic whose offsets to reset; repeat for more")
	to := fs.String("to", "", "new position: start, end, OFFSET, -N or @TIME")
	var partitionList stringList
	fs.Var(&partitionList, "partition", "reset only this partition (repeat or comma-separate)")
	dryRun := fs.Bool("dry-run", false, "print the new offsets without committing them")
	positional, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return errors.New("give exactly one group: cairn group reset-offsets GROUP --topic TOPIC --to start")
	}
	group := positional[0]
	if len(topics) == 0 {
		return errors.New("give --topic: which topic's offsets to reset")
	}
	if *to == "" {
		return errors.New("give --to: start, end, an offset, -N or @time")
	}
	target, err := parseStartOffset(*to, time.Now())
	if err != nil {
		return errors.New(strings.Replace(err.Error(), "--offset", "--to", 1))
	}
	partitions, err := parsePartitionList(partitionList)
	if err != nil {
		return err
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	described, err := admin.DescribeGroups(ctx, group)
	if err != nil {
		return explainGroups(fmt.Errorf("describe group %s: %w", group, err))
	}
	if d, ok := described[group]; ok {
		if d.Err != nil {
			return explainGroups(fmt.Errorf("describe group %s: %w", group, d.Err))
		}
		if len(d.Members) > 0 {
			return fmt.Errorf("group %s has %s (state %s): stop its consumers, then reset its offsets", group, plural(int64(len(d.Members)), "active member"), d.State)
		}
		if cg, ok := describeConsumerGroup(ctx, admin, group, len(d.Members)); ok && len(cg.Members) > 0 {
			return fmt.Errorf("group %s has %s (state %s): stop its consumers, then reset its offsets", group, plural(int64(len(cg.Members)), "active member"), cg.State)
		}
	}
	current, err := admin.FetchOffsets(ctx, group)
	if err != nil {
		return explainGroups(fmt.Errorf("fetch the offsets of group %s: %w", group, err))
	}
	targets, err := resolvePositions(ctx, admin, topics, partitions, target)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tOLD\tNEW")
	newOffsets := kadm.Offsets{}
	for _, o := range targets {
		old := "-"
		if c, ok := current.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
			old = fmt.Sprint(c.At)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\n", o.Topic, o.Partition, old, o.At)
		newOffsets.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.At, LeaderEpoch: -1})
	}
	w.Flush()
	if *dryRun {
		fmt.Fprintln(std.err, "dry run: nothing committed")
		return nil
	}
	committed, err := admin.CommitOffsets(ctx, group, newOffsets)
	if err != nil {
		return explainGroups(fmt.Errorf("commit offsets of group %s: %w", group, err))
	}
	if err := committed.Error(); err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	return nil
}

// resolvePositions turns a position (start, end, exact, -N, time) into an
// offset per partition of topics (all partitions, or those listed). An
// exact offset outside the log is clamped to its start or end, as Kafka's
// own tool does.
func resolvePositions(ctx context.Context, admin *kadm.Client, topics []string, partitions []int32, target startOffset) ([]kadm.Offset, error) {
	starts, err := admin.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w (does the topic exist? cairn topic list)", err)
	}
	ends, err := admin.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var times kadm.ListedOffsets
	if target.kind == "time" {
		if times, err = admin.ListOffsetsAfterMilli(ctx, target.value, topics...); err != nil {
			return nil, fmt.Errorf("list offsets by time: %w", err)
		}
	}
	wanted := map[int32]bool{}
	for _, p := range partitions {
		wanted[p] = true
	}
	var out []kadm.Offset
	for _, topic := range topics {
		if len(ends[topic]) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions in the cluster's metadata (cairn topic list shows what exists)", topic)
		}
		for partition, end := range ends[topic] {
			if len(wanted) > 0 && !wanted[partition] {
				continue
			}
			first := starts[topic][partition].Offset
			at := end.Offset
			switch target.kind {
			case "start":
				at = first
			case "exact":
				at = min(max(target.value, first), end.Offset)
			case "relative":
				at = max(end.Offset-target.value, first)
			case "time":
				if o, ok := times.Lookup(topic, partition); ok && o.Err == nil && o.Offset >= 0 {
					at = o.Offset
				}
			}
			out = append(out, kadm.Offset{Topic: topic, Partition: partition, At: at, LeaderEpoch: -1})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no partition %v in %s", partitions, strings.Join(topics, ", "))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

func runGroupDelete(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("group delete", `usage: cairn group delete GROUP... [flags]

Deletes consumer groups and their committed offsets. A group with active
members cannot be deleted: stop its consumers first.

examples:
  cairn group delete billing
  cairn group delete old-1 old-2
`, std)
	cf := addClientFlags(fs)
	groups, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return errors.New("give at least one group: cairn group delete GROUP")
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	responses, err := admin.DeleteGroups(ctx, groups...)
	if err != nil {
		return explainGroups(fmt.Errorf("delete groups: %w", err))
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tSTATUS")
	failed := 0
	for _, name := range groups {
		status := "deleted"
		if r, ok := responses[name]; !ok {
			status, failed = "no answer", failed+1
		} else if r.Err != nil {
			status, failed = explainGroups(r.Err).Error(), failed+1
		}
		fmt.Fprintf(w, "%s\t%s\n", name, status)
	}
	w.Flush()
	if failed > 0 {
		return errors.New(failedOf(failed, len(groups), "group", "deleted"))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

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

Cairn serves consumer groups (the classic protocol) with their offsets in
__consumer_offsets; these commands work the same against any Kafka cluster.
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
`, std)
	cf := addClientFlags(fs)
	if rest, err := parseInterleaved(fs, args, std.out); err != nil {
		return err
	} else if len(rest) > 0 {
		return fmt.Errorf("unexpected argument %q: group list takes no group names (see cairn group describe)", rest[0])
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
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GROUP\tSTATE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", g.Group, orDash(g.State), orDash(g.ProtocolType), g.Coordinator)
	}
	return w.Flush()
}

func runGroupDescribe(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("group describe", `usage: cairn group describe GROUP... [flags]

Shows each group's state, coordinator and members (client id, host,
assigned partitions), then per partition the committed offset, the end of
the log (high watermark), the lag between them, and the member that owns
it. TOTAL-LAG sums the partitions.

examples:
  cairn group describe billing
  cairn group describe billing audit
`, std)
	cf := addClientFlags(fs)
	groups, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return errors.New("give at least one group: cairn group describe GROUP (cairn group list shows them)")
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	lags, err := admin.Lag(ctx, groups...)
	if err != nil {
		return explainGroups(fmt.Errorf("describe groups: %w", err))
	}
	failed := 0
	for i, name := range groups {
		if i > 0 {
			fmt.Fprintln(std.out)
		}
		g, ok := lags[name]
		if !ok {
			failed++
			fmt.Fprintf(std.out, "group %s: no answer\n", name)
			continue
		}
		if err := g.Error(); err != nil {
			failed++
			fmt.Fprintf(std.out, "group %s: %v\n", name, explainGroups(err))
			continue
		}
		if cg, ok := describeConsumerGroup(ctx, admin, name, len(g.Members)); ok {
			printConsumerGroupLag(std, g, cg)
			continue
		}
		printGroupLag(std, g)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d groups not described", failed, len(groups))
	}
	return nil
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

func totalLag(g kadm.DescribedGroupLag) int64 {
	var total int64
	for _, l := range g.Lag.Sorted() {
		if l.Lag > 0 {
			total += l.Lag
		}
	}
	return total
}

// printConsumerGroupLag prints a consumer-protocol group: the broker's
// assignment, epochs and assignor, then the lag table.
func printConsumerGroupLag(std streams, g kadm.DescribedGroupLag, cg kadm.DescribedConsumerGroup) {
	fmt.Fprintf(std.out, "GROUP        %s\nSTATE        %s\nCOORDINATOR  %d (%s:%d)\nPROTOCOL     consumer (KIP-848), assignor %s, epoch %d\nMEMBERS      %d\nTOTAL-LAG    %d\n",
		g.Group, cg.State, g.Coordinator.NodeID, g.Coordinator.Host, g.Coordinator.Port, orDash(cg.AssignorName), cg.Epoch, len(cg.Members), totalLag(g))
	owners := map[string]map[int32]string{}
	if len(cg.Members) > 0 {
		fmt.Fprintln(std.out)
		w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MEMBER\tCLIENT-ID\tHOST\tEPOCH\tASSIGNED")
		for _, m := range cg.Members {
			var parts []string
			for topic, partitions := range m.Assignment {
				ps := make([]int32, 0, len(partitions))
				for p := range partitions {
					ps = append(ps, p)
					if owners[topic] == nil {
						owners[topic] = map[int32]string{}
					}
					owners[topic][p] = m.MemberID
				}
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				parts = append(parts, topic+int32sText(ps))
			}
			sort.Strings(parts)
			assigned := "-"
			if len(parts) > 0 {
				assigned = strings.Join(parts, " ")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", m.MemberID, m.ClientID, m.ClientHost, m.MemberEpoch, assigned)
		}
		w.Flush()
	}
	printLagTable(std, g, func(topic string, partition int32) string {
		if id, ok := owners[topic][partition]; ok {
			return id
		}
		return "-"
	})
}

func printGroupLag(std streams, g kadm.DescribedGroupLag) {
	total := totalLag(g)
	fmt.Fprintf(std.out, "GROUP        %s\nSTATE        %s\nCOORDINATOR  %d (%s:%d)\nPROTOCOL     %s\nMEMBERS      %d\nTOTAL-LAG    %d\n",
		g.Group, g.State, g.Coordinator.NodeID, g.Coordinator.Host, g.Coordinator.Port, orDash(g.Protocol), len(g.Members), total)
	if len(g.Members) > 0 {
		fmt.Fprintln(std.out)
		w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MEMBER\tCLIENT-ID\tHOST\tASSIGNED")
		for _, m := range g.Members {
			assigned := "-"
			if c, ok := m.Assigned.AsConsumer(); ok {
				var parts []string
				for _, t := range c.Topics {
					parts = append(parts, t.Topic+int32sText(t.Partitions))
				}
				sort.Strings(parts)
				if len(parts) > 0 {
					assigned = strings.Join(parts, " ")
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.ClientHost, assigned)
		}
		w.Flush()
	}
	printLagTable(std, g, func(topic string, partition int32) string {
		for _, l := range g.Lag.Sorted() {
			if l.Topic == topic && l.Partition == partition && l.Member != nil {
				return l.Member.MemberID
			}
		}
		return "-"
	})
}

// printLagTable prints committed offset, log end and lag per partition,
// with the member that owns each.
func printLagTable(std streams, g kadm.DescribedGroupLag, owner func(topic string, partition int32) string) {
	if len(g.Lag) == 0 {
		fmt.Fprintln(std.out, "\n(no committed offsets)")
		return
	}
	fmt.Fprintln(std.out)
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER")
	for _, l := range g.Lag.Sorted() {
		committed, end, lag := "-", "-", "-"
		if l.Commit.At >= 0 {
			committed = fmt.Sprint(l.Commit.At)
		}
		if l.End.Err == nil {
			end = fmt.Sprint(l.End.Offset)
		}
		if l.Lag >= 0 {
			lag = fmt.Sprint(l.Lag)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s", l.Topic, l.Partition, committed, end, lag, owner(l.Topic, l.Partition))
		if l.Err != nil {
			fmt.Fprintf(w, "\t%v", l.Err)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
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
			return fmt.Errorf("group %s has %d active members (state %s): stop its consumers, then reset its offsets", group, len(d.Members), d.State)
		}
		if cg, ok := describeConsumerGroup(ctx, admin, group, len(d.Members)); ok && len(cg.Members) > 0 {
			return fmt.Errorf("group %s has %d active members (state %s): stop its consumers, then reset its offsets", group, len(cg.Members), cg.State)
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
		return fmt.Errorf("%d of %d groups not deleted", failed, len(groups))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

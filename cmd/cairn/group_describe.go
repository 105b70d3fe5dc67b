package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func runGroupDescribe(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("group describe", `usage: cairn group describe GROUP... [flags]

Shows each group's state, coordinator, protocol (classic, or KIP-848's
consumer protocol) and members (client id, host, assigned partitions), then
per partition the committed offset, the end of the log (high watermark),
the lag between them, and the member that owns it. TOTAL-LAG sums the
partitions. A group the cluster does not know is reported as not existing,
and the command exits with status 1.

examples:
  cairn group describe billing
  cairn group describe billing audit
  cairn group describe billing --json | jq .groups[0].total_lag
`, std)
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	groups, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		return errors.New("give at least one group: cairn group describe GROUP (cairn group list shows them)")
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
	lags, err := admin.Lag(ctx, groups...)
	if err != nil {
		return explainGroups(fmt.Errorf("describe groups: %w", err))
	}
	described := make([]groupDescription, 0, len(groups))
	failed := 0
	for _, name := range groups {
		d := describeGroup(ctx, admin, name, lags)
		if d.Error != nil {
			failed++
		}
		described = append(described, d)
	}
	if len(described) == 1 && failed == 1 && !asJSON {
		// One line on stderr, not also a line on stdout.
		return fmt.Errorf("group %s: %s", described[0].Group, *described[0].Error)
	}
	if asJSON {
		err = writeJSON(std.out, struct {
			Groups []groupDescription `json:"groups"`
		}{described})
	} else {
		printGroupDescriptions(std, described)
	}
	if err == nil && failed > 0 {
		err = errors.New(failedOf(failed, len(groups), "group", "described"))
	}
	return err
}

// groupDescription is what group describe shows of one group, and its
// --json shape. Protocol is classic or consumer (KIP-848); Epoch is the
// consumer protocol's group epoch.
type groupDescription struct {
	Group       string             `json:"group"`
	State       string             `json:"state"`
	Coordinator *brokerJSON        `json:"coordinator"`
	Protocol    string             `json:"protocol"`
	Assignor    *string            `json:"assignor"`
	Epoch       *int32             `json:"epoch"`
	Members     []memberJSON       `json:"members"`
	TotalLag    int64              `json:"total_lag"`
	Offsets     []partitionLagJSON `json:"offsets"`
	Error       *string            `json:"error"`
}

type memberJSON struct {
	MemberID   string                `json:"member_id"`
	InstanceID *string               `json:"instance_id"`
	ClientID   string                `json:"client_id"`
	Host       string                `json:"host"`
	Epoch      *int32                `json:"epoch"`
	Assigned   []topicPartitionsJSON `json:"assigned"`
}

type topicPartitionsJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type partitionLagJSON struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Committed *int64  `json:"committed"`
	LogEnd    *int64  `json:"log_end"`
	Lag       *int64  `json:"lag"`
	MemberID  *string `json:"member_id"`
	Error     *string `json:"error"`
}

// describeGroup gathers one group's description. A group the coordinator
// calls Dead, with no commits and no consumer-protocol members, does not
// exist: Kafka answers DescribeGroups for any id, so only that tells.
func describeGroup(ctx context.Context, admin *kadm.Client, name string, lags kadm.DescribedGroupLags) groupDescription {
	d := groupDescription{Group: name, Members: []memberJSON{}, Offsets: []partitionLagJSON{}}
	g, ok := lags[name]
	if !ok {
		d.Error = errorText(errors.New("no answer"))
		return d
	}
	if err := g.Error(); errors.Is(err, kerr.GroupIDNotFound) {
		d.Error = errorText(errGroupMissing)
		return d
	} else if err != nil {
		d.Error = errorText(explainGroups(err))
		return d
	}
	d.State, d.Protocol = g.State, "classic"
	d.Coordinator = &brokerJSON{NodeID: g.Coordinator.NodeID, Host: g.Coordinator.Host, Port: g.Coordinator.Port, Rack: g.Coordinator.Rack}
	owners := map[string]map[int32]string{}
	if cg, ok := describeConsumerGroup(ctx, admin, name, len(g.Members)); ok {
		d.State, d.Protocol, d.Epoch = cg.State, "consumer", &cg.Epoch
		d.Assignor = known(cg.AssignorName, cg.AssignorName != "")
		for _, m := range cg.Members {
			d.Members = append(d.Members, memberJSON{m.MemberID, m.InstanceID, m.ClientID, m.ClientHost, &m.MemberEpoch, assignedJSON(m.MemberID, m.Assignment, owners)})
		}
	} else {
		d.Assignor = known(g.Protocol, g.Protocol != "")
		for _, m := range g.Members {
			set := kadm.TopicsSet{}
			if c, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range c.Topics {
					set.Add(t.Topic, t.Partitions...)
				}
			}
			d.Members = append(d.Members, memberJSON{m.MemberID, m.InstanceID, m.ClientID, m.ClientHost, nil, assignedJSON(m.MemberID, set, owners)})
		}
	}
	if d.State == "Dead" && len(d.Members) == 0 && len(g.Lag) == 0 {
		d.Error = errorText(errGroupMissing)
		return d
	}
	d.Offsets, d.TotalLag = lagJSON(g.Lag, owners)
	return d
}

// errGroupMissing is the reason shown for a group the cluster does not
// know, after "group NAME: ".
var errGroupMissing = errors.New("does not exist (cairn group list shows the groups)")

// assignedJSON lists a member's assignment sorted by topic and records the
// member as the owner of each partition.
func assignedJSON(member string, set kadm.TopicsSet, owners map[string]map[int32]string) []topicPartitionsJSON {
	assigned := []topicPartitionsJSON{}
	for _, topic := range set.Topics() {
		partitions := make([]int32, 0, len(set[topic]))
		for p := range set[topic] {
			partitions = append(partitions, p)
			if owners[topic] == nil {
				owners[topic] = map[int32]string{}
			}
			owners[topic][p] = member
		}
		assigned = append(assigned, topicPartitionsJSON{topic, sortedInt32s(partitions)})
	}
	sort.Slice(assigned, func(i, j int) bool { return assigned[i].Topic < assigned[j].Topic })
	return assigned
}

// lagJSON is the per-partition lag table and its total (partitions whose
// lag is unknown add nothing).
func lagJSON(lag kadm.GroupLag, owners map[string]map[int32]string) ([]partitionLagJSON, int64) {
	rows := []partitionLagJSON{}
	var total int64
	for _, l := range lag.Sorted() {
		owner, owned := owners[l.Topic][l.Partition]
		if !owned && l.Member != nil {
			owner, owned = l.Member.MemberID, true
		}
		rows = append(rows, partitionLagJSON{
			Topic: l.Topic, Partition: l.Partition,
			Committed: known(l.Commit.At, l.Commit.At >= 0),
			LogEnd:    known(l.End.Offset, l.End.Err == nil),
			Lag:       known(l.Lag, l.Lag >= 0),
			MemberID:  known(owner, owned),
			Error:     errorText(l.Err),
		})
		if l.Lag > 0 {
			total += l.Lag
		}
	}
	return rows, total
}

func printGroupDescriptions(std streams, described []groupDescription) {
	for i, d := range described {
		if i > 0 {
			fmt.Fprintln(std.out)
		}
		if d.Error != nil {
			fmt.Fprintf(std.out, "group %s: %s\n", d.Group, *d.Error)
			continue
		}
		protocol := "classic"
		if d.Assignor != nil {
			protocol += ", assignor " + *d.Assignor
		}
		if d.Protocol == "consumer" {
			protocol = fmt.Sprintf("consumer (KIP-848), assignor %s, epoch %s", orText(d.Assignor, "-"), orText(d.Epoch, "-"))
		}
		fmt.Fprintf(std.out, "GROUP        %s\nSTATE        %s\nCOORDINATOR  %d (%s:%d)\nPROTOCOL     %s\nMEMBERS      %d\nTOTAL-LAG    %d\n",
			d.Group, d.State, d.Coordinator.NodeID, d.Coordinator.Host, d.Coordinator.Port, protocol, len(d.Members), d.TotalLag)
		printMembers(std, d)
		printLagTable(std, d.Offsets)
	}
}

func printMembers(std streams, d groupDescription) {
	if len(d.Members) == 0 {
		return
	}
	fmt.Fprintln(std.out)
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tCLIENT-ID\tHOST\tEPOCH\tASSIGNED")
	for _, m := range d.Members {
		parts := make([]string, len(m.Assigned))
		for i, a := range m.Assigned {
			parts[i] = a.Topic + int32sText(a.Partitions)
		}
		assigned := "-"
		if len(parts) > 0 {
			assigned = strings.Join(parts, " ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.Host, orText(m.Epoch, "-"), assigned)
	}
	w.Flush()
}

// printLagTable prints committed offset, log end and lag per partition,
// with the member that owns each.
func printLagTable(std streams, rows []partitionLagJSON) {
	if len(rows) == 0 {
		fmt.Fprintln(std.out, "\n(no committed offsets)")
		return
	}
	fmt.Fprintln(std.out)
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s", r.Topic, r.Partition, orText(r.Committed, "-"), orText(r.LogEnd, "-"), orText(r.Lag, "-"), orText(r.MemberID, "-"))
		if r.Error != nil {
			fmt.Fprintf(w, "\t%s", *r.Error)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}

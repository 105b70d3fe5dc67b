package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func runTopicElectLeaders(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("topic elect-leaders", `usage: cairn topic elect-leaders [TOPIC...] [flags]

Elects partition leaders now (ElectLeaders, as kafka-leader-election.sh).
--type preferred moves each partition's leadership to its preferred replica
(the first of its assignment) if that replica is in the ISR; brokers do this
themselves every leader.imbalance.check.interval unless
auto.leader.rebalance.enable is off. --type unclean gives a partition that
has no leader one, from outside the ISR if no ISR member is up: records
only the old leader held are lost. With no TOPIC every partition of the
cluster is elected, and only partitions that needed an election are listed.
A partition whose leader is already the one asked for says ELECTION_NOT_NEEDED,
which is not a failure.

examples:
  cairn topic elect-leaders
  cairn topic elect-leaders orders payments
  cairn topic elect-leaders orders --type unclean
  cairn topic elect-leaders --json
`, std)
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	kind := fs.String("type", "preferred", "election type: preferred or unclean")
	topics, err := parseInterleaved(fs, args, std.out)
	if err != nil {
		return err
	}
	asJSON, err := output.wantJSON()
	if err != nil {
		return err
	}
	var how kadm.ElectLeadersHow
	switch *kind {
	case "preferred":
		how = kadm.ElectPreferredReplica
	case "unclean":
		how = kadm.ElectLiveReplica
	default:
		return fmt.Errorf("--type %q: want preferred or unclean", *kind)
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	// A null set asks the controller for every partition; named topics
	// need their partitions, which Metadata gives.
	var set kadm.TopicsSet
	var rows []electionRow
	if len(topics) > 0 {
		details, err := admin.ListTopics(ctx, topics...)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		set = kadm.TopicsSet{}
		for _, name := range topics {
			t, ok := details[name]
			if !ok || t.Err != nil {
				rowErr := error(kerr.UnknownTopicOrPartition)
				if ok {
					rowErr = t.Err
				}
				rows = append(rows, electionRow{Topic: name, Partition: -1, Error: errorText(rowErr)})
				continue
			}
			for p := range t.Partitions {
				set.Add(name, p)
			}
		}
	}
	if len(topics) == 0 || len(set) > 0 {
		elected, err := electLeaders(ctx, client, how, set)
		if err != nil {
			return err
		}
		rows = append(rows, elected...)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	failed := 0
	for _, r := range rows {
		if !r.Elected && !r.NotNeeded {
			failed++
		}
	}
	if asJSON {
		if rows == nil {
			rows = []electionRow{}
		}
		if err := writeJSON(std.out, struct {
			Type    string        `json:"type"`
			Results []electionRow `json:"results"`
		}{*kind, rows}); err != nil {
			return err
		}
	} else {
		if len(rows) == 0 {
			fmt.Fprintln(std.out, "no partition needed an election")
		} else {
			w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TOPIC\tPARTITION\tSTATUS")
			for _, r := range rows {
				partition, status := fmt.Sprint(r.Partition), "elected"
				if r.Partition < 0 {
					partition = "-"
				}
				switch {
				case r.NotNeeded:
					status = "not needed (ELECTION_NOT_NEEDED)"
				case r.Error != nil:
					status = *r.Error
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", r.Topic, partition, status)
			}
			w.Flush()
		}
	}
	if failed > 0 {
		return errors.New(failedOf(failed, len(rows), "election", "held"))
	}
	return nil
}

// electLeaders sends one ElectLeaders request (nil set: every partition)
// and returns a row per partition answered. It is written on kmsg rather
// than kadm because kadm drops the response's top-level error: a request
// for every partition refused as a whole (NOT_CONTROLLER, INVALID_REQUEST)
// would look like one that found nothing to do.
func electLeaders(ctx context.Context, client *kgo.Client, how kadm.ElectLeadersHow, set kadm.TopicsSet) ([]electionRow, error) {
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = int8(how)
	if set != nil {
		req.Topics = []kmsg.ElectLeadersRequestTopic{}
		for _, t := range set.IntoList() {
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = t.Topic, t.Partitions
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("elect leaders: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("elect leaders: %w", err)
	}
	if resp.Version == 0 && how != kadm.ElectPreferredReplica {
		return nil, errors.New("elect leaders: the cluster knows only preferred elections (ElectLeaders v0)")
	}
	var rows []electionRow
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			row := electionRow{Topic: rt.Topic, Partition: p.Partition}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				message := ""
				if p.ErrorMessage != nil {
					message = *p.ErrorMessage
				}
				text := describeError(err, message)
				row.Error, row.NotNeeded = &text, errors.Is(err, kerr.ElectionNotNeeded)
			} else {
				row.Elected = true
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// electionRow is one partition of topic elect-leaders' answer; Partition
// is -1 for a topic that could not be looked up.
type electionRow struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Elected   bool    `json:"elected"`
	NotNeeded bool    `json:"not_needed"`
	Error     *string `json:"error"`
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

const clusterUsage = `usage: cairn cluster <command> [flags]

Shows a Kafka-compatible cluster's brokers, controller and health, from its
Metadata (so it works against any cluster).
`

func clusterCommands() []subcommand {
	return []subcommand{
		{"info", "show the cluster id, controller, brokers and topic count", runClusterInfo},
		{"health", "report offline and under-replicated partitions and brokers that are down; exit 1 if unhealthy", runClusterHealth},
	}
}

func runCluster(args []string) error {
	return runSubcommands("cluster", clusterUsage, clusterCommands(), args)
}

func runClusterInfo(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("cluster info", `usage: cairn cluster info [flags]

Shows the cluster id, the active controller, every broker the cluster lists
(id, address, rack) and how many topics and partitions it has.

examples:
  cairn cluster info
  cairn cluster info --brokers 10.0.0.1:9092
  cairn cluster info --json | jq .controller
`, std)
	metadata, asJSON, err := readMetadata(ctx, fs, "cluster info", args, std)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(std.out, clusterInfoJSON(metadata))
	}
	partitions := 0
	for _, t := range metadata.Topics {
		partitions += len(t.Partitions)
	}
	fmt.Fprintf(std.out, "CLUSTER     %s\nCONTROLLER  %s\nTOPICS      %d\nPARTITIONS  %d\n\n", orDash(metadata.Cluster), controllerText(metadata.Controller), len(metadata.Topics), partitions)
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BROKER\tADDRESS\tRACK")
	for _, b := range metadata.Brokers {
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		id := fmt.Sprint(b.NodeID)
		if b.NodeID == metadata.Controller {
			id += "*"
		}
		fmt.Fprintf(w, "%s\t%s:%d\t%s\n", id, b.Host, b.Port, rack)
	}
	return w.Flush()
}

// readMetadata parses a cluster verb's flags (it takes no arguments),
// connects, and reads the cluster's Metadata.
func readMetadata(ctx context.Context, fs *flag.FlagSet, verb string, args []string, std streams) (kadm.Metadata, bool, error) {
	cf := addClientFlags(fs)
	output := addOutputFlags(fs)
	if rest, err := parseInterleaved(fs, args, std.out); err != nil {
		return kadm.Metadata{}, false, err
	} else if len(rest) > 0 {
		return kadm.Metadata{}, false, fmt.Errorf("unexpected argument %q: %s takes no arguments", rest[0], verb)
	}
	asJSON, err := output.wantJSON()
	if err != nil {
		return kadm.Metadata{}, false, err
	}
	client, admin, err := cf.connect(ctx)
	if err != nil {
		return kadm.Metadata{}, false, err
	}
	defer client.Close()
	metadata, err := admin.Metadata(ctx)
	if err != nil {
		return kadm.Metadata{}, false, fmt.Errorf("read the cluster's metadata: %w", err)
	}
	return metadata, asJSON, nil
}

type brokerJSON struct {
	NodeID     int32   `json:"node_id"`
	Host       string  `json:"host"`
	Port       int32   `json:"port"`
	Rack       *string `json:"rack"`
	Controller bool    `json:"controller"`
}

func clusterInfoJSON(metadata kadm.Metadata) any {
	partitions := 0
	for _, t := range metadata.Topics {
		partitions += len(t.Partitions)
	}
	brokers := []brokerJSON{}
	for _, b := range metadata.Brokers {
		brokers = append(brokers, brokerJSON{b.NodeID, b.Host, b.Port, b.Rack, b.NodeID == metadata.Controller})
	}
	return struct {
		ClusterID  *string      `json:"cluster_id"`
		Controller *int32       `json:"controller"`
		Topics     int          `json:"topics"`
		Partitions int          `json:"partitions"`
		Brokers    []brokerJSON `json:"brokers"`
	}{known(metadata.Cluster, metadata.Cluster != ""), known(metadata.Controller, metadata.Controller >= 0), len(metadata.Topics), partitions, brokers}
}

func controllerText(id int32) string {
	if id < 0 {
		return "unknown"
	}
	return fmt.Sprint(id)
}

// clusterHealth is what cairn cluster health reports.
type clusterHealth struct {
	controller int32
	brokers    []int32
	// down are brokers that replicas are assigned to but that the
	// cluster's Metadata does not list (Metadata lists only live brokers).
	down            []int32
	offline         []string // topic/partition without a leader
	underReplicated []string // topic/partition whose ISR is smaller than its replicas
	partitions      int
}

// json is cluster health --json's document; every partition is named
// (the text form names at most listedMax).
func (h clusterHealth) json() any {
	return struct {
		Healthy                   bool     `json:"healthy"`
		Controller                *int32   `json:"controller"`
		Brokers                   []int32  `json:"brokers"`
		BrokersDown               []int32  `json:"brokers_down"`
		Partitions                int      `json:"partitions"`
		OfflinePartitions         []string `json:"offline_partitions"`
		UnderReplicatedPartitions []string `json:"under_replicated_partitions"`
	}{h.healthy(), known(h.controller, h.controller >= 0), sortedInt32s(h.brokers), sortedInt32s(h.down), h.partitions,
		append([]string{}, h.offline...), append([]string{}, h.underReplicated...)}
}

func (h clusterHealth) healthy() bool {
	return h.controller >= 0 && len(h.down) == 0 && len(h.offline) == 0 && len(h.underReplicated) == 0
}

func assessHealth(metadata kadm.Metadata) clusterHealth {
	h := clusterHealth{controller: metadata.Controller}
	live := map[int32]bool{}
	for _, b := range metadata.Brokers {
		live[b.NodeID] = true
		h.brokers = append(h.brokers, b.NodeID)
	}
	down := map[int32]bool{}
	for _, name := range metadata.Topics.Names() {
		t := metadata.Topics[name]
		for _, p := range t.Partitions.Sorted() {
			h.partitions++
			id := fmt.Sprintf("%s/%d", name, p.Partition)
			if p.Leader < 0 {
				h.offline = append(h.offline, id)
			}
			if len(p.ISR) < len(p.Replicas) {
				h.underReplicated = append(h.underReplicated, id)
			}
			for _, r := range p.Replicas {
				if !live[r] {
					down[r] = true
				}
			}
		}
	}
	for id := range down {
		h.down = append(h.down, id)
	}
	sort.Slice(h.down, func(i, j int) bool { return h.down[i] < h.down[j] })
	return h
}

func runClusterHealth(ctx context.Context, args []string, std streams) error {
	fs := newFlagSet("cluster health", `usage: cairn cluster health [flags]

Reports whether the cluster is healthy: a controller is known, every broker
that holds replicas is up, and no partition is offline (without a leader) or
under-replicated (ISR smaller than its replicas). Exits with status 1 when
it is not, so scripts can wait on it. The same facts are on each broker's
/metrics (cairn_offline_partitions, cairn_under_replicated_partitions,
cairn_controller_id, cairn_brokers).

examples:
  cairn cluster health
  until cairn cluster health >/dev/null; do sleep 1; done
  cairn cluster health --json | jq .under_replicated_partitions
`, std)
	metadata, asJSON, err := readMetadata(ctx, fs, "cluster health", args, std)
	if err != nil {
		return err
	}
	h := assessHealth(metadata)
	if asJSON {
		if err := writeJSON(std.out, h.json()); err != nil {
			return err
		}
		if !h.healthy() {
			return errors.New("the cluster is not healthy")
		}
		return nil
	}
	fmt.Fprintf(std.out, "HEALTHY                     %t\n", h.healthy())
	fmt.Fprintf(std.out, "CONTROLLER                  %s\n", controllerText(h.controller))
	fmt.Fprintf(std.out, "BROKERS                     %s\n", int32sText(h.brokers))
	fmt.Fprintf(std.out, "BROKERS DOWN                %s\n", int32sText(h.down))
	fmt.Fprintf(std.out, "PARTITIONS                  %d\n", h.partitions)
	fmt.Fprintf(std.out, "OFFLINE PARTITIONS          %d%s\n", len(h.offline), listed(h.offline))
	fmt.Fprintf(std.out, "UNDER-REPLICATED PARTITIONS %d%s\n", len(h.underReplicated), listed(h.underReplicated))
	if !h.healthy() {
		return errors.New("the cluster is not healthy")
	}
	return nil
}

// listedMax bounds how many partitions a health line names.
const listedMax = 20

func listed(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if len(ids) > listedMax {
		return fmt.Sprintf(" (%s, and %d more)", strings.Join(ids[:listedMax], ", "), len(ids)-listedMax)
	}
	return " (" + strings.Join(ids, ", ") + ")"
}

package specs

import (
	"errors"
	"testing"
	"time"

	"cairn/core"
)

// replicationExplorations are the configurations the explorer covers: the
// durable mode with two and three replicas, min.insync.replicas 1 and 2
// (with 2 of 2, a replica that leaves the ISR joins the ELR and can lead
// after a second failure, which is what KIP-101's and KIP-279's chains
// need), answers delayed past elections, and Kafka's replication mode
// (where the controller applies KIP-966 to a replica that restarted after
// an unclean shutdown).
//
// The cheapest configurations that find most mutants come first: the
// mutants test stops at the first that finds each.
var replicationExplorations = []struct {
	name   string
	config ClusterExploreConfig
}{
	{"rf2-durable-minisr2", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 2}, Depth: 9, CrashesMax: 2, ProducesMax: 2}},
	{"rf2-replication", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 1, Durability: core.ReplicationAcks}, Depth: 9, CrashesMax: 1, ProducesMax: 2}},
	{"rf2-durable", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 1}, Depth: 9, CrashesMax: 2, ProducesMax: 2}},
	{"rf3-durable-minisr2", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 3, MinInsyncReplicas: 2}, Depth: 7, CrashesMax: 1, ProducesMax: 1}},
	{"rf3-durable-fast-followers", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 3, MinInsyncReplicas: 1, SyncFollowers: true}, Depth: 8, CrashesMax: 1, ProducesMax: 1}},
	{"rf2-durable-delayed-answers", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 1}, Depth: 9, CrashesMax: 2, ProducesMax: 1, DelayAnswers: true}},
}

// TestExploreReplication: no interleaving within the bounds breaks a
// predicate.
func TestExploreReplication(t *testing.T) {
	for _, e := range replicationExplorations {
		t.Run(e.name, func(t *testing.T) {
			start := time.Now()
			result, err := ExploreReplication(e.config)
			if err != nil {
				t.Fatal(explainViolation(err, ""))
			}
			if result.Sequences < 1000 {
				t.Fatalf("only %d states explored", result.Sequences)
			}
			t.Logf("%d states, %d steps in %v", result.Sequences, result.Steps, time.Since(start).Round(time.Millisecond))
		})
	}
}

// explainViolation says what the explorer found and how to replay it.
func explainViolation(err error, mutantName string) string {
	var v *ClusterViolation
	if !errors.As(err, &v) {
		return err.Error()
	}
	dir, tags := "cluster", ""
	if mutantName != "" {
		dir, tags = "cluster_mutants", "-tags cairn_mutants "
	}
	return "explorer: " + err.Error() + "\nto replay, save the transcript below as specs/testdata/" + dir +
		"/found.txt and run\n  go test " + tags + "./specs -run 'ClusterTranscripts/found' -rewrite\n" +
		"which fills in every step's effects, the last ending in VIOLATION:\n" + v.Transcript(mutantName)
}

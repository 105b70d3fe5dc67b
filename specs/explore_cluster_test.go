package specs

import (
	"testing"
	"time"

	"cairn/core"
)

// replicationExplorations are the configurations the explorer covers: the
// durable mode with two and three replicas, min.insync.replicas 1 and 2,
// and Kafka's replication mode (where the controller applies KIP-966 to a
// replica that restarted after an unclean shutdown).
var replicationExplorations = []struct {
	name   string
	config ClusterExploreConfig
}{
	{"rf2-durable", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 1}, Depth: 9, CrashesMax: 2, ProducesMax: 2}},
	{"rf2-durable-minisr2", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 2}, Depth: 9, CrashesMax: 2, ProducesMax: 2}},
	{"rf3-durable-minisr2", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 3, MinInsyncReplicas: 2}, Depth: 7, CrashesMax: 1, ProducesMax: 1}},
	{"rf3-durable-fast-followers", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 3, MinInsyncReplicas: 1, SyncFollowers: true}, Depth: 8, CrashesMax: 1, ProducesMax: 1}},
	{"rf2-replication", ClusterExploreConfig{Cluster: ClusterConfig{Replicas: 2, MinInsyncReplicas: 1, Durability: core.ReplicationAcks}, Depth: 9, CrashesMax: 1, ProducesMax: 2}},
}

// TestExploreReplication: no interleaving within the bounds breaks a
// predicate.
func TestExploreReplication(t *testing.T) {
	for _, e := range replicationExplorations {
		t.Run(e.name, func(t *testing.T) {
			start := time.Now()
			result, err := ExploreReplication(e.config)
			if err != nil {
				t.Fatal(err)
			}
			if result.Sequences < 100 {
				t.Fatalf("only %d states explored", result.Sequences)
			}
			t.Logf("%d states, %d steps in %v", result.Sequences, result.Steps, time.Since(start).Round(time.Millisecond))
		})
	}
}

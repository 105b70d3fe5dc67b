package specs

import (
	"testing"

	"cairn/core"
)

// TestExploreDurable checks every interleaving of seven events: produces, fsync
// completions and two crashes on one replica in the durable mode.
func TestExploreDurable(t *testing.T) {
	result, err := Explore(ExploreConfig{Depth: 7, CrashesMax: 2, Durability: core.DurableAcks})
	if err != nil {
		t.Fatal(err)
	}
	if result.Sequences < 1000 {
		t.Fatalf("only %d sequences explored", result.Sequences)
	}
	t.Logf("%d sequences, %d steps", result.Sequences, result.Steps)
}

// TestExploreFindsKafkaModeLoss is the explorer's own check: in the
// replication mode (Kafka's flush=replication) an acknowledged record lives
// only in the page cache, so some crash must lose it — and the explorer must
// say so.
func TestExploreFindsKafkaModeLoss(t *testing.T) {
	_, err := Explore(ExploreConfig{Depth: 3, CrashesMax: 1, Durability: core.ReplicationAcks})
	if err == nil {
		t.Fatal("the explorer found no loss in the replication mode, where power loss must lose acknowledged records")
	}
	t.Logf("found as expected: %v", err)
}

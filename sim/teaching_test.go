//go:build cairn_mutants

package sim

import (
	"strings"
	"testing"

	"cairn/core"
	"cairn/core/mutant"
)

// TestTeachingCase (run by make test with the mutant sweep) pins the walk-through of docs/DURABILITY.md: seed 441,
// reduced to five faults, loses acknowledged records under Kafka's rules
// before KIP-966 (the last-replica-standing mutant), and loses nothing in
// either of Cairn's modes. If the workload changes and the seed no longer
// tells this story, this test fails and the page needs a new seed.
func TestTeachingCase(t *testing.T) {
	defer mutant.Set(mutant.None)
	reduction := Reduction{Faults: []int{6, 8, 9, 10, 11}, Produces: 1}
	replication := reduction.Apply(Scenario(441))
	if replication.Durability != core.ReplicationAcks || replication.Brokers != 3 || replication.MinInsyncReplicas != 2 {
		t.Fatalf("seed 441 is no longer the page's scenario: %s", replication)
	}
	if err := mutant.Set(mutant.LastReplicaStanding); err != nil {
		t.Fatal(err)
	}
	r := Run(replication, nil)
	if !r.Failed() {
		t.Fatal("Kafka's rules before KIP-966 lost nothing at seed 441: docs/DURABILITY.md needs a new seed")
	}
	lost := false
	for _, v := range r.Violations {
		lost = lost || strings.Contains(v.String(), "moved back") || v.Kind == "lost-write"
	}
	if !lost {
		t.Fatalf("seed 441 without KIP-966 failed otherwise than by losing records: %v", r.Violations)
	}
	if err := mutant.Set(mutant.None); err != nil {
		t.Fatal(err)
	}
	if r := Run(replication, nil); r.Failed() {
		t.Fatalf("Cairn's replication mode failed seed 441: %v", r.Violations)
	}
	durable := reduction.Apply(ScenarioInMode(441, core.DurableAcks, true))
	if r := Run(durable, nil); r.Failed() {
		t.Fatalf("Cairn's durable mode failed seed 441: %v", r.Violations)
	}
}

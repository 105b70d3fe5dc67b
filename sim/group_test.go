package sim

import (
	"strings"
	"testing"
)

// groupSeeds is how many seeds TestGroupWorkload runs.
const groupSeeds = 12

// TestGroupWorkload runs seeded scenarios with a three-member consumer
// group besides the usual clients: members join, leave, crash and pause
// while brokers crash, pause and lose their network, and the group's
// checks (group.go) must hold.
func TestGroupWorkload(t *testing.T) {
	for seed := uint64(1); seed <= groupSeeds; seed++ {
		r := RunGroups(Scenario(seed), 3, nil)
		if r.Failed() {
			t.Errorf("seed=%d: %s", seed, r.Violations[0])
		}
	}
}

// TestGroupWorkloadDeterministic: one seed, run twice, gives one trace.
func TestGroupWorkloadDeterministic(t *testing.T) {
	var first, second strings.Builder
	a := RunGroups(Scenario(5), 3, &first)
	b := RunGroups(Scenario(5), 3, &second)
	if a.TraceHash != b.TraceHash {
		t.Fatalf("seed 5 with a group: trace hashes %x and %x differ", a.TraceHash, b.TraceHash)
	}
	if !strings.Contains(first.String(), "synced generation") {
		t.Fatal("seed 5: no member ever synced a generation")
	}
}

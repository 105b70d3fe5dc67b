//go:build cairn_mutants

package specs

import (
	"testing"

	"cairn/core"
	"cairn/core/mutant"
)

// TestMutantsExplorer: the core-level mutants must be found by the bounded
// explorer too, not only by the simulator.
func TestMutantsExplorer(t *testing.T) {
	defer mutant.Set(mutant.None)
	for _, id := range []mutant.ID{mutant.AckBeforeFsync, mutant.HighWatermarkPastDurable} {
		if err := mutant.Set(id); err != nil {
			t.Fatal(err)
		}
		_, err := Explore(ExploreConfig{Depth: 4, CrashesMax: 1, Durability: core.DurableAcks})
		if err == nil {
			t.Errorf("mutant %s survived the explorer", id)
			continue
		}
		t.Logf("mutant %s found by the explorer: %v", id, err)
	}
}

//go:build cairn_mutants

package specs

import "testing"

// TestMutantsClusterTranscripts runs the stories of testdata/cluster_mutants:
// each re-introduces one replication bug and shows the harness's
// predicates catching it (each ends in a VIOLATION line).
func TestMutantsClusterTranscripts(t *testing.T) {
	runClusterTranscripts(t, "testdata/cluster_mutants")
}

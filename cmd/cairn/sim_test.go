package main

import (
	"strings"
	"testing"
)

// TestSimGroupFlag: cairn sim --group N runs a seed with a consumer group
// (the trace shows its members syncing), and refuses a negative size.
func TestSimGroupFlag(t *testing.T) {
	var out strings.Builder
	if err := runSimTo(&out, []string{"--seed", "5", "--group", "3", "--trace"}); err != nil {
		t.Fatalf("cairn sim --seed 5 --group 3: %v", err)
	}
	if !strings.HasPrefix(out.String(), "seed=5 ") && !strings.Contains(out.String(), "\nseed=5 ") {
		t.Fatalf("no seed=5 line in the output")
	}
	for _, want := range []string{"group=3", "g0 ", "synced generation"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the trace of cairn sim --seed 5 --group 3 never says %q", want)
		}
	}
	if err := runSimTo(&out, []string{"--seed", "5", "--group", "-1"}); err == nil || !strings.Contains(err.Error(), "--group") {
		t.Fatalf("--group -1: %v, want an error about --group", err)
	}
}

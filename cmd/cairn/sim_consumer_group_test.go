package main

import (
	"strings"
	"testing"
)

// TestSimGroupProtocolFlag: cairn sim --group N --group-protocol consumer
// runs a seed with a KIP-848 consumer group, mixed picks the protocol by
// seed (odd seeds the consumer protocol), and an unknown protocol is
// refused.
func TestSimGroupProtocolFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--seed", "5", "--group", "3", "--group-protocol", "consumer", "--trace"}, []string{"group-protocol=consumer", "cg0 ", "joined at epoch"}},
		{[]string{"--seed", "5", "--group", "3", "--group-protocol", "mixed", "--trace"}, []string{"group-protocol=consumer", "cg0 "}},
		{[]string{"--seed", "4", "--group", "3", "--group-protocol", "mixed", "--trace"}, []string{"group=3", "g0 ", "synced generation"}},
	} {
		var out strings.Builder
		if err := runSimTo(&out, c.args); err != nil {
			t.Fatalf("cairn sim %v: %v", c.args, err)
		}
		if c.args[1] == "4" && strings.Contains(out.String(), "group-protocol=consumer") {
			t.Fatalf("cairn sim %v ran the consumer protocol on an even seed", c.args)
		}
		for _, want := range c.want {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("the trace of cairn sim %v never says %q", c.args, want)
			}
		}
	}
	var out strings.Builder
	if err := runSimTo(&out, []string{"--seed", "5", "--group", "3", "--group-protocol", "eager"}); err == nil || !strings.Contains(err.Error(), "--group-protocol") {
		t.Fatalf("--group-protocol eager: %v, want an error about --group-protocol", err)
	}
}

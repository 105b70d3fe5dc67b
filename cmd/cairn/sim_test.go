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

// TestSimRefusesFlagsItWouldIgnore: flags that only mean something for one
// seed, or for a sweep, are refused where they would be silently ignored,
// and a fault index past the seed's schedule is named as such.
func TestSimRefusesFlagsItWouldIgnore(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--seeds", "1-3", "--trace"}, "give them with --seed N"},
		{[]string{"--seeds", "1-3", "--faults", "0"}, "give them with --seed N"},
		{[]string{"--seeds", "1-3", "--produces", "4"}, "give them with --seed N"},
		{[]string{"--seed", "3", "--first"}, "--first stops a sweep"},
		{[]string{"--seed", "3", "--faults=99"}, "there is no fault 99"},
		{[]string{"--seed", "3", "--mutant", "bogus"}, "the mutants are: "},
		{[]string{"--seed", "3", "--bogus"}, "run 'cairn sim -h'"},
	}
	for _, c := range cases {
		var out strings.Builder
		err := runSimTo(&out, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cairn sim %s: %v, want an error saying %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	// The mutant list names real mutants, e.g. the one the teaching case uses.
	err := runSimTo(&strings.Builder{}, []string{"--seed", "3", "--mutant", "bogus"})
	if err == nil || !strings.Contains(err.Error(), "elect-outside-isr") {
		t.Fatalf("--mutant bogus: %v, want the list of mutants", err)
	}
}

// TestSimMixesGroupsByDefault: without --group, seed 8 runs a classic
// group and seed 4 a KIP-848 one, seed 5 none; --group 0 runs none on
// seed 8; --group-protocol without --group is refused.
func TestSimMixesGroupsByDefault(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"--seed", "8", "--trace"}, "synced generation", "group-protocol=consumer"},
		{[]string{"--seed", "4", "--trace"}, "group-protocol=consumer", "synced generation"},
		{[]string{"--seed", "5", "--trace"}, "", " group="},
		{[]string{"--seed", "8", "--group", "0", "--trace"}, "", " group="},
	} {
		var out strings.Builder
		if err := runSimTo(&out, c.args); err != nil {
			t.Fatalf("cairn sim %v: %v", c.args, err)
		}
		if c.want != "" && !strings.Contains(out.String(), c.want) {
			t.Errorf("the trace of cairn sim %v never says %q", c.args, c.want)
		}
		if strings.Contains(out.String(), c.notWant) {
			t.Errorf("the trace of cairn sim %v says %q", c.args, c.notWant)
		}
	}
	err := runSimTo(&strings.Builder{}, []string{"--seeds", "1-4", "--group-protocol", "consumer"})
	if err == nil || !strings.Contains(err.Error(), "needs --group N") {
		t.Fatalf("--group-protocol without --group: %v, want a refusal", err)
	}
}

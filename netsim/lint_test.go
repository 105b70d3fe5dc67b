package netsim

import (
	"testing"

	"cairn/specs/lint"
)

// TestNetsimIsDeterministic fails if a non-test file of the package imports
// what the package doc forbids, reads the clock, draws global randomness, or
// starts a goroutine.
func TestNetsimIsDeterministic(t *testing.T) {
	problems, err := lint.Check(".", lint.Deterministic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

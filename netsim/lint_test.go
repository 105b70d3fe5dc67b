package netsim

import (
	"testing"

	"cairn/specs/lint"
)

// TestNetsimIsDeterministic fails if a non-test file of the package imports
// what the package doc forbids, reads the clock, draws global randomness, or
// starts a goroutine.
func TestNetsimIsDeterministic(t *testing.T) {
	lint.Enforce(t, ".", lint.Deterministic)
}

package transport

import (
	"testing"

	"cairn/specs/lint"
)

// TestTransportIsDeterministic: the simulator runs this package as the
// shell does, so it holds decisions only, no sockets, clock or goroutines.
func TestTransportIsDeterministic(t *testing.T) {
	lint.Enforce(t, ".", lint.Deterministic)
}

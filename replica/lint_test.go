package replica

import (
	"testing"

	"cairn/specs/lint"
)

// TestNodeIsDeterministic keeps the node under the simulator's rules: no
// clock (time arrives with every call), no global or unseeded randomness
// (Env.Rand is seeded), no goroutines, locks, sockets or direct file access
// (Env.FS). The runtime shell, which has all of those, is replica/shell.
func TestNodeIsDeterministic(t *testing.T) {
	lint.Enforce(t, ".", lint.Deterministic)
}

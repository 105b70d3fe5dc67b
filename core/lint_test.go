package core

import (
	"testing"

	"cairn/specs/lint"
)

// TestCoreIsPure fails if any non-test file under core/ imports what the
// design forbids (math/rand, os, net, sync, context, log, ...), reads the
// clock, draws global randomness, or starts a goroutine.
func TestCoreIsPure(t *testing.T) {
	rules := lint.Deterministic
	rules.ForbiddenImports = append(rules.ForbiddenImports, "math/rand/v2", "log/slog", "io/ioutil")
	lint.EnforceTree(t, ".", rules)
}

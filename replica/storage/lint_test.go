package storage

import (
	"testing"

	"cairn/specs/lint"
)

// TestPackageRules enforces the package doc's promises on the code that
// ships: no wall clock, no randomness at all (not even seeded: nothing here
// chooses), no goroutines of its own, and files only through diskfault (so
// the simulator sees every byte).
func TestPackageRules(t *testing.T) {
	rules := lint.Deterministic
	rules.ForbiddenImports = append(rules.ForbiddenImports, "math/rand/v2")
	lint.Enforce(t, ".", rules)
}

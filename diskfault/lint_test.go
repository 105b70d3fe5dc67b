package diskfault

import (
	"testing"

	"cairn/specs/lint"
)

// TestLintDeterminism: no wall clock, no timers, and no randomness but a
// caller's *rand.Rand. Unlike the simulator's other packages, diskfault may
// use os (the OS implementation), syscall (errno values) and sync (Mem is
// safe for concurrent use by the real broker's tests).
func TestLintDeterminism(t *testing.T) {
	lint.Enforce(t, ".", lint.Rules{
		ForbiddenImports: []string{"math/rand", "crypto/rand"},
		NoClock:          true,
		NoGlobalRandom:   true,
		NoGoroutines:     true,
	})
}

//go:build !cairn_mutants

package mutant

// Enabled is false in production builds: every mutant check is dead code.
const Enabled = false

//go:build cairn_mutants

package mutant

// Enabled is true in builds with the cairn_mutants tag.
const Enabled = true

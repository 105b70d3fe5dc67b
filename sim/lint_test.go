package sim

import (
	"testing"

	"cairn/specs/lint"
)

// TestSimIsDeterministic keeps nondeterminism out of a run. Two files are
// excused, for reasons outside a run: sweep.go runs independent seeds on
// several goroutines (each seed stays single-threaded), and report.go writes a
// failing seed's report files after the run is over.
func TestSimIsDeterministic(t *testing.T) {
	rules := lint.Deterministic
	rules.Exempt = map[string]string{
		"sweep.go":  "parallel sweep of independent seeds",
		"report.go": "writes a failing seed's report files after the run",
	}
	lint.Enforce(t, ".", rules)
}

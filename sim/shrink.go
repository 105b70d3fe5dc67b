package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// shrinkRunsMax bounds the runs a shrink may spend.
const shrinkRunsMax = 300

// Reduction names a smaller version of a seed's scenario: the indices of the
// scheduled faults kept, and a cap on each producer's requests. Zero values
// mean "as drawn".
type Reduction struct {
	Faults   []int // nil: all faults
	Produces int   // 0: as drawn
}

// Apply narrows a scenario to the reduction.
func (r Reduction) Apply(o Options) Options {
	if r.Faults != nil {
		kept := make([]Fault, 0, len(r.Faults))
		for _, i := range r.Faults {
			if i >= 0 && i < len(o.Faults) {
				kept = append(kept, o.Faults[i])
			}
		}
		o.Faults = kept
	}
	if r.Produces > 0 && r.Produces < o.ProducesPerProducer {
		o.ProducesPerProducer = r.Produces
	}
	return o
}

// Flags renders the reduction as `cairn sim` flags.
func (r Reduction) Flags() string {
	var parts []string
	if r.Faults != nil {
		ids := make([]string, len(r.Faults))
		for i, f := range r.Faults {
			ids[i] = strconv.Itoa(f)
		}
		parts = append(parts, "--faults="+strings.Join(ids, ","))
		if len(ids) == 0 {
			parts[len(parts)-1] = "--faults=none"
		}
	}
	if r.Produces > 0 {
		parts = append(parts, fmt.Sprintf("--produces=%d", r.Produces))
	}
	return strings.Join(parts, " ")
}

// ParseFaults reads a --faults value: "none" or a comma-separated list.
func ParseFaults(s string) ([]int, error) {
	if s == "none" {
		return []int{}, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || i < 0 {
			return nil, fmt.Errorf("--faults: %q is not a fault index", part)
		}
		out = append(out, i)
	}
	return out, nil
}

// Shrink looks for a smaller reproduction of a failing seed: fewer faults
// (dropping one at a time while the run still fails), then fewer produce
// requests per producer (halving). Any violation counts as still failing.
// It returns the reduction and the failing result it leads to.
func Shrink(base Options, failing Result) (Reduction, Result) {
	all := make([]int, len(base.Faults))
	for i := range all {
		all[i] = i
	}
	best := Reduction{Faults: all}
	bestResult := failing
	runs := 0
	try := func(r Reduction) bool {
		if runs >= shrinkRunsMax {
			return false
		}
		runs++
		result := Run(r.Apply(base), nil)
		if result.Failed() {
			best, bestResult = r, result
			return true
		}
		return false
	}
	for i := 0; i < len(best.Faults); {
		fewer := append(append([]int{}, best.Faults[:i]...), best.Faults[i+1:]...)
		if !try(Reduction{Faults: fewer, Produces: best.Produces}) {
			i++
		}
	}
	for produces := base.ProducesPerProducer / 2; produces >= 1; produces /= 2 {
		if !try(Reduction{Faults: best.Faults, Produces: produces}) {
			break
		}
	}
	return best, bestResult
}

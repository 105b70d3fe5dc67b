package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// simulatorSeeds is how many seeds the benchmark sweeps to measure the
// simulator's speed.
const simulatorSeeds = 1000

// simulatorResult is one timed `cairn sim` sweep of the default scenario.
type simulatorResult struct {
	Seeds          int
	Operations     int
	Virtual, Real  time.Duration
	SpeedUp        float64
	SeedsPerMinute float64
	Violations     int
	Summary        string
}

var simulatorSummary = regexp.MustCompile(`seeds=(\d+) operations=(\d+) events=\d+ virtual=(\S+) real=(\S+) speedup=(\d+)x violations=(\d+)`)

// measureSimulator runs a seed sweep and reads its summary line.
func measureSimulator(ctx context.Context, processes *supervisor, binary string) (simulatorResult, error) {
	output, err := processes.run(ctx, 10*time.Minute, binary, "sim", "--seeds", fmt.Sprintf("1-%d", simulatorSeeds), "--no-shrink")
	m := simulatorSummary.FindStringSubmatch(string(output))
	if m == nil {
		return simulatorResult{}, fmt.Errorf("cairn sim printed no summary (%v): %s", err, output)
	}
	r := simulatorResult{Summary: m[0]}
	r.Seeds, _ = strconv.Atoi(m[1])
	r.Operations, _ = strconv.Atoi(m[2])
	r.Virtual, _ = time.ParseDuration(m[3])
	r.Real, _ = time.ParseDuration(m[4])
	r.SpeedUp, _ = strconv.ParseFloat(m[5], 64)
	r.Violations, _ = strconv.Atoi(m[6])
	if r.Real > 0 {
		r.SeedsPerMinute = float64(r.Seeds) / r.Real.Minutes()
	}
	return r, nil
}

// markdown renders the simulator section of docs/PERFORMANCE.md.
func (r simulatorResult) markdown() string {
	return fmt.Sprintf(`## Simulator

The default scenario (1 to 5 brokers, replication factor 1 to the broker count, swarm faults), swept with `+"`bin/cairn sim --seeds 1-%d --no-shrink`"+` on both cores in the same run:

| seeds | operations | virtual time | real time | seeds per minute | virtual ÷ real | violations |
|---:|---:|---:|---:|---:|---:|---:|
| %d | %d | %v | %v | %.0f | %.0fx | %d |

Target: at least 500x faster than real time.

`, simulatorSeeds, r.Seeds, r.Operations, r.Virtual, r.Real, r.SeedsPerMinute, r.SpeedUp, r.Violations)
}

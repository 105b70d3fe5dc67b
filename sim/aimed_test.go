package sim

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// TestControlFaultsStrike: each control fault finds its target in some
// seeds (counted from the trace's AIMED lines), and the runs keep every
// guarantee. A fault kind that never strikes would test nothing. The
// recipes are rarer than the request faults: a seed with the cut-leader
// chain (every durable seed of several brokers) gets none (clearOfChain).
func TestControlFaultsStrike(t *testing.T) {
	const seeds = 300
	struck := map[FaultKind]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		var trace bytes.Buffer
		r := Run(Scenario(seed), &trace)
		if r.Failed() {
			t.Errorf("seed=%d: %s (replay: go run ./cmd/cairn sim --seed %d --trace)", seed, r.Violations[0], seed)
		}
		lines := bufio.NewScanner(&trace)
		for lines.Scan() {
			_, rest, ok := strings.Cut(lines.Text(), " AIMED ")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, ":")
			for k := FaultDropAnswer; k <= FaultPauseController; k++ {
				if k.String() == name {
					struck[k]++
				}
			}
		}
	}
	for k := FaultDropAnswer; k <= FaultPauseController; k++ {
		t.Logf("%-22s struck %d time(s) in seeds 1-%d", k, struck[k], seeds)
		if struck[k] == 0 {
			t.Errorf("%s never struck in seeds 1-%d", k, seeds)
		}
	}
}

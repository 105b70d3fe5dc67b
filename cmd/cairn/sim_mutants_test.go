//go:build cairn_mutants

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cairn/core/mutant"
)

// TestSimSweepReportsEveryFailingSeedMutant: a sweep writes, for each
// failing seed, its trace and Porcupine's HTML (the sweep drops histories
// to keep memory flat, so the report must get them back from the replay);
// --first stops handing out seeds after the first failure.
func TestSimSweepReportsEveryFailingSeedMutant(t *testing.T) {
	defer mutant.Set(mutant.None)
	dir := t.TempDir()
	var out strings.Builder
	err := runSimTo(&out, []string{"--seeds", "1-6", "--mutant", "elect-outside-isr", "--no-shrink", "--parallel", "2", "--report-dir", dir})
	if err == nil {
		t.Fatalf("elect-outside-isr survived seeds 1-6:\n%s", out.String())
	}
	failed := regexp.MustCompile(`(?m)^seed=(\d+) FAILED`).FindAllStringSubmatch(out.String(), -1)
	if len(failed) == 0 {
		t.Fatalf("no failing seed printed:\n%s", out.String())
	}
	for _, m := range failed {
		seed := m[1]
		if _, err := os.Stat(filepath.Join(dir, "seed-"+seed+".trace.txt")); err != nil {
			t.Errorf("seed %s: no trace: %v", seed, err)
		}
		html, _ := filepath.Glob(filepath.Join(dir, "seed-"+seed+"-*.html"))
		if len(html) == 0 {
			t.Errorf("seed %s: no HTML report in %s", seed, dir)
		}
	}

	out.Reset()
	mutant.Set(mutant.None)
	err = runSimTo(&out, []string{"--seeds", "1-40", "--mutant", "elect-outside-isr", "--no-shrink", "--parallel", "2", "--first", "--report-dir", t.TempDir()})
	if err == nil {
		t.Fatalf("elect-outside-isr survived seeds 1-40:\n%s", out.String())
	}
	m := regexp.MustCompile(`(?m)^seeds=(\d+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary line:\n%s", out.String())
	}
	// Seed 1 fails; two workers hold at most two seeds and the feeder
	// hands out at most one more once stopped.
	if seeds, _ := strconv.Atoi(m[1]); seeds > 5 {
		t.Fatalf("--first ran %d seeds after the first failure at seed 1:\n%s", seeds, out.String())
	}
}

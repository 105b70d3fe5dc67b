package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"cairn/linearizability"
)

// Report writes a failing run's evidence into dir: the readable trace of a
// replay and Porcupine's visualization of every partition that failed (of
// every partition, when the seed failed a guarantee other than
// linearizability). It returns the paths written.
func Report(dir string, r Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("seed-%d", r.Options.Seed)
	tracePath := filepath.Join(dir, name+".trace.txt")
	f, err := os.Create(tracePath)
	if err != nil {
		return nil, err
	}
	replay := Run(r.Options, f)
	if err := f.Close(); err != nil {
		return nil, err
	}
	paths := []string{tracePath}
	if replay.TraceHash != r.TraceHash {
		return paths, fmt.Errorf("replay of seed %d diverged: trace hash %016x, first run %016x", r.Options.Seed, replay.TraceHash, r.TraceHash)
	}
	// A sweep drops each result's history to keep its memory flat; the
	// replay, identical by its trace hash, has it again.
	history, check := r.History, r.Check
	if len(history) == 0 {
		history, check = replay.History, replay.Check
	}
	if len(history) > 0 && len(check.Partitions) == 0 {
		// The run stopped at a per-event check before its end-of-run
		// checks: judge the history it recorded up to there.
		check = linearizability.CheckLog(history, checkTimeout)
	}
	if len(history) > 0 && len(check.Partitions) > 0 {
		more, err := linearizability.WriteReport(dir, name, history, check)
		if err == nil && len(more) == 0 {
			// Linearizable, yet the seed failed another guarantee: show
			// every partition's history so the report is never only a trace.
			more, err = linearizability.WriteReportAll(dir, name, history, check)
		}
		if err != nil {
			return paths, err
		}
		paths = append(paths, more...)
	}
	sort.Strings(paths)
	return paths, nil
}

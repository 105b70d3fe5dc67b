package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"cairn/linearizability"
)

// Report writes a failing run's evidence into dir: the readable trace of a
// replay and Porcupine's visualization of every partition that failed. It
// returns the paths written.
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
	if len(r.History) > 0 && len(r.Check.Partitions) > 0 {
		more, err := linearizability.WriteReport(dir, name, r.History, r.Check)
		if err != nil {
			return paths, err
		}
		paths = append(paths, more...)
	}
	sort.Strings(paths)
	return paths, nil
}

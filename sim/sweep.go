package sim

import (
	"cairn/linearizability"

	"runtime"
	"sort"
	"sync"
	"time"
)

// Summary totals a sweep.
type Summary struct {
	Seeds      int
	Operations int
	Events     int64
	Virtual    time.Duration
	Real       time.Duration
	Failures   []Result // sorted by seed
}

// SpeedUp is virtual time simulated per unit of real time.
func (s Summary) SpeedUp() float64 {
	if s.Real <= 0 {
		return 0
	}
	return float64(s.Virtual) / float64(s.Real)
}

// Sweep runs every seed in [first, last], parallel across workers (each seed
// still single-threaded and deterministic), and calls progress (if not nil)
// after each seed, from one goroutine at a time.
func Sweep(first, last uint64, workers int, scenario func(uint64) Options, progress func(Result)) Summary {
	return SweepUntil(first, last, workers, scenario, func(r Result) bool {
		if progress != nil {
			progress(r)
		}
		return false
	})
}

// SweepUntil is Sweep that stops handing out seeds once done returns true
// for a result. Seeds are handed out in order, so every seed below one that
// made done true has been handed out already: those still running finish
// and are counted, and the lowest failing seed of the summary is the lowest
// failing seed of the range up to where the sweep stopped.
func SweepUntil(first, last uint64, workers int, scenario func(uint64) Options, done func(Result) bool) Summary {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	start := time.Now()
	seeds := make(chan uint64)
	results := make(chan Result)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				r := Run(scenario(seed), nil)
				r.History, r.Check = nil, linearizability.Result{} // a report re-runs the seed
				results <- r
			}
		}()
	}
	go func() {
	feed:
		for seed := first; seed <= last; seed++ {
			// Stopped already: hand out nothing more. (The select below
			// alone would pick at random between a ready worker and stop.)
			select {
			case <-stop:
				break feed
			default:
			}
			select {
			case seeds <- seed:
			case <-stop:
				break feed
			}
			if seed == last { // last may be the largest uint64
				break
			}
		}
		close(seeds)
		wg.Wait()
		close(results)
	}()
	var s Summary
	stopped := false
	for r := range results {
		s.Seeds++
		s.Operations += r.Operations
		s.Events += r.Events
		s.Virtual += r.Virtual
		if r.Failed() {
			s.Failures = append(s.Failures, r)
		}
		if done(r) && !stopped {
			stopped = true
			close(stop)
		}
	}
	s.Real = time.Since(start)
	sort.Slice(s.Failures, func(i, j int) bool { return s.Failures[i].Options.Seed < s.Failures[j].Options.Seed })
	return s
}

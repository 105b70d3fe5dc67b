package sim

import (
	"testing"
	"time"
)

func TestQuickSweep(t *testing.T) {
	start := time.Now()
	var virtual time.Duration
	for seed := uint64(1); seed <= 20; seed++ {
		r := Run(Scenario(seed), nil)
		virtual += r.Virtual
		if r.Failed() {
			t.Errorf("seed=%d: %v", seed, r.Violations)
		}
		t.Logf("seed=%d ops=%d events=%d virtual=%v hash=%016x", seed, r.Operations, r.Events, r.Virtual, r.TraceHash)
	}
	t.Logf("real %v virtual %v", time.Since(start), virtual)
}

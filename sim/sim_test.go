package sim

import (
	"bytes"
	"hash/fnv"
	"os"
	"strconv"
	"testing"
)

// sweepSeeds is how many seeds `go test` sweeps; CAIRN_SIM_SEEDS overrides
// it (make sim runs thousands).
func sweepSeeds(t *testing.T) uint64 {
	if s := os.Getenv("CAIRN_SIM_SEEDS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("CAIRN_SIM_SEEDS=%q: want a positive integer", s)
		}
		return n
	}
	return 100
}

// TestSweep runs the default scenario over many seeds, a consumer group of
// either protocol on one seed in four (MixedScenario, as `cairn sim`
// sweeps by default); every run must keep every guarantee.
func TestSweep(t *testing.T) {
	protocols := map[string]int{}
	summary := Sweep(1, sweepSeeds(t), 0, MixedScenario, func(r Result) {
		if r.Options.GroupMembers > 0 {
			protocols[r.Options.GroupProtocol]++
		}
	})
	for _, r := range summary.Failures {
		t.Errorf("seed=%d: %s (replay: go run ./cmd/cairn sim --seed %d --trace)", r.Options.Seed, r.Violations[0], r.Options.Seed)
	}
	t.Logf("seeds=%d operations=%d events=%d virtual=%v real=%v speedup=%.0fx",
		summary.Seeds, summary.Operations, summary.Events, summary.Virtual, summary.Real, summary.SpeedUp())
	if summary.Operations < int(summary.Seeds)*20 {
		t.Fatalf("only %d operations over %d seeds: the workload is not running", summary.Operations, summary.Seeds)
	}
	if groups := uint64(protocols[GroupProtocolClassic] + protocols[GroupProtocolConsumer]); groups != sweepSeeds(t)/mixedGroupEvery ||
		protocols[GroupProtocolClassic] == 0 || protocols[GroupProtocolConsumer] == 0 {
		t.Fatalf("group seeds by protocol %v over %d seeds: want one seed in %d, both protocols", protocols, summary.Seeds, mixedGroupEvery)
	}
}

// TestDeterminism runs seeds twice: the trace hashes and the readable traces
// must be identical, byte for byte.
func TestDeterminism(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		var first, second bytes.Buffer
		a := Run(Scenario(seed), &first)
		b := Run(Scenario(seed), &second)
		if a.TraceHash != b.TraceHash || !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("seed=%d: two runs differ: trace hashes %016x and %016x", seed, a.TraceHash, b.TraceHash)
		}
		h := fnv.New64a()
		h.Write(first.Bytes())
		if h.Sum64() != a.TraceHash {
			t.Fatalf("seed=%d: the trace hash is not the hash of the trace", seed)
		}
	}
	if Run(Scenario(1), nil).TraceHash == Run(Scenario(2), nil).TraceHash {
		t.Fatal("seeds 1 and 2 give the same trace: the seed does not reach the run")
	}
}

// TestFaultsHappen guards against a sweep that passes because nothing
// happens: across the default sweep, every fault kind must be scheduled.
func TestFaultsHappen(t *testing.T) {
	seen := map[FaultKind]int{}
	for seed := uint64(1); seed <= 50; seed++ {
		for _, f := range Scenario(seed).Faults {
			seen[f.Kind]++
		}
	}
	for k := FaultCrash; k < faultKinds; k++ {
		if seen[k] == 0 {
			t.Errorf("fault %s never scheduled in 50 seeds", k)
		}
	}
}

package sim

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// groupSeeds is how many seeds TestGroupWorkload runs: 24 since the
// producers pipeline (their workload moved, and seed 24 is now the first
// whose member goes on processing after a cut and is then fenced).
const groupSeeds = 36

// TestGroupWorkload runs seeded scenarios with a three-member consumer
// group besides the usual clients: members join, leave, crash, pause and
// are cut off from brokers while they consume the first topic and brokers
// crash, pause and lose their network, and the group's checks (group.go)
// must hold. The seeds must also exercise what the checks are about:
// records processed and committed, and a member cut off long enough to be
// fenced, which then hears so when it commits or heartbeats.
func TestGroupWorkload(t *testing.T) {
	var processed, cuts, fencedAfterCut, consumedWhileFenced int
	for seed := uint64(1); seed <= groupSeeds; seed++ {
		var trace strings.Builder
		r := RunGroups(Scenario(seed), 3, &trace)
		if r.Failed() {
			t.Errorf("seed=%d: %s (replay: cairn sim --seed %d --group 3 --trace)", seed, r.Violations[0], seed)
			continue
		}
		p, c, f, k := groupTraceCounts(trace.String())
		processed, cuts, fencedAfterCut, consumedWhileFenced = processed+p, cuts+c, fencedAfterCut+f, consumedWhileFenced+k
	}
	// One member alone owns every partition: a partition whose leader it
	// does not know must not stop it refreshing metadata while it fetches
	// the others (these seeds stalled once).
	for _, seed := range []uint64{43, 149} {
		if r := RunGroups(Scenario(seed), 1, nil); r.Failed() {
			t.Errorf("seed=%d: %s (replay: cairn sim --seed %d --group 1 --trace)", seed, r.Violations[0], seed)
		}
	}
	t.Logf("seeds 1-%d: %d offsets processed, %d cuts, %d stable members fenced after a cut, %d of them after processing records",
		groupSeeds, processed, cuts, fencedAfterCut, consumedWhileFenced)
	if processed == 0 || cuts == 0 || fencedAfterCut == 0 || consumedWhileFenced == 0 {
		t.Errorf("the seeds exercise too little: %d offsets processed, %d cuts, %d stable members fenced after a cut, %d of them after processing records",
			processed, cuts, fencedAfterCut, consumedWhileFenced)
	}
}

// groupTraceCounts reads a group run's trace: the offsets processed (the
// final check's summary), the members' cuts, the times a stable member
// that was cut off in its generation was then told it was fenced, and how
// many of those had gone on processing records after the cut.
func groupTraceCounts(trace string) (processed, cuts, fencedAfterCut, consumedWhileFenced int) {
	forTraceLines(trace, func(member, rest string, _ []string) {
		switch {
		case member == "group:":
			processed += offsetsProcessed(rest)
		case strings.HasPrefix(rest, "cut off from"):
			cuts++
		case strings.HasPrefix(rest, "hears it is fenced after a cut"):
			fencedAfterCut++
			var n int
			fmt.Sscanf(rest, "hears it is fenced after a cut, having processed %d", &n)
			if n > 0 {
				consumedWhileFenced++
			}
		}
	})
	return processed, cuts, fencedAfterCut, consumedWhileFenced
}

// forTraceLines calls f with each trace line of three fields or more: its
// second field (the member, for a member's lines), the fields after it
// joined by spaces, and all its fields.
func forTraceLines(trace string, f func(member, rest string, fields []string)) {
	for _, line := range strings.Split(trace, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		f(fields[1], strings.Join(fields[2:], " "), fields)
	}
}

// offsetsProcessed reads the offsets processed from the end-of-run line
// of a partition's coverage (checkCoverage).
func offsetsProcessed(rest string) int {
	var n int
	if i := strings.Index(rest, "; "); i >= 0 {
		fmt.Sscanf(rest[i+2:], "%d offsets processed", &n)
	}
	return n
}

// TestGroupWorkloadDeterministic: one seed, run twice, gives one trace.
func TestGroupWorkloadDeterministic(t *testing.T) {
	testGroupDeterministic(t, "a group", RunGroups, "synced generation", "starts partition", "fetched t0-")
}

// testGroupDeterministic runs seed 5 with a three-member group twice
// (run: RunGroups or RunConsumerGroups): the two traces must be one, and
// say each of want.
func testGroupDeterministic(t *testing.T, what string, run func(Options, int, io.Writer) Result, want ...string) {
	t.Helper()
	var first, second strings.Builder
	a := run(Scenario(5), 3, &first)
	b := run(Scenario(5), 3, &second)
	if a.TraceHash != b.TraceHash {
		t.Fatalf("seed 5 with %s: trace hashes %x and %x differ", what, a.TraceHash, b.TraceHash)
	}
	for _, want := range want {
		if !strings.Contains(first.String(), want) {
			t.Fatalf("seed 5: the trace never says %q", want)
		}
	}
}

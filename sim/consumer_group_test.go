package sim

import (
	"strings"
	"testing"
)

// consumerGroupSeeds is how many seeds TestConsumerGroupWorkload runs.
const consumerGroupSeeds = 12

// TestConsumerGroupWorkload runs seeded scenarios with a three-member
// KIP-848 consumer group (consumer_group.go) besides the usual clients,
// and its checks must hold. The seeds must also exercise what the checks
// are about: records processed and committed, revocations (a member
// commits, then heartbeats without what was taken away), both server-side
// assignors, a member cut off long enough to be fenced that hears so, and
// a coordinator failover (a member finds the coordinator on another
// broker than before), and a partition given to one member while another,
// fenced without knowing it yet, still believed it owned it (the
// ownership check then waits for the other's heartbeat to be fenced).
func TestConsumerGroupWorkload(t *testing.T) {
	var total consumerGroupCounts
	for seed := uint64(1); seed <= consumerGroupSeeds; seed++ {
		var trace strings.Builder
		r := RunConsumerGroups(Scenario(seed), 3, &trace)
		if r.Failed() {
			t.Errorf("seed=%d: %s (replay: cairn sim --seed %d --group 3 --group-protocol consumer --trace)", seed, r.Violations[0], seed)
			continue
		}
		total.add(consumerGroupTraceCounts(trace.String()))
	}
	t.Logf("seeds 1-%d: %+v", consumerGroupSeeds, total)
	if total.processed == 0 || total.revocations == 0 || total.fencedAfterCut == 0 || total.failovers == 0 ||
		total.uniform == 0 || total.ranged == 0 || total.givenWhileOwned == 0 {
		t.Errorf("the seeds exercise too little: %+v", total)
	}
}

type consumerGroupCounts struct {
	processed, revocations, fencedAfterCut, failovers, uniform, ranged, givenWhileOwned int
}

func (c *consumerGroupCounts) add(o consumerGroupCounts) {
	c.processed += o.processed
	c.revocations += o.revocations
	c.fencedAfterCut += o.fencedAfterCut
	c.failovers += o.failovers
	c.uniform += o.uniform
	c.ranged += o.ranged
	c.givenWhileOwned += o.givenWhileOwned
}

// consumerGroupTraceCounts reads a consumer group run's trace.
func consumerGroupTraceCounts(trace string) consumerGroupCounts {
	var c consumerGroupCounts
	coordinators := map[string]string{}
	forTraceLines(trace, func(member, rest string, fields []string) {
		switch {
		case member == "consumer" && strings.HasPrefix(rest, "group: t"):
			c.processed += offsetsProcessed(rest)
		case member == "consumer" && strings.HasSuffix(rest, "assignor uniform"):
			c.uniform++
		case member == "consumer" && strings.HasSuffix(rest, "assignor range"):
			c.ranged++
		case !strings.HasPrefix(member, "cg"):
		case strings.HasPrefix(rest, "revokes partitions"):
			c.revocations++
		case strings.HasPrefix(rest, "given partition") && strings.HasSuffix(rest, "still owns it"):
			c.givenWhileOwned++
		case strings.HasPrefix(rest, "hears it is fenced after a cut"):
			c.fencedAfterCut++
		case strings.HasPrefix(rest, "finds coordinator "):
			if before, ok := coordinators[member]; ok && before != fields[len(fields)-1] {
				c.failovers++
			}
			coordinators[member] = fields[len(fields)-1]
		}
	})
	return c
}

// TestConsumerGroupWorkloadDeterministic: one seed, run twice, gives one
// trace.
func TestConsumerGroupWorkloadDeterministic(t *testing.T) {
	testGroupDeterministic(t, "a consumer group", RunConsumerGroups, "joined at epoch", "starts partition", "fetched t0-")
}

package sim

import (
	"testing"
	"time"

	"cairn/core"
)

// TestNMinusOneFailuresLoseNothing states replication's guarantee directly:
// with replication factor N and acks=all (min.insync.replicas=N, so that an
// acknowledgment means every replica has the record durably), any N-1
// replicas failing at once — crashing, losing their disks, pausing, or cut
// off from the other brokers, overlapping in any way — lose no acknowledged
// record, and the cluster finishes its work once they are back. Each seed
// keeps its drawn workload and network and gets one such burst, N from 2
// to 5.
func TestNMinusOneFailuresLoseNothing(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 8
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		o := Scenario(seed)
		n := 2 + int(seed%4)
		o.Brokers, o.ReplicationFactor, o.MinInsyncReplicas = n, n, n
		o.Durability = core.DurableAcks
		o.AcksOneHeavy = false
		o.Faults = concurrentFailures(seed, o)
		r := Run(o, nil)
		if r.Failed() {
			t.Errorf("seed=%d: %d of %d replicas failing at once: %s (faults %v)", seed, n-1, n, r.Violations[0], o.Faults)
		} else if r.Operations < 20 {
			t.Errorf("seed=%d: only %d operations: the workload did not run", seed, r.Operations)
		}
	}
}

// concurrentFailures fails N-1 distinct brokers within one second of each
// other, each for half a second to four seconds, each in its own way.
func concurrentFailures(seed uint64, o Options) []Fault {
	rng := newStream(seed, streamScenarioExtra+1)
	kinds := []FaultKind{FaultCrash, FaultDiskLoss, FaultPause, FaultPartitionBrokers}
	start := time.Duration(1000+rng.IntN(int(o.SafetyDuration/time.Millisecond)/2)) * time.Millisecond
	var faults []Fault
	for _, b := range rng.Perm(o.Brokers)[:o.Brokers-1] {
		f := Fault{
			At:       start + time.Duration(rng.IntN(1000))*time.Millisecond,
			Kind:     kinds[rng.IntN(len(kinds))],
			Broker:   b,
			Client:   b, // a cut isolates just this broker
			Duration: time.Duration(500+rng.IntN(3500)) * time.Millisecond,
		}
		f.Symmetric = true
		faults = append(faults, f)
	}
	sortFaults(faults)
	return faults
}

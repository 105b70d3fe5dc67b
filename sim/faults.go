package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// FaultKind is one kind of fault the simulator injects.
type FaultKind uint8

// Fault kinds. Disk faults stay on for their Duration, striking each
// matching operation with probability Numerator/Denominator.
const (
	FaultCrash            FaultKind = iota + 1 // power loss: unsynced writes kept, dropped or torn; restart after Duration
	FaultPause                                 // the process stops for Duration (a GC pause, SIGSTOP)
	FaultWriteError                            // EIO on write
	FaultSyncError                             // EIO on fsync: the log fails until the broker restarts
	FaultReadError                             // EIO on read
	FaultNoSpace                               // ENOSPC on write
	FaultBitFlip                               // a read returns one flipped bit (the disk itself is fine)
	FaultIsolate                               // the broker is cut off from every client for Duration
	FaultPartitionClient                       // one client is cut off, maybe one-way, for Duration
	FaultClog                                  // one direction between a client and the broker stalls for Duration
	FaultControllerMove                        // the metadata quorum elects another leader
	FaultMetadataOutage                        // the metadata quorum has no leader for Duration
	FaultPartitionBrokers                      // brokers split in two groups, maybe one-way, for Duration
	faultKinds
)

// clusterFault reports whether a fault kind needs several brokers.
func clusterFault(k FaultKind) bool {
	return k == FaultControllerMove || k == FaultMetadataOutage || k == FaultPartitionBrokers
}

var faultNames = [...]string{"", "crash", "pause", "write-error", "sync-error", "read-error", "no-space", "bit-flip",
	"isolate", "partition-client", "clog", "controller-move", "metadata-outage", "partition-brokers"}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one scheduled fault.
type Fault struct {
	At       time.Duration
	Kind     FaultKind
	Broker   int
	Client   int
	Duration time.Duration
	// Numerator/Denominator is a disk fault's probability per operation.
	Numerator, Denominator uint64
	// Symmetric says whether a client partition blocks both directions.
	Symmetric bool
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s broker=%d", f.At, f.Kind, f.Broker)
	switch f.Kind {
	case FaultPartitionClient, FaultClog:
		fmt.Fprintf(&b, " client=%d", f.Client)
	}
	fmt.Fprintf(&b, " for %v", f.Duration)
	if f.Denominator > 0 {
		fmt.Fprintf(&b, " p=%d/%d", f.Numerator, f.Denominator)
	}
	if f.Kind == FaultPartitionClient && !f.Symmetric {
		b.WriteString(" one-way")
	}
	return b.String()
}

// faultsPerRunMax bounds a schedule's length.
const faultsPerRunMax = 24

// drawFaults picks the seed's fault kinds (each enabled with probability
// 1/2, so some seeds are calm and some harsh) and schedules faults of those
// kinds over the safety phase.
func drawFaults(rng *rand.Rand, o Options) []Fault {
	var enabled []FaultKind
	for k := FaultCrash; k < faultKinds; k++ {
		if rng.IntN(2) == 0 && (o.Brokers > 1 || !clusterFault(k)) {
			enabled = append(enabled, k)
		}
	}
	if len(enabled) == 0 {
		return nil
	}
	count := rng.IntN(faultsPerRunMax + 1)
	faults := make([]Fault, 0, count)
	clients := o.Producers + o.Consumers
	for i := 0; i < count; i++ {
		f := Fault{
			At:       time.Duration(rng.Int64N(int64(o.SafetyDuration))),
			Kind:     enabled[rng.IntN(len(enabled))],
			Broker:   rng.IntN(o.Brokers),
			Client:   rng.IntN(clients),
			Duration: time.Duration(10+rng.IntN(3000)) * time.Millisecond,
		}
		switch f.Kind {
		case FaultWriteError, FaultSyncError, FaultReadError, FaultNoSpace, FaultBitFlip:
			f.Numerator, f.Denominator = 1, uint64(2+rng.IntN(30))
		case FaultPartitionClient, FaultPartitionBrokers:
			f.Symmetric = rng.IntN(2) == 0
		}
		faults = append(faults, f)
	}
	// Sorted by time, so that the schedule reads as a story.
	for i := 1; i < len(faults); i++ {
		for j := i; j > 0 && faults[j].At < faults[j-1].At; j-- {
			faults[j], faults[j-1] = faults[j-1], faults[j]
		}
	}
	return faults
}

package sim

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/core"
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
	// FaultDiskLoss destroys the broker's disk: the process dies and comes
	// back after Duration on an empty data directory, as on a replaced
	// machine. It is outside faultKinds: drawFaults never picks it, so the
	// schedules of seeds drawn before it existed are unchanged; Scenario
	// adds it from a stream of its own.
	FaultDiskLoss
	// FaultCutLeader cuts the leader of a replicated partition off from
	// the other brokers for Duration (clients still reach it, and it still
	// takes writes it cannot replicate). It picks the leader when it
	// strikes, from the committed metadata: the first partition by name
	// with more than one replica.
	FaultCutLeader
	// FaultCrashSuccessor crashes, for Duration, the broker that now leads
	// a partition the last cut leader left while its ISR was below
	// min.insync.replicas (it is in the partition's ELR): the successor's
	// own epoch ends, and the cut leader may come back to lead from the
	// ELR while the successor is down. With none, it does nothing.
	FaultCrashSuccessor
	// The faults below are drawn from a stream of their own
	// (drawControlFaults), so that the schedules of seeds drawn before
	// them keep every fault they had. Each is armed when it strikes and
	// acts on the first thing it is aimed at within controlFaultWindow,
	// picking its target then; aimed.go carries them out.
	//
	// FaultDropAnswer: the active controller handles a broker's request
	// (Request: AlterPartition, BrokerHeartbeat or BrokerRegistration), and
	// its answer is lost: the connection breaks as the answer leaves, so
	// the sender's session fails after the controller applied the request.
	FaultDropAnswer
	// FaultDuplicateRequest: a broker's request to the controller also
	// reaches it a second time, Duration later, on a connection of its own:
	// a client that retried after a timeout or a reconnect while the first
	// copy got through. The second answer goes nowhere.
	FaultDuplicateRequest
	// FaultDelayRequest: a broker's request to the controller stalls on
	// its connection for Duration (retransmissions lost); the broker gives
	// up on that session at once and sends what comes next on a new one,
	// and the stalled request reaches the controller after them.
	FaultDelayRequest
	// FaultCrashOnRejoin crashes a follower in the ISR of a replicated
	// partition for Duration; once it has restarted and its return to the
	// ISR commits (it is about to be elected), it crashes the partition's
	// leader for Duration, so that the follower that just came back, after
	// its crash lost its unsynced tail, is the one to lead.
	FaultCrashOnRejoin
	// FaultCrashAfterISRChange crashes, for Duration, the leader of the
	// first replicated partition whose ISR shrink or expansion commits,
	// just after the leader applied it.
	FaultCrashAfterISRChange
	// FaultPauseController pauses the active controller for Duration when
	// an AlterPartition reaches it: before it handles it when Duration is
	// even (the request waits in the paused process), just after otherwise
	// (its records and answer wait).
	FaultPauseController
)

// controlFaultWindow is how long an armed fault waits for what it aims at
// before it lapses.
const controlFaultWindow = 5 * time.Second

// controlFault reports whether a fault kind is one that aimed.go arms.
func controlFault(k FaultKind) bool { return k >= FaultDropAnswer && k <= FaultPauseController }

// clusterFault reports whether a fault kind needs several brokers.
func clusterFault(k FaultKind) bool {
	return k == FaultControllerMove || k == FaultMetadataOutage || k == FaultPartitionBrokers || k == FaultDiskLoss || k == FaultCutLeader || k == FaultCrashSuccessor ||
		controlFault(k)
}

var faultNames = [...]string{"", "crash", "pause", "write-error", "sync-error", "read-error", "no-space", "bit-flip",
	"isolate", "partition-client", "clog", "controller-move", "metadata-outage", "partition-brokers", "", "disk-loss",
	"cut-leader", "crash-successor", "drop-answer", "duplicate-request", "delay-request", "crash-on-rejoin",
	"crash-after-isr-change", "pause-controller"}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) && faultNames[k] != "" {
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
	// Request is the API key of the controller request a drop-answer,
	// duplicate-request or delay-request fault strikes.
	Request int16
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s broker=%d", f.At, f.Kind, f.Broker)
	switch f.Kind {
	case FaultPartitionClient, FaultClog:
		fmt.Fprintf(&b, " client=%d", f.Client)
	case FaultDropAnswer, FaultDuplicateRequest, FaultDelayRequest:
		fmt.Fprintf(&b, " request=%s", kmsg.NameForKey(f.Request))
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
	sortFaults(faults)
	return faults
}

// lossy reports whether a fault destroys data a replica acknowledged: a
// lost disk always, and a crash in the replication durability mode, where
// acknowledged records may still be only in the page cache.
func (f Fault) lossy(durability core.DurabilityMode) bool { return f.losses(durability) > 0 }

// losses is how many data-losing failures a fault makes: a crash recipe
// crashes one broker or two.
func (f Fault) losses(durability core.DurabilityMode) int {
	switch {
	case f.Kind == FaultDiskLoss:
		return 1
	case durability != core.ReplicationAcks:
		return 0
	case f.Kind == FaultCrash, f.Kind == FaultCrashAfterISRChange:
		return 1
	case f.Kind == FaultCrashOnRejoin:
		return 2
	}
	return 0
}

// failsLog reports whether a fault can fail a partition's log, which then
// stays offline until the broker restarts.
func (f Fault) failsLog() bool {
	return f.Kind == FaultWriteError || f.Kind == FaultSyncError || f.Kind == FaultNoSpace
}

// withinFailureBudget returns the schedule less what would break the
// guarantee under test: no acknowledged record is lost while fewer than
// min.insync.replicas replicas lose data. It keeps the first
// MinInsyncReplicas-1 lossy faults, counted over the whole run (stricter
// than concurrent failures, and so within the guarantee however the faults
// overlap), and drops the rest. In the replication mode it also drops the
// faults that fail a log: the broker is then restarted without a clean
// shutdown, which in that mode counts as losing data (KIP-966), and could
// leave a partition with no replica that may lead.
func withinFailureBudget(o Options) []Fault {
	budget := o.MinInsyncReplicas - 1
	// The faults drawn before the control faults spend the budget first,
	// so that adding those never takes a crash from an older schedule.
	drop := make([]bool, len(o.Faults))
	for _, control := range []bool{false, true} {
		for i, f := range o.Faults {
			if controlFault(f.Kind) != control {
				continue
			}
			if losses := f.losses(o.Durability); losses > 0 {
				if budget < losses {
					drop[i] = true
					continue
				}
				budget -= losses
			}
			drop[i] = o.Durability == core.ReplicationAcks && f.failsLog()
		}
	}
	kept := make([]Fault, 0, len(o.Faults))
	for i, f := range o.Faults {
		if !drop[i] {
			kept = append(kept, f)
		}
	}
	return kept
}

// drawDiskLosses returns up to two disk losses over the safety phase, for
// one seed in three of several brokers.
func drawDiskLosses(rng *rand.Rand, o Options) []Fault {
	if o.Brokers < 2 || rng.IntN(3) != 0 {
		return nil
	}
	losses := make([]Fault, 1+rng.IntN(2))
	for i := range losses {
		losses[i] = Fault{
			At:       time.Duration(rng.Int64N(int64(o.SafetyDuration))),
			Kind:     FaultDiskLoss,
			Broker:   rng.IntN(o.Brokers),
			Duration: time.Duration(10+rng.IntN(3000)) * time.Millisecond,
		}
	}
	return losses
}

// drawAwayAndCrash returns, for some seeds, a broker cut off from the
// others for long enough to leave the ISRs and be fenced, and a crash of
// another while it is away. The first keeps every committed record (its
// ISRs were below min.insync.replicas when it left, so the high watermark
// stood still) and may come back to lead from the ELR. In the replication
// mode this is KIP-966's last replica standing: the crashed broker lost
// what it had not synced, and may lead again only if it can vouch for its
// log. In the durable mode the crashed broker keeps its log, which ends in
// records of an epoch the returning leader never had (KIP-279).
func drawAwayAndCrash(rng *rand.Rand, o Options) []Fault {
	if o.Brokers < 2 {
		return nil
	}
	// Every durable seed of several brokers, one replication seed in two.
	if drawn := rng.IntN(2); drawn != 0 && o.Durability != core.DurableAcks {
		return nil
	}
	away := rng.IntN(o.Brokers)
	crashed := (away + 1 + rng.IntN(o.Brokers-1)) % o.Brokers
	at := time.Duration(rng.Int64N(int64(o.SafetyDuration) / 2))
	cut := Fault{At: at, Kind: FaultPartitionBrokers, Broker: away, Client: away,
		Duration: time.Duration(5000+rng.IntN(4000)) * time.Millisecond, Symmetric: true}
	crash := Fault{At: at + time.Duration(2500+rng.IntN(2000))*time.Millisecond, Kind: FaultCrash, Broker: crashed,
		Duration: time.Duration(10+rng.IntN(1000)) * time.Millisecond}
	if o.Durability == core.DurableAcks {
		// A leader cut off; the broker that took over from it, once it
		// has led for a while, crashes, and stays down until well after
		// the cut heals, so that the cut leader is unfenced and leads
		// again (from the ELR) before the crashed one returns to follow
		// it, holding records of an epoch the cut leader never had.
		cut.Kind, cut.Broker, cut.Client = FaultCutLeader, -1, -1
		crash.Kind, crash.Broker = FaultCrashSuccessor, -1
		// Early, while the producers are still writing.
		shift := cut.At - cut.At/4
		cut.At -= shift
		crash.At = cut.At + time.Duration(4000+rng.IntN(1000))*time.Millisecond
		crash.Duration = cut.At + cut.Duration - crash.At + time.Duration(2000+rng.IntN(3000))*time.Millisecond
	}
	return []Fault{cut, crash}
}

// sortFaults orders a schedule by time, stably, so that it reads as a
// story.
func sortFaults(faults []Fault) {
	for i := 1; i < len(faults); i++ {
		for j := i; j > 0 && faults[j].At < faults[j-1].At; j-- {
			faults[j], faults[j-1] = faults[j-1], faults[j]
		}
	}
}

// drawControlFaults returns, for seeds of several brokers, faults of the
// controller's requests (drop-answer, duplicate-request, delay-request) in
// one seed of two, and each aimed recipe (crash-on-rejoin,
// crash-after-isr-change, pause-controller) in one seed of two, all from
// rng, a stream of their own.
func drawControlFaults(rng *rand.Rand, o Options) []Fault {
	if o.Brokers < 2 {
		return nil
	}
	var faults []Fault
	// In the first half, while producers still write: what these faults
	// break shows only against records committed after they strike.
	at := func() time.Duration { return time.Duration(rng.Int64N(int64(o.SafetyDuration) / 2)) }
	if rng.IntN(2) == 0 {
		requests := []int16{kmsg.AlterPartition.Int16(), kmsg.AlterPartition.Int16(), kmsg.BrokerHeartbeat.Int16(), kmsg.BrokerRegistration.Int16()}
		for i, n := 0, 1+rng.IntN(6); i < n; i++ {
			faults = append(faults, Fault{At: at(), Kind: FaultDropAnswer + FaultKind(rng.IntN(3)), Broker: -1,
				Request: requests[rng.IntN(len(requests))], Duration: time.Duration(100+rng.IntN(6000)) * time.Millisecond})
		}
	}
	for _, kind := range []FaultKind{FaultCrashOnRejoin, FaultCrashAfterISRChange, FaultPauseController} {
		if rng.IntN(2) != 0 {
			continue
		}
		for i, n := 0, 1+rng.IntN(2); i < n; i++ {
			faults = append(faults, Fault{At: at(), Kind: kind, Broker: -1,
				Duration: time.Duration(10+rng.IntN(3000)) * time.Millisecond})
		}
	}
	return clearOfChain(faults, o)
}

// clearOfChain keeps the seed's cut-leader chain (durable seeds of several
// brokers) as it was: the chain is itself aimed, at KIP-279's divergent
// follower, and the crashes and pauses of the recipes, in it or after it,
// break it (they restart the follower, which then truncates as it should)
// — so a seed with the chain gets no recipe. The faults of the
// controller's requests that would strike during the chain (from the cut
// until the crashed successor is back) move to as long after it, and those
// that then fall past the safety phase are left out.
func clearOfChain(faults []Fault, o Options) []Fault {
	start, end := time.Duration(-1), time.Duration(-1)
	for _, f := range o.Faults {
		switch f.Kind {
		case FaultCutLeader:
			start = f.At
		case FaultCrashSuccessor:
			end = f.At + f.Duration
		}
	}
	if start < 0 || end < start {
		return faults
	}
	kept := faults[:0]
	for _, f := range faults {
		if f.Kind >= FaultCrashOnRejoin {
			continue // crashes and pauses of their own would break it
		}
		if f.At >= start && f.At <= end {
			f.At = end + (f.At - start)
		}
		if f.At < o.SafetyDuration {
			kept = append(kept, f)
		}
	}
	return kept
}

// WithoutControlFaults returns the options less the faults drawControlFaults
// added, as the schedule was before them (cairn sim --no-control-faults), to
// measure what they find.
func WithoutControlFaults(o Options) Options {
	kept := make([]Fault, 0, len(o.Faults))
	for _, f := range o.Faults {
		if !controlFault(f.Kind) {
			kept = append(kept, f)
		}
	}
	o.Faults = kept
	return o
}

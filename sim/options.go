package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"cairn/core"
	"cairn/netsim"
)

// TopicSpec is a topic the workload uses.
type TopicSpec struct {
	Name       string
	Partitions int32
}

// Options is everything a run depends on. Scenario derives it from a seed;
// shrinking edits it; a run is a pure function of it.
type Options struct {
	Seed    uint64
	Brokers int
	// ReplicationFactor and MinInsyncReplicas configure every topic.
	ReplicationFactor int
	MinInsyncReplicas int
	Durability        core.DurabilityMode
	Topics            []TopicSpec
	Producers         int
	Consumers         int
	// AcksOneHeavy makes every producer plain (not idempotent) and sends
	// two produces in three with acks=1, which is what writes a leader
	// accepts while its ISR is below min.insync.replicas.
	AcksOneHeavy bool
	// ProducesPerProducer bounds each producer's produce requests.
	ProducesPerProducer int
	// SafetyDuration is how long faults may strike; LivenessDuration is the
	// bound within which a healed cluster must finish every operation.
	SafetyDuration   time.Duration
	LivenessDuration time.Duration
	// FsyncLatencyMin and FsyncLatencyMax bound a simulated fsync.
	FsyncLatencyMin, FsyncLatencyMax time.Duration
	// RequestTimeout is when a client gives up on a request: its outcome
	// becomes unknown and the connection is dropped, as real clients do.
	RequestTimeout time.Duration
	Network        netsim.Options
	Faults         []Fault
	// GroupMembers is the size of a consumer group that consumes the first
	// topic besides the scenario's clients (group.go); 0 runs none. cairn
	// sim --group N sets it.
	GroupMembers int
	// GroupProtocol is the group's protocol: GroupProtocolClassic
	// (group.go; "" means it) or GroupProtocolConsumer, KIP-848's
	// (consumer_group.go). cairn sim --group-protocol sets it.
	GroupProtocol string
	// SpecChecksOff skips the per-event predicates of package specs (and
	// the group workload's checks of each member's consumption as it
	// happens), leaving only the history checks: the synced-bytes check
	// of acknowledged records on the disks (synced.go, at each
	// acknowledgment, each crash and at the end), the checks of answers
	// as clients hear them (the fence, group ownership and stale
	// commits) and, at the end, log matching, the final read, Porcupine,
	// the consumer and group checks and the liveness bound. The mutant
	// tests and cairn sim --history-only use it to show that those catch
	// a bug on their own.
	SpecChecksOff bool
	// ProducerInFlightMax is max.in.flight for the idempotent producers:
	// how many batches of one partition each keeps in flight (1 to 5).
	ProducerInFlightMax int
	// Timers that run for hours or days in production, drawn per seed so
	// that they fire within a run, at lengths that race each other and
	// the producers' gaps between batches (drawTimers):
	// producer.id.expiration.ms, how often brokers look for expired
	// producers, and segment.ms (roll by age).
	ProducerIdleMax        time.Duration
	ProducerExpiryInterval time.Duration
	SegmentAgeMax          time.Duration
}

// The group protocols of Options.GroupProtocol.
const (
	GroupProtocolClassic  = "classic"
	GroupProtocolConsumer = "consumer"
)

// Stream numbers of the run's random sources. Each concern draws from its
// own stream, so that removing a fault while shrinking does not change the
// workload or the network's draws.
const (
	streamScenario = iota + 1
	streamNetwork
	streamDisk
	streamWorkload
	streamLatency
	streamBroker // + broker index
	// streamScenarioExtra draws what was added to scenarios later (the
	// durability mode, disk losses), so that older seeds keep the rest.
	streamScenarioExtra = streamScenario + 200
	// streamScenarioControl draws the controller-request faults and the
	// aimed recipes (drawControlFaults).
	streamScenarioControl = streamScenario + 420
	// streamTimers draws the producers' max.in.flight and the compressed
	// long timers (drawTimers), so that every earlier draw stays as it was.
	streamTimers = streamScenario + 300
)

func newStream(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^stream))
}

// Scenario draws a seed's configuration: topics, clients, timing, network
// behaviour, the durability mode (the replication mode in one seed of four)
// and the fault schedule (swarm testing: each seed enables its own subset
// of fault kinds, at its own rates), kept within the failure budget under
// which no acknowledged record may be lost (withinFailureBudget).
func Scenario(seed uint64) Options {
	o := drawScenario(seed)
	o.Faults = withinFailureBudget(o)
	return o
}

// MixedScenario is Scenario with a three-member consumer group in one seed
// of four (the seeds divisible by four), on KIP-848's consumer protocol in
// every other one of those (seed/4 odd) and on the classic protocol in the
// rest: the default sweep, so that group bugs are not left to sweeps that
// ask for groups. The group is a function of the seed alone, so a replay of
// the seed runs the same group.
func MixedScenario(seed uint64) Options {
	return WithMixedGroup(Scenario(seed))
}

// WithMixedGroup adds MixedScenario's group to options drawn for
// options.Seed, or returns them as they are on a seed without one.
func WithMixedGroup(o Options) Options {
	if o.Seed%mixedGroupEvery != 0 {
		return o
	}
	o.GroupMembers = mixedGroupMembers
	o.GroupProtocol = GroupProtocolClassic
	if (o.Seed/mixedGroupEvery)%2 == 1 {
		o.GroupProtocol = GroupProtocolConsumer
	}
	return o
}

// One seed in mixedGroupEvery of the default sweep runs a group of
// mixedGroupMembers.
const (
	mixedGroupEvery   = 4
	mixedGroupMembers = 3
)

// ScenarioInMode is Scenario with the durability mode forced. With budgeted
// false the seed's whole fault schedule runs: in the replication mode,
// crashes beyond the budget then lose acknowledged records, as they do in
// Kafka, and the run reports it. docs/DURABILITY.md walks through one.
func ScenarioInMode(seed uint64, mode core.DurabilityMode, budgeted bool) Options {
	o := drawScenario(seed)
	o.Durability = mode
	if budgeted {
		o.Faults = withinFailureBudget(o)
	}
	return o
}

// drawScenario draws a seed's configuration with its whole fault schedule.
func drawScenario(seed uint64) Options {
	rng := newStream(seed, streamScenario)
	o := Options{
		Seed:                seed,
		Brokers:             []int{1, 1, 3, 3, 4, 5}[rng.IntN(6)],
		Durability:          core.DurableAcks,
		Producers:           1 + rng.IntN(3),
		Consumers:           1 + rng.IntN(2),
		ProducesPerProducer: 20 + rng.IntN(40),
		SafetyDuration:      time.Duration(10+rng.IntN(20)) * time.Second,
		LivenessDuration:    60 * time.Second,
		FsyncLatencyMin:     time.Duration(100+rng.IntN(400)) * time.Microsecond,
		RequestTimeout:      5 * time.Second,
	}
	o.FsyncLatencyMax = o.FsyncLatencyMin + time.Duration(rng.IntN(20))*time.Millisecond
	o.ReplicationFactor = 1 + rng.IntN(o.Brokers)
	o.MinInsyncReplicas = 1 + rng.IntN(o.ReplicationFactor)
	topics := 1 + rng.IntN(2)
	for i := 0; i < topics; i++ {
		o.Topics = append(o.Topics, TopicSpec{Name: fmt.Sprintf("t%d", i), Partitions: int32(1 + rng.IntN(3))})
	}
	o.Network = netsim.RandomOptions(newStream(seed, streamScenario+100))
	o.Faults = drawFaults(rng, o)
	extra := newStream(seed, streamScenarioExtra)
	if extra.IntN(4) == 0 {
		o.Durability = core.ReplicationAcks
	}
	added := drawDiskLosses(extra, o)
	// One seed of two cuts a broker off and crashes another meanwhile: in
	// the replication mode, KIP-966's last replica standing; in the durable
	// mode, a failover and back through the ELR, which leaves a follower
	// holding records of an epoch its new leader never had (KIP-279).
	added = append(added, drawAwayAndCrash(extra, o)...)
	if len(added) > 0 {
		o.Faults = append(o.Faults, added...)
		sortFaults(o.Faults)
	}
	// Drawn last from this stream, so that the draws above stay those of
	// seeds drawn before it existed.
	o.AcksOneHeavy = extra.IntN(4) == 0
	// Faults of the controller's requests and aimed recipes, from a stream
	// of their own (issue 20): every fault drawn above stays.
	if control := drawControlFaults(newStream(seed, streamScenarioControl), o); len(control) > 0 {
		o.Faults = append(o.Faults, control...)
		sortFaults(o.Faults)
	}
	drawTimers(newStream(seed, streamTimers), &o)
	return o
}

// drawTimers draws the producers' max.in.flight and the timers whose
// production values outlast a run. Expiry is drawn from four bands: below
// a second (shorter than a retry after a timeout, so producers are
// forgotten while they still have batches to retry), a few seconds (about
// a fault's length), tens of seconds (within the safety phase) and longer
// than most runs (only the liveness phase's idle producers expire).
func drawTimers(rng *rand.Rand, o *Options) {
	o.ProducerInFlightMax = 1 + rng.IntN(core.ProducerBatchesMax)
	switch rng.IntN(4) {
	case 0:
		o.ProducerIdleMax = time.Duration(200+rng.IntN(800)) * time.Millisecond
	case 1:
		o.ProducerIdleMax = time.Duration(1000+rng.IntN(9000)) * time.Millisecond
	case 2:
		o.ProducerIdleMax = time.Duration(10+rng.IntN(30)) * time.Second
	default:
		o.ProducerIdleMax = time.Duration(40+rng.IntN(60)) * time.Second
	}
	o.ProducerExpiryInterval = time.Duration(100+rng.IntN(5000)) * time.Millisecond
	o.SegmentAgeMax = time.Duration(500+rng.IntN(30000)) * time.Millisecond
}

// String describes the options on one line, for traces and reports.
func (o Options) String() string {
	var topics []string
	for _, t := range o.Topics {
		topics = append(topics, fmt.Sprintf("%s/%d", t.Name, t.Partitions))
	}
	s := fmt.Sprintf("seed=%d brokers=%d rf=%d min-isr=%d durability=%s topics=%s producers=%d consumers=%d produces=%d safety=%v faults=%d fsync=[%v,%v]",
		o.Seed, o.Brokers, o.ReplicationFactor, o.MinInsyncReplicas, o.Durability, strings.Join(topics, ","), o.Producers, o.Consumers,
		o.ProducesPerProducer, o.SafetyDuration, len(o.Faults), o.FsyncLatencyMin, o.FsyncLatencyMax)
	s += fmt.Sprintf(" in-flight=%d producer-expiry=%v expiry-check=%v segment-age=%v",
		o.ProducerInFlightMax, o.ProducerIdleMax, o.ProducerExpiryInterval, o.SegmentAgeMax)
	if o.GroupMembers > 0 {
		s += fmt.Sprintf(" group=%d", o.GroupMembers)
	}
	if o.GroupMembers > 0 && o.GroupProtocol == GroupProtocolConsumer {
		// Only the consumer protocol is named: a classic group's runs keep
		// the traces (and trace hashes) they had before there was a choice.
		s += " group-protocol=" + o.GroupProtocol
	}
	return s
}

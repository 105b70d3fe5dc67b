package specs

import (
	"fmt"
	"strings"
	"time"

	"cairn/core"
	"cairn/core/errcode"
)

// ExploreConfig bounds the exhaustive exploration of one partition replica.
type ExploreConfig struct {
	// Depth is the number of events in every explored sequence.
	Depth int
	// CrashesMax bounds the crashes in one sequence.
	CrashesMax int
	Durability core.DurabilityMode
}

// ExploreResult counts what the explorer covered.
type ExploreResult struct {
	Sequences int // complete event sequences explored
	Steps     int // events executed, replays included
}

// exploreEvent is one input to the replica and its log: a produce (acks 1
// or all), the completion of the fsync in flight, or a crash that keeps
// keep records of the log (anything from the durable offset to the end
// survives, so each survivor count is its own branch).
type exploreEvent struct {
	kind string // "produce", "sync", "crash"
	acks core.Acks
	keep int64
}

func (e exploreEvent) String() string {
	switch e.kind {
	case "produce":
		return fmt.Sprintf("produce(acks=%d)", e.acks)
	case "crash":
		return fmt.Sprintf("crash(keep=%d)", e.keep)
	}
	return e.kind
}

// exploreModel is the replica under test plus a model of its log: what is
// written, what is durable, and the fsync in flight.
type exploreModel struct {
	config       core.PartitionConfig
	partition    *core.Partition
	end, durable int64
	syncing      int64 // target of the fsync in flight, or -1
	acknowledged int64 // one past the highest acknowledged offset
	crashes      int
	lastHW       int64
	nextToken    core.Token
	acksWaiting  map[core.Token]int64
}

func newExploreModel(durability core.DurabilityMode) *exploreModel {
	config := core.PartitionConfig{Topic: "explore", Partition: 0, Durability: durability}
	m := &exploreModel{config: config, syncing: -1, acksWaiting: map[core.Token]int64{}}
	m.partition = m.open(core.LogState{})
	return m
}

// open starts the replica on a recovered log as the leader of a
// one-replica partition, the way a single broker runs it.
func (m *exploreModel) open(log core.LogState) *core.Partition {
	p := core.NewPartition(m.config, log, nil)
	self := []int32{m.config.ReplicaID}
	p.SetLeadership(exploreTime, core.Leadership{Leader: m.config.ReplicaID, Replicas: self, ISR: self})
	if p.HasReady() {
		p.Advance()
	}
	return p
}

// exploreTime is the explorer's clock: nothing it explores depends on time.
var exploreTime = time.Unix(0, 0)

// enabled lists the events possible in the current state, in a fixed order.
func (m *exploreModel) enabled(config ExploreConfig) []exploreEvent {
	events := []exploreEvent{{kind: "produce", acks: -1}, {kind: "produce", acks: 1}}
	if m.syncing >= 0 {
		events = append(events, exploreEvent{kind: "sync"})
	}
	if m.crashes < config.CrashesMax {
		for keep := m.durable; keep <= m.end; keep++ {
			events = append(events, exploreEvent{kind: "crash", keep: keep})
		}
	}
	return events
}

// apply runs one event against the real core and checks every predicate.
func (m *exploreModel) apply(e exploreEvent) error {
	switch e.kind {
	case "produce":
		base, _, code := m.partition.CheckProduce(e.acks)
		if code != errcode.None {
			return fmt.Errorf("produce refused: %d", code)
		}
		m.nextToken++
		m.acksWaiting[m.nextToken] = base + 1
		m.partition.Appended(m.nextToken, e.acks, base, base)
		m.end++
	case "sync":
		m.durable = max(m.durable, m.syncing)
		m.syncing = -1
		m.partition.Synced(m.durable)
	case "crash":
		m.crashes++
		if e.keep < m.acknowledged {
			return fmt.Errorf("a crash keeping %d records loses acknowledged offsets below %d", e.keep, m.acknowledged)
		}
		m.end, m.durable, m.syncing, m.lastHW = e.keep, e.keep, -1, 0
		clear(m.acksWaiting)
		m.partition = m.open(core.LogState{EndOffset: e.keep, DurableOffset: e.keep})
	}
	return m.afterStep()
}

// afterStep executes the Ready as a driver would and checks the predicates.
func (m *exploreModel) afterStep() error {
	if m.partition.HasReady() {
		rd := m.partition.Ready()
		if rd.SyncWanted && m.syncing < 0 {
			m.syncing = m.end
		}
		for _, ack := range rd.Acks {
			end, ok := m.acksWaiting[ack.Token]
			if !ok {
				return fmt.Errorf("ack for unknown token %d", ack.Token)
			}
			delete(m.acksWaiting, ack.Token)
			if ack.Error == errcode.None {
				m.acknowledged = max(m.acknowledged, end)
			}
		}
		m.partition.Advance()
	}
	status := m.partition.Status()
	if err := CheckOffsets(status); err != nil {
		return err
	}
	if err := CheckLogAgrees(status, m.end, m.durable); err != nil {
		return err
	}
	if status.HighWatermark < m.lastHW {
		return fmt.Errorf("high watermark moved back from %d to %d", m.lastHW, status.HighWatermark)
	}
	m.lastHW = status.HighWatermark
	return CheckAcknowledgedDurable(status, m.acknowledged)
}

// Explore drives the real core.Partition through every sequence of Depth
// events (produces, fsync completions, crashes keeping any surviving
// prefix), checking the predicates of this package after each event. The
// code is the model: there is no separate specification to keep in step.
// On a violation it returns the event sequence that leads to it.
func Explore(config ExploreConfig) (ExploreResult, error) {
	var result ExploreResult
	var path []exploreEvent
	var walk func() error
	walk = func() error {
		// Replay the path from scratch: the core has no cloning, and replay
		// keeps the explorer honest about determinism too.
		m := newExploreModel(config.Durability)
		for i, e := range path {
			result.Steps++
			if err := m.apply(e); err != nil {
				return fmt.Errorf("after %s: %w", describePath(path[:i+1]), err)
			}
		}
		if len(path) == config.Depth {
			result.Sequences++
			return nil
		}
		for _, e := range m.enabled(config) {
			path = append(path, e)
			if err := walk(); err != nil {
				return err
			}
			path = path[:len(path)-1]
		}
		return nil
	}
	return result, walk()
}

func describePath(path []exploreEvent) string {
	parts := make([]string, len(path))
	for i, e := range path {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

package specs

import (
	"fmt"
	"strings"

	"cairn/core"
)

// ClusterExploreConfig bounds the exhaustive exploration of replication.
type ClusterExploreConfig struct {
	Cluster ClusterConfig
	// Depth is the number of events in every explored sequence.
	Depth int
	// CrashesMax bounds the crashes in one sequence; ProducesMax the
	// records written.
	CrashesMax, ProducesMax int
}

// clusterEvent is one input to the harness.
type clusterEvent struct {
	kind    string // produce, sync, deliver, crash, restart, shrink, elect
	acks    core.Acks
	replica int32
	keep    int64
	request int
}

func (e clusterEvent) String() string {
	switch e.kind {
	case "produce":
		return fmt.Sprintf("produce(acks=%d)", e.acks)
	case "crash":
		return fmt.Sprintf("crash(r=%d keep=%d)", e.replica, e.keep)
	case "shrink", "elect":
		return e.kind
	case "deliver":
		return fmt.Sprintf("deliver(r=%d i=%d)", e.replica, e.request)
	}
	return fmt.Sprintf("%s(r=%d)", e.kind, e.replica)
}

// clusterRun is the harness plus what bounds the sequence.
type clusterRun struct {
	c                 *Cluster
	crashes, produces int
}

func (r *clusterRun) apply(e clusterEvent) error {
	switch e.kind {
	case "produce":
		r.produces++
		return r.c.Produce(e.acks)
	case "sync":
		return r.c.Sync(e.replica)
	case "deliver":
		return r.c.Deliver(e.replica, e.request)
	case "crash":
		r.crashes++
		return r.c.Crash(e.replica, e.keep)
	case "restart":
		return r.c.Restart(e.replica)
	case "shrink":
		return r.c.Shrink()
	case "elect":
		return r.c.Elect()
	}
	return fmt.Errorf("unknown event %s", e)
}

// enabled lists the events possible now, in a fixed order.
func (r *clusterRun) enabled(config ClusterExploreConfig) []clusterEvent {
	var events []clusterEvent
	if r.produces < config.ProducesMax && r.c.leader() != nil {
		events = append(events, clusterEvent{kind: "produce", acks: -1}, clusterEvent{kind: "produce", acks: 1})
	}
	for _, n := range r.c.nodes {
		if !n.up {
			events = append(events, clusterEvent{kind: "restart", replica: n.id})
			continue
		}
		end := int64(len(n.log))
		if n.durable < end {
			events = append(events, clusterEvent{kind: "sync", replica: n.id})
		}
		for i := range n.requests {
			events = append(events, clusterEvent{kind: "deliver", replica: n.id, request: i})
		}
		if r.crashes < config.CrashesMax {
			events = append(events, clusterEvent{kind: "crash", replica: n.id, keep: n.durable})
			if n.durable < end {
				events = append(events, clusterEvent{kind: "crash", replica: n.id, keep: end})
			}
		}
	}
	if l := r.c.leader(); l != nil && len(r.c.leadership().ISR) > 1 {
		events = append(events, clusterEvent{kind: "shrink"})
	}
	if l := r.c.leader(); l == nil || l.id != 0 {
		events = append(events, clusterEvent{kind: "elect"})
	}
	return events
}

// signature names a state for pruning: two sequences reaching the same
// replicas, controller, acknowledgments and budgets explore the same
// futures. Internals of a core.Partition that Status does not show (a
// leader's view of its followers, a proposal in flight) are not in it, so
// pruning may merge states those tell apart; each event's own checks still
// run on every state kept.
func (r *clusterRun) signature() string {
	return fmt.Sprintf("%s|%v|%v|%d|%d|%d", r.c.String(), r.c.acked, r.c.committed, len(r.c.waiting), r.crashes, r.produces)
}

// ExploreReplication drives the harness of core.Partition replicas and the
// controller through every sequence of up to Depth events (produces, syncs,
// fetch and epoch-query deliveries, crashes keeping the durable prefix or
// the whole log, restarts, ISR shrinks, preferred elections), checking the
// predicates of this package after each. States reached again at the same
// or a smaller depth are not explored twice.
func ExploreReplication(config ClusterExploreConfig) (ExploreResult, error) {
	var result ExploreResult
	seen := map[string]int{}
	var path []clusterEvent
	var walk func() error
	walk = func() error {
		// Every sequence starts with the followers fetching: the
		// start-up handshake is not worth depth.
		run := &clusterRun{c: NewCluster(config.Cluster)}
		if err := run.c.Stabilize(); err != nil {
			return err
		}
		for i, e := range path {
			result.Steps++
			if err := run.apply(e); err != nil {
				return fmt.Errorf("after %s: %w", describeClusterPath(path[:i+1]), err)
			}
		}
		sig := run.signature()
		if d, ok := seen[sig]; ok && d <= len(path) {
			return nil
		}
		seen[sig] = len(path)
		result.Sequences++
		if len(path) == config.Depth {
			return nil
		}
		for _, e := range run.enabled(config) {
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

func describeClusterPath(path []clusterEvent) string {
	parts := make([]string, len(path))
	for i, e := range path {
		parts[i] = e.String()
	}
	return strings.Join(parts, ", ")
}

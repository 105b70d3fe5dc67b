package specs

import (
	"fmt"
	"slices"
	"sort"
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
	// DelayAnswers splits every delivery into the leader serving the
	// request and, as a later event, its answer arriving back, so that
	// elections, crashes and newer requests can come between the two.
	DelayAnswers bool
}

// clusterEvent is one input to the harness.
type clusterEvent struct {
	kind    string // produce, sync, deliver, serve, answer, crash, restart, shrink, elect
	acks    core.Acks
	replica int32
	keep    int64
	index   int // of the request (deliver, serve) or answer (answer)
}

// String spells the event as the transcript command that replays it
// (TestClusterTranscripts).
func (e clusterEvent) String() string {
	switch e.kind {
	case "produce":
		if e.acks == -1 {
			return "produce acks=all"
		}
		return fmt.Sprintf("produce acks=%d", e.acks)
	case "crash":
		return fmt.Sprintf("crash r=%d keep=%d", e.replica, e.keep)
	case "shrink", "elect":
		return e.kind
	case "deliver", "serve", "answer":
		return fmt.Sprintf("%s r=%d i=%d", e.kind, e.replica, e.index)
	}
	return fmt.Sprintf("%s r=%d", e.kind, e.replica)
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
		return r.c.Deliver(e.replica, e.index)
	case "serve":
		return r.c.Serve(e.replica, e.index)
	case "answer":
		return r.c.Answer(e.replica, e.index)
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
		events = append(events, r.nodeEvents(config, n)...)
	}
	if l := r.c.leader(); l != nil && len(r.c.leadership().ISR) > 1 {
		events = append(events, clusterEvent{kind: "shrink"})
	}
	if l := r.c.leader(); l == nil || l.id != 0 {
		events = append(events, clusterEvent{kind: "elect"})
	}
	return events
}

// nodeEvents lists what can happen at one replica. A crash keeps either
// the durable prefix or the whole log: the prefixes between add records
// that no other replica can have seen, so they tell the predicates
// nothing the two ends do not.
func (r *clusterRun) nodeEvents(config ClusterExploreConfig, n *clusterNode) []clusterEvent {
	if !n.up {
		return []clusterEvent{{kind: "restart", replica: n.id}}
	}
	var events []clusterEvent
	end := int64(len(n.log))
	if n.durable < end {
		events = append(events, clusterEvent{kind: "sync", replica: n.id})
	}
	deliver := "deliver"
	if config.DelayAnswers {
		deliver = "serve"
	}
	for i := range n.requests {
		events = append(events, clusterEvent{kind: deliver, replica: n.id, index: i})
	}
	for i := range n.responses {
		events = append(events, clusterEvent{kind: "answer", replica: n.id, index: i})
	}
	if r.crashes < config.CrashesMax {
		events = append(events, clusterEvent{kind: "crash", replica: n.id, keep: n.durable})
		if n.durable < end {
			events = append(events, clusterEvent{kind: "crash", replica: n.id, keep: end})
		}
	}
	return events
}

// signature names a state for pruning: two sequences reaching the same
// signature have the same futures, so the later one (at the same or a
// greater depth) is not explored again. It holds every replica's status,
// log and epoch cache, what its core waits for and, as leader, its view of
// the followers (replicaCore tracks those); the requests and answers in
// flight and whether their senders still wait for them; the controller's
// whole image; the acknowledgments and the records committed; and the
// budgets left.
func (r *clusterRun) signature() string {
	var b strings.Builder
	b.WriteString(r.c.String())
	b.WriteString(r.c.ctrl.Image().String())
	for _, n := range r.c.nodes {
		fmt.Fprintf(&b, "%d checkpoint=%v", n.id, n.epochs)
		if !n.up {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, " %s", n.core.signature(r.c.now))
		for _, q := range n.requests {
			fmt.Fprintf(&b, " req-current=%t", n.core.current(q))
		}
		for _, a := range n.responses {
			fmt.Fprintf(&b, " answer-current=%t", n.core.current(a.request))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "acked=%v committed=%v waiting=%v budgets=%d,%d", r.c.acked, r.c.committed,
		r.c.waitingSignature(), r.crashes, r.produces)
	return b.String()
}

// waitingSignature lists the produces still waiting, marking those whose
// leader process is gone (they are never answered).
func (c *Cluster) waitingSignature() []string {
	var out []string
	for _, w := range c.waiting {
		n := c.nodes[w.replica]
		live := n.up && n.incarnation == w.incarnation
		out = append(out, fmt.Sprintf("%d@%d/%d/%t", w.id, w.offset, w.acks, live))
	}
	sort.Strings(out)
	return out
}

// ClusterViolation is a predicate broken on one explored sequence.
type ClusterViolation struct {
	Config ClusterConfig
	Events []string // transcript commands, in order
	Err    error
	path   []clusterEvent
}

func (v *ClusterViolation) Error() string {
	return fmt.Sprintf("after %s: %v", strings.Join(v.Events, ", "), v.Err)
}

func (v *ClusterViolation) Unwrap() error { return v.Err }

// Replay runs the sequence again on a new harness, checking every step as
// a transcript does, and returns the first violation: the same as Err, if
// the explorer and the transcripts see the same thing.
func (v *ClusterViolation) Replay() error {
	c := NewCluster(v.Config)
	if err := c.Stabilize(); err != nil {
		return err
	}
	run := &clusterRun{c: c}
	for _, e := range v.path {
		if err := run.apply(e); err != nil {
			return err
		}
	}
	return nil
}

// Transcript is the sequence as a datadriven transcript with its outputs
// left empty: saved under testdata/cluster (or testdata/cluster_mutants,
// after a mutant line), `-rewrite` fills in what each step does and the
// last one ends in the VIOLATION.
func (v *ClusterViolation) Transcript(mutantName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Found by ExploreReplication: %v\n", v.Err)
	if mutantName != "" {
		fmt.Fprintf(&b, "mutant name=%s\n----\n\n", mutantName)
	}
	fmt.Fprintf(&b, "%s\n----\n\nstabilize\n----\n\n", v.Config.newCommand())
	for _, e := range v.Events {
		fmt.Fprintf(&b, "%s\n----\n\n", e)
	}
	return b.String()
}

// newCommand is the transcript command that builds this configuration.
func (config ClusterConfig) newCommand() string {
	cmd := fmt.Sprintf("new replicas=%d min-isr=%d mode=%s", config.Replicas, config.MinInsyncReplicas, config.Durability)
	if config.SyncFollowers {
		cmd += " sync-followers"
	}
	return cmd
}

// ExploreReplication drives the harness of core.Partition replicas and the
// controller through every sequence of up to Depth events (produces, syncs,
// deliveries of fetches and epoch queries — or their serving and their
// answers apart —, crashes keeping the durable prefix or the whole log,
// restarts, ISR shrinks, preferred elections), checking the predicates of
// this package after each. States reached again at the same or a greater
// depth are not explored twice. A violation is a *ClusterViolation.
func ExploreReplication(config ClusterExploreConfig) (ExploreResult, error) {
	var result ExploreResult
	// Every sequence starts with the followers fetching (stabilize): the
	// start-up handshake is not worth depth.
	startup, err := NewCluster(config.Cluster).stabilize()
	if err != nil {
		return result, &ClusterViolation{Config: config.Cluster, Err: err}
	}
	seen := map[string]int{}
	var path []clusterEvent
	var walk func() error
	walk = func() error {
		run, err := replayCluster(config.Cluster, startup, path, &result)
		if err != nil {
			return &ClusterViolation{Config: config.Cluster, Events: eventStrings(path), Err: err,
				path: slices.Clone(path)}
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

// replayCluster runs the start-up and path from scratch (the core has no
// cloning), checking only the last event: each shorter prefix was checked
// when it was itself the explored sequence.
func replayCluster(config ClusterConfig, startup, path []clusterEvent, result *ExploreResult) (*clusterRun, error) {
	run := &clusterRun{c: NewCluster(config)}
	run.c.quiet = true
	for _, e := range startup {
		if err := run.apply(e); err != nil {
			return nil, err
		}
	}
	run.crashes, run.produces = 0, 0
	for i, e := range path {
		result.Steps++
		run.c.quiet = i < len(path)-1
		if err := run.apply(e); err != nil {
			return nil, err
		}
	}
	run.c.quiet = false
	return run, nil
}

func eventStrings(path []clusterEvent) []string {
	out := make([]string, len(path))
	for i, e := range path {
		out[i] = e.String()
	}
	return out
}

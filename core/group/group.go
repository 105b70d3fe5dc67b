// Package group is the classic consumer group coordinator as a pure state
// machine: members, generations, rebalances, static membership, session and
// rebalance timeouts, and offset commits. One Coordinator serves the groups
// of one partition of __consumer_offsets; the broker hosts it while it leads
// that partition.
//
// Inputs are decoded requests and the time (every call carries now); outputs
// are collected in a Ready: responses to send, and records to append to the
// partition, in Kafka's own formats (OffsetCommitKey/Value,
// GroupMetadataKey/Value). A request whose answer depends on a write waits
// until the driver reports the append committed (AppendDone): a commit is
// acknowledged only once it is in the replicated log, and the offset becomes
// visible to OffsetFetch at the same moment.
//
// It must never read the clock, start goroutines or iterate a map into an
// output: the simulator replays it exactly.
package group

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Token is the driver's name for a request waiting for its answer.
type Token uint64

// Response is an answer for the request the driver named Token.
type Response struct {
	Token Token
	Body  kmsg.Response
}

// Record is one record of __consumer_offsets; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte
}

// Append is a batch of records to write. The driver appends them as one
// batch and calls AppendDone with ID once they are committed (or failed).
type Append struct {
	ID      uint64
	Records []Record
}

// Ready holds the coordinator's effects. Appends must be written in order;
// Responses may be sent at once.
type Ready struct {
	Responses []Response
	Appends   []Append
}

// Config holds the coordinator's bounds, Kafka's group.* broker settings.
type Config struct {
	SessionTimeoutMin, SessionTimeoutMax time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group
	// open for more members (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// GroupSizeMax bounds the members of one group (group.max.size).
	GroupSizeMax int
	// HeartbeatInterval is what consumer-protocol members are told to
	// heartbeat at (group.consumer.heartbeat.interval.ms).
	HeartbeatInterval time.Duration
	// ConsumerSessionTimeout expires a consumer-protocol member that
	// stopped heartbeating (group.consumer.session.timeout.ms).
	ConsumerSessionTimeout time.Duration
	// DefaultAssignor is the server-side assignor of a consumer group
	// whose members name none: "uniform" or "range".
	DefaultAssignor string
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SessionTimeoutMin:     6 * time.Second,
		SessionTimeoutMax:     30 * time.Minute,
		InitialRebalanceDelay: 3 * time.Second,
		GroupSizeMax:          1000,

		HeartbeatInterval:      5 * time.Second,
		ConsumerSessionTimeout: 45 * time.Second,
		DefaultAssignor:        AssignorUniform,
	}
}

// State is a group's state, named as Kafka names it in DescribeGroups.
type State uint8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string { return stateNames[s] }

// Limits.
const (
	// offsetMetadataBytesMax is offset.metadata.max.bytes.
	offsetMetadataBytesMax = 4096
	// pendingMembersMax bounds the member ids handed out with
	// MEMBER_ID_REQUIRED and not yet used, per group.
	pendingMembersMax = 4096
)

type protocol struct {
	name     string
	metadata []byte
}

type member struct {
	id, clientID, clientHost string
	instanceID               *string
	rebalanceTimeout         time.Duration
	sessionTimeout           time.Duration
	protocolType             string
	protocols                []protocol
	assignment               []byte
	// heartbeatDeadline is when the member's session expires.
	heartbeatDeadline time.Time
	// join and sync are the member's waiting requests (0: none).
	join        Token
	joinVersion int16
	joinReq     *kmsg.JoinGroupRequest
	sync        Token
	syncReq     *kmsg.SyncGroupRequest
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// committed is one committed offset.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	timestamp   int64
}

type topicPartition struct {
	topic     string
	partition int32
}

type group struct {
	name         string
	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      []*member // in join order
	// pending are member ids handed out with MEMBER_ID_REQUIRED.
	pending map[string]time.Time
	// static maps group.instance.id to member id.
	static map[string]string
	// rebalanceDeadline ends the join phase of a rebalance.
	rebalanceDeadline time.Time
	// initialDelay is set while an empty group's first rebalance waits
	// for more members.
	initialDelay   bool
	stateChanged   time.Time
	offsets        map[topicPartition]committed
	syncAppend     uint64 // the metadata write of the leader's sync in flight
	syncGeneration int32
	// syncDeadline ends a CompletingRebalance whose leader never synced:
	// members that have not synced by then are removed.
	syncDeadline time.Time
	// consumer is set for a consumer-protocol (KIP-848) group; members,
	// generation and the rest above are then unused, but for state
	// (Empty or Stable, and Dead once deleted) and offsets.
	consumer *consumerGroup
}

func (g *group) member(id string) *member {
	for _, m := range g.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (g *group) removeMember(id string) {
	g.members = slices.DeleteFunc(g.members, func(m *member) bool { return m.id == id })
}

// Coordinator serves the groups of one __consumer_offsets partition.
type Coordinator struct {
	config    Config
	partition int32
	groups    map[string]*group
	// names is the sorted list of group names, for deterministic listings.
	names      []string
	ready      Ready
	nextAppend uint64
	nextMember uint64
	// incarnation makes member ids unique across coordinators of the
	// same partition (each leadership starts counting anew).
	incarnation string
	// waits are requests whose answer waits for an append.
	waits map[uint64]*appendWait
	// topics is the cluster's topics as UpdateTopics last gave them, by
	// name and by id; topicNames sorted.
	topics     map[string]TopicInfo
	topicIDs   map[TopicID]string
	topicNames []string
	// diverged is set when a consumer group's write or a group's
	// deletion failed: the state here is ahead of the log, and the driver
	// must rebuild the coordinator from the log (Diverged) before it
	// answers again.
	diverged bool
	// touched are the groups looked up since the last assertInvariants.
	touched []string
}

// Diverged reports that a consumer group's write or a deletion failed, so
// the groups here no longer match the log: the driver must Close this
// coordinator and replay the partition into a new one. (Kafka reverts its in-memory
// state to the last committed offset instead; replaying is the same
// thing done the simple way.)
func (c *Coordinator) Diverged() bool { return c.diverged }

type appendWait struct {
	token Token
	group string
	// commit is the offsets to apply when the append commits.
	commit   map[topicPartition]committed
	response kmsg.Response
	// onFail fills error codes into response when the append fails.
	onFail func(code int16)
	// sync marks the group metadata write of a leader's SyncGroup.
	sync bool
	// consumer marks a consumer group's write; then are answers that
	// waited for it without writing anything themselves.
	consumer bool
	then     []func(code int16)
}

// New returns a coordinator for partition of __consumer_offsets, with no
// groups: Replay what the partition holds, then serve. incarnation must
// differ between coordinators of one partition (the driver uses the
// leader epoch): it goes into the member ids handed out.
func New(config Config, partition int32, incarnation string) *Coordinator {
	return &Coordinator{config: config, partition: partition, incarnation: incarnation,
		groups: map[string]*group{}, waits: map[uint64]*appendWait{}}
}

// HasReady reports whether there are effects to take.
func (c *Coordinator) HasReady() bool {
	return len(c.ready.Responses) > 0 || len(c.ready.Appends) > 0
}

// Ready returns the effects collected since the last Advance.
func (c *Coordinator) Ready() Ready { return c.ready }

// Advance forgets the effects returned by Ready.
func (c *Coordinator) Advance() { c.ready = Ready{} }

func (c *Coordinator) respond(token Token, body kmsg.Response) {
	if token == 0 {
		return
	}
	c.ready.Responses = append(c.ready.Responses, Response{Token: token, Body: body})
}

func (c *Coordinator) append(records []Record, w *appendWait) uint64 {
	c.nextAppend++
	id := c.nextAppend
	c.ready.Appends = append(c.ready.Appends, Append{ID: id, Records: records})
	if w != nil {
		c.waits[id] = w
	}
	return id
}

func (c *Coordinator) group(name string) *group {
	g := c.groups[name]
	if g != nil {
		c.touch(name)
	}
	return g
}

func (c *Coordinator) createGroup(name string, now time.Time) *group {
	g := &group{name: name, state: Empty, pending: map[string]time.Time{}, static: map[string]string{},
		offsets: map[topicPartition]committed{}, stateChanged: now}
	c.groups[name] = g
	c.touch(name)
	i := sort.SearchStrings(c.names, name)
	c.names = slices.Insert(c.names, i, name)
	return g
}

func (c *Coordinator) removeGroup(name string) {
	delete(c.groups, name)
	if i := sort.SearchStrings(c.names, name); i < len(c.names) && c.names[i] == name {
		c.names = slices.Delete(c.names, i, i+1)
	}
}

// Groups lists the group names, sorted.
func (c *Coordinator) Groups() []string { return c.names }

// Close fails every waiting request with NOT_COORDINATOR: the partition's
// leadership moved. The coordinator must not be used afterwards.
func (c *Coordinator) Close() {
	for _, name := range c.names {
		g := c.groups[name]
		for _, m := range g.members {
			if m.join != 0 {
				c.respondJoinError(m, kerr.NotCoordinator.Code)
			}
			if m.sync != 0 {
				c.respondSyncError(m, kerr.NotCoordinator.Code)
			}
		}
	}
	ids := make([]uint64, 0, len(c.waits))
	for id := range c.waits {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.AppendDone(time.Time{}, id, kerr.NotCoordinator.Code)
	}
}

// AppendDone reports that the append named id committed (code 0) or
// failed (a Kafka error code: the driver lost leadership or the write).
func (c *Coordinator) AppendDone(now time.Time, id uint64, code int16) {
	defer c.assertInvariants()
	w, ok := c.waits[id]
	if !ok {
		return
	}
	delete(c.waits, id)
	g := c.group(w.group)
	if w.sync {
		c.syncWritten(now, g, id, code)
		return
	}
	if w.consumer && g != nil && g.consumer != nil && g.consumer.inflight == id {
		g.consumer.inflight = 0
	}
	if w.consumer && code != 0 {
		c.diverged = true
	}
	if code != 0 {
		if w.onFail != nil {
			w.onFail(code)
		}
	} else if g != nil && g.state != Dead {
		for tp, o := range w.commit {
			g.offsets[tp] = o
		}
	}
	if w.response != nil {
		c.respond(w.token, w.response)
	}
	for _, then := range w.then {
		then(code)
	}
}

// Deadline is the earliest time Tick has work: a session or rebalance
// timeout. Zero when none.
func (c *Coordinator) Deadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, name := range c.names {
		g := c.groups[name]
		if g.consumer != nil {
			c.consumerDeadline(g, earlier)
			continue
		}
		if g.state == PreparingRebalance {
			earlier(g.rebalanceDeadline)
		}
		if g.state == CompletingRebalance && g.syncAppend == 0 {
			earlier(g.syncDeadline)
		}
		for _, m := range g.members {
			if m.join == 0 || g.state != PreparingRebalance {
				earlier(m.heartbeatDeadline)
			}
		}
		for _, at := range g.pending {
			earlier(at)
		}
	}
	return next
}

// Tick expires sessions and ends join phases whose time is up.
func (c *Coordinator) Tick(now time.Time) {
	defer c.assertInvariants()
	for _, name := range c.names {
		c.touch(name)
	}
	for _, name := range slices.Clone(c.names) {
		g := c.groups[name]
		if g == nil {
			continue
		}
		if g.consumer != nil {
			c.tickConsumer(now, g)
			continue
		}
		for id, at := range g.pending {
			if !now.Before(at) {
				delete(g.pending, id)
			}
		}
		for _, m := range slices.Clone(g.members) {
			awaitingJoin := m.join != 0 && g.state == PreparingRebalance
			if !awaitingJoin && !now.Before(m.heartbeatDeadline) {
				c.removeAndRebalance(now, g, m)
			}
		}
		if g.state == CompletingRebalance && g.syncAppend == 0 && !now.Before(g.syncDeadline) {
			// The leader never brought an assignment: those that did
			// not sync leave, and the rest rebalance.
			var unsynced []*member
			for _, m := range g.members {
				if m.sync == 0 {
					unsynced = append(unsynced, m)
				}
			}
			for _, m := range unsynced {
				c.removeAndRebalance(now, g, m)
			}
		}
		if g.state == PreparingRebalance && !now.Before(g.rebalanceDeadline) {
			c.completeJoin(now, g, true)
		} else if g.state == PreparingRebalance {
			c.maybeCompleteJoin(now, g)
		}
	}
}

// removeAndRebalance drops a member (session expired or left) and starts a
// rebalance for the rest.
func (c *Coordinator) removeAndRebalance(now time.Time, g *group, m *member) {
	if m.join != 0 {
		c.respondJoinError(m, kerr.UnknownMemberID.Code)
	}
	if m.sync != 0 {
		c.respondSyncError(m, kerr.UnknownMemberID.Code)
	}
	g.removeMember(m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalance(now, g)
		c.maybeCompleteJoin(now, g)
	case PreparingRebalance:
		c.maybeCompleteJoin(now, g)
	}
}

func (c *Coordinator) setState(now time.Time, g *group, s State) {
	g.state = s
	g.stateChanged = now
}

// prepareRebalance opens a join phase: every member must rejoin within the
// largest rebalance timeout among them.
func (c *Coordinator) prepareRebalance(now time.Time, g *group) {
	if g.state == CompletingRebalance {
		// Members waiting for their assignment must rejoin instead.
		for _, m := range g.members {
			if m.sync != 0 {
				c.respondSyncError(m, kerr.RebalanceInProgress.Code)
			}
		}
	}
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	g.initialDelay = false
	if g.state == Empty && c.config.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		timeout = min(timeout, c.config.InitialRebalanceDelay)
	}
	g.rebalanceDeadline = now.Add(timeout)
	g.syncAppend = 0
	c.setState(now, g, PreparingRebalance)
}

// maybeCompleteJoin ends the join phase early once every member has
// rejoined and no handed-out member id is still expected.
func (c *Coordinator) maybeCompleteJoin(now time.Time, g *group) {
	if g.initialDelay {
		return
	}
	for _, m := range g.members {
		if m.join == 0 {
			return
		}
	}
	if len(g.pending) > 0 {
		return
	}
	c.completeJoin(now, g, false)
}

package specs

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"cairn/core"
	"cairn/core/controller"
	"cairn/core/errcode"
)

// Cluster is a pure harness of N core.Partition replicas of one partition
// and the controller (core/controller) that elects their leaders. Nothing
// moves by itself: every produce, fetch delivery, sync, crash and restart
// is one call, so a transcript or the explorer decides every interleaving.
// Each record carries a unique id, so that the predicates can tell two
// records at the same offset apart.
//
// Requests between replicas are atomic round trips taken at delivery: a
// follower's request (OffsetForLeaderEpoch or Fetch) is built when the core
// asks for it and stays in flight, carrying the follower's view at that
// time, until Deliver or Drop; meanwhile anything else may happen.
type Cluster struct {
	config ClusterConfig
	now    time.Time
	ctrl   *controller.Controller
	nodes  []*clusterNode
	// committed is, per offset, the record first seen below some replica's
	// high watermark: log matching says no replica ever holds another one
	// there below its own high watermark.
	committed []int64
	// acked is, per offset, the record acknowledged to acks=all (0: none).
	acked     []int64
	nextID    int64
	nextToken core.Token
	waiting   map[core.Token]pendingProduce
	// Log is the story so far, one line per effect, for transcripts.
	Log []string
	// quiet skips the predicates and the story while the explorer
	// replays a sequence it has already checked step by step; the
	// bookkeeping the predicates rely on still runs.
	quiet bool
}

// ClusterConfig fixes the harness's partition.
type ClusterConfig struct {
	Replicas          int
	Durability        core.DurabilityMode
	MinInsyncReplicas int
	// SyncFollowers makes a follower's log durable as soon as it
	// replicates, as a follower with a fast disk does; it saves the
	// explorer the sync events of followers (the leader's stay).
	SyncFollowers bool
}

type pendingProduce struct {
	offset, id int64
	acks       core.Acks
	// The leader process that holds the produce: once it is gone, no
	// answer comes.
	replica     int32
	incarnation int64
}

type logRecord struct {
	id    int64
	epoch int32
}

type clusterNode struct {
	id          int32
	up          bool
	incarnation int64
	core        *replicaCore
	log         []logRecord
	durable     int64
	epochs      []core.EpochEntry // the checkpoint
	// requests are in flight from this replica, oldest first: a request
	// the core has since abandoned (its leadership changed) may still
	// arrive, as on a real network.
	requests []*clusterRequest
	// responses were served by the leader and are on their way back,
	// oldest first: Answer delivers one, whatever happened since.
	responses []*clusterResponse
	lastHW    int64
	lastEpoch int32
}

type clusterRequest struct {
	query bool
	q     core.EpochQuery
	f     core.FollowerFetch
}

// clusterResponse is a leader's answer to a request, not yet back.
type clusterResponse struct {
	request *clusterRequest
	from    int32
	code    errcode.Code
	// An OffsetForLeaderEpoch answer.
	epoch int32
	end   int64
	// A fetch answer.
	records []logRecord
	hw      int64
}

func (r *clusterResponse) String() string {
	if r.request.query {
		return fmt.Sprintf("epoch %d ends at %d (error %d)", r.epoch, r.end, r.code)
	}
	return fmt.Sprintf("%d records, high watermark %d (error %d)", len(r.records), r.hw, r.code)
}

func (r *clusterRequest) String() string {
	if r.query {
		return fmt.Sprintf("OffsetForLeaderEpoch(leader=%d current-epoch=%d epoch=%d)", r.q.Leader, r.q.CurrentLeaderEpoch, r.q.Epoch)
	}
	return fmt.Sprintf("Fetch(leader=%d offset=%d current-epoch=%d)", r.f.Leader, r.f.FetchOffset, r.f.CurrentLeaderEpoch)
}

const clusterTopic = "t"

// clusterLagMax is replica.lag.time.max.ms: longer than any crash moves
// the clock, so only Shrink takes followers out of the ISR.
const clusterLagMax = time.Hour

// NewCluster creates the partition with every replica up and in the ISR,
// replica 0 leading.
func NewCluster(config ClusterConfig) *Cluster {
	c := &Cluster{config: config, now: time.Unix(0, 0), waiting: map[core.Token]pendingProduce{}}
	c.ctrl = controller.New(controller.Config{
		UncleanRestartLeavesISR:  config.Durability == core.ReplicationAcks,
		MinInsyncReplicasDefault: config.MinInsyncReplicas,
	}, controller.NewImage())
	for i := range config.Replicas {
		n := &clusterNode{id: int32(i), up: true, incarnation: 1}
		c.nodes = append(c.nodes, n)
		c.register(n, true)
	}
	if err := c.ctrl.CreateTopic(c.now, clusterTopic, 1, int16(config.Replicas), nil); err != nil {
		panic(err)
	}
	c.ctrl.Advance()
	for _, n := range c.nodes {
		n.core = c.open(n)
	}
	c.settle()
	return c
}

func (c *Cluster) register(n *clusterNode, clean bool) {
	if err := c.ctrl.RegisterBroker(c.now, controller.RegisterBroker{ID: n.id, Host: "h", Port: 9092 + n.id,
		Incarnation: n.incarnation, CleanShutdown: clean}); err != nil {
		panic(err)
	}
	c.ctrl.Heartbeat(c.now, n.id, n.incarnation, true)
	c.ctrl.Advance()
}

func (c *Cluster) open(n *clusterNode) *replicaCore {
	config := core.PartitionConfig{Topic: clusterTopic, ReplicaID: n.id, Durability: c.config.Durability,
		MinInsyncReplicas: c.config.MinInsyncReplicas, ReplicaLagMax: clusterLagMax}
	n.lastHW, n.lastEpoch = 0, -1
	return openReplicaCore(config, c.config.Replicas, n.log, n.durable, n.epochs)
}

func (c *Cluster) logf(format string, args ...any) {
	if !c.quiet {
		c.Log = append(c.Log, fmt.Sprintf(format, args...))
	}
}

// leadership is the controller's decision as brokers learn it.
func (c *Cluster) leadership() core.Leadership {
	p, _ := c.ctrl.Image().Partition(clusterTopic, 0)
	return core.Leadership{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		Replicas: p.Replicas, ISR: p.ISR}
}

// settle propagates metadata, executes every Ready and sends the requests
// the followers want, until nothing changes. It is what a driver does
// between inputs.
func (c *Cluster) settle() {
	for range 16 {
		changed := false
		l := c.leadership()
		for _, n := range c.nodes {
			if !n.up {
				continue
			}
			n.core.setLeadership(c.now, l)
			changed = c.executeReady(n) || changed
			c.poll(n)
		}
		if !changed {
			return
		}
	}
}

// requestsInFlightMax bounds the requests in flight from one replica; the
// oldest beyond it is lost.
const requestsInFlightMax = 2

func (c *Cluster) poll(n *clusterNode) {
	r, ok := n.core.nextRequest()
	if !ok {
		return
	}
	n.requests = append(n.requests, r)
	if len(n.requests) > requestsInFlightMax {
		n.requests = n.requests[1:]
	}
}

// executeReady runs one node's Ready as the driver does; it reports whether
// the controller's metadata changed.
func (c *Cluster) executeReady(n *clusterNode) bool {
	if !n.core.hasReady() {
		return false
	}
	rd := n.core.ready()
	if rd.Truncate >= 0 && rd.Truncate < int64(len(n.log)) {
		c.logf("replica %d truncates its log to %d", n.id, rd.Truncate)
		n.log = n.log[:rd.Truncate]
		n.durable = min(n.durable, rd.Truncate)
	}
	if rd.Truncate >= 0 {
		n.core.truncatedTo(int64(len(n.log)))
	}
	if rd.SyncWanted && c.config.SyncFollowers && n.core.role() == core.RoleFollower {
		n.durable = int64(len(n.log))
		n.core.synced(n.durable)
	}
	if rd.EpochsChanged {
		n.epochs = n.core.epochs()
	}
	for _, a := range rd.Acks {
		c.ack(n, a)
	}
	changed := false
	if rd.Proposal != nil {
		changed = c.propose(n, rd.Proposal)
	}
	n.core.advance()
	return changed
}

func (c *Cluster) ack(n *clusterNode, a core.Ack) {
	w, ok := c.waiting[a.Token]
	if !ok {
		panic(fmt.Sprintf("ack of unknown token %d", a.Token))
	}
	delete(c.waiting, a.Token)
	if a.Error != errcode.None {
		c.logf("replica %d answers produce of record %d: error %d", n.id, w.id, a.Error)
		return
	}
	c.logf("replica %d acknowledges record %d at offset %d (acks=%d)", n.id, w.id, w.offset, w.acks)
	if w.acks == -1 {
		for int64(len(c.acked)) <= w.offset {
			c.acked = append(c.acked, 0)
		}
		c.acked[w.offset] = w.id
	}
}

func (c *Cluster) propose(n *clusterNode, p *core.ISRProposal) bool {
	err := c.ctrl.AlterPartition(c.now, clusterTopic, 0, n.id, p.LeaderEpoch, p.PartitionEpoch, p.ISR)
	if err != nil {
		c.logf("controller refuses ISR %v from replica %d: %s", p.ISR, n.id, err.Message)
		n.core.proposalFailed(c.now)
		return false
	}
	return c.commitController()
}

func (c *Cluster) commitController() bool {
	if !c.ctrl.HasReady() {
		return false
	}
	for _, r := range c.ctrl.Ready().Records {
		c.logf("controller: %s", r)
	}
	c.ctrl.Advance()
	return true
}

// leader returns the live replica leading in the controller's epoch.
func (c *Cluster) leader() *clusterNode {
	l := c.leadership()
	for _, n := range c.nodes {
		if n.up && n.id == l.Leader && n.core.role() == core.RoleLeader {
			return n
		}
	}
	return nil
}

// Produce writes one record at the leader, as its driver would.
func (c *Cluster) Produce(acks core.Acks) error {
	n := c.leader()
	if n == nil {
		c.logf("produce: no leader")
		return c.Check()
	}
	token := c.nextToken + 1
	base, epoch, code := n.core.produce(token, acks)
	if code != errcode.None {
		c.logf("replica %d refuses produce: error %d", n.id, code)
		return c.Check()
	}
	c.nextID++
	c.nextToken = token
	n.log = append(n.log, logRecord{id: c.nextID, epoch: epoch})
	c.waiting[token] = pendingProduce{offset: base, id: c.nextID, acks: acks, replica: n.id, incarnation: n.incarnation}
	c.logf("replica %d appends record %d at offset %d in epoch %d", n.id, c.nextID, base, epoch)
	c.settle()
	return c.Check()
}

// Sync makes a replica's log durable to its end.
func (c *Cluster) Sync(id int32) error {
	n := c.nodes[id]
	if n.up && n.durable < int64(len(n.log)) {
		n.durable = int64(len(n.log))
		n.core.synced(n.durable)
		c.settle()
	}
	return c.Check()
}

// RefusedError is a harness command that cannot run in the current state
// (no such request, a replica already up): a mistake in a transcript, not
// a broken guarantee.
type RefusedError struct{ msg string }

func (e *RefusedError) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &RefusedError{msg: fmt.Sprintf(format, args...)}
}

// InFlight reports how many requests a replica has in flight.
func (c *Cluster) InFlight(id int32) int { return len(c.nodes[id].requests) }

func (c *Cluster) take(id int32, i int) (*clusterRequest, error) {
	n := c.nodes[id]
	if i < 0 || i >= len(n.requests) {
		return nil, refuse("replica %d has no request %d in flight", id, i)
	}
	r := n.requests[i]
	n.requests = append(n.requests[:i:i], n.requests[i+1:]...)
	return r, nil
}

// Drop loses request i in flight from a replica with its connection.
func (c *Cluster) Drop(id int32, i int) error {
	r, err := c.take(id, i)
	if err != nil {
		return err
	}
	c.logf("replica %d's %s is lost", id, r)
	c.nodes[id].core.requestFailed(r)
	c.settle()
	return c.Check()
}

// Deliver runs request i in flight from a replica at the replica it names
// and brings the answer straight back: Serve and then Answer.
func (c *Cluster) Deliver(id int32, i int) error {
	if err := c.Serve(id, i); err != nil {
		return err
	}
	n := c.nodes[id]
	if len(n.responses) == 0 {
		return nil // the leader was down: nothing comes back
	}
	return c.Answer(id, len(n.responses)-1)
}

// Serve runs request i in flight from a replica at the replica it names;
// the answer stays on its way back until Answer, so that elections,
// crashes and newer requests can overtake it.
func (c *Cluster) Serve(id int32, i int) error {
	r, err := c.take(id, i)
	if err != nil {
		return err
	}
	n := c.nodes[id]
	to := r.f.Leader
	if r.query {
		to = r.q.Leader
	}
	l := c.nodes[to]
	switch {
	case !l.up:
		c.logf("replica %d's %s finds replica %d down", id, r, to)
		n.core.requestFailed(r)
	case r.query:
		n.responses = append(n.responses, c.serveQuery(n, l, r))
	default:
		resp, err := c.serveFetch(n, l, r)
		if err != nil {
			return err
		}
		n.responses = append(n.responses, resp)
	}
	c.settle()
	return c.Check()
}

func (c *Cluster) serveQuery(n, l *clusterNode, r *clusterRequest) *clusterResponse {
	epoch, end, code := l.core.serveQuery(r.q)
	c.logf("replica %d answers replica %d's OffsetForLeaderEpoch(%d): epoch %d ends at %d (error %d)", l.id, n.id, r.q.Epoch, epoch, end, code)
	return &clusterResponse{request: r, from: l.id, code: code, epoch: epoch, end: end}
}

// serveFetch serves a follower fetch at the leader.
func (c *Cluster) serveFetch(n, l *clusterNode, r *clusterRequest) (*clusterResponse, error) {
	f := r.f
	code := l.core.serveFetch(c.now, n.id, f)
	if err := checkFenced(l, f.CurrentLeaderEpoch, code, fmt.Sprintf("a fetch from replica %d", n.id)); err != nil {
		return nil, err
	}
	resp := &clusterResponse{request: r, from: l.id, code: code, hw: l.core.highWatermark()}
	if code == errcode.None {
		resp.records = slices.Clone(l.log[f.FetchOffset:])
	}
	c.settleNode(l)
	c.logf("replica %d answers replica %d's fetch at %d: %d records, high watermark %d (error %d)", l.id, n.id, f.FetchOffset, len(resp.records), resp.hw, code)
	return resp, nil
}

// checkFenced is KIP-320: a fetch naming an older leader epoch than the one
// serving it is fenced, whatever it would read.
func checkFenced(l *clusterNode, named int32, code errcode.Code, what string) error {
	if code == errcode.None && named >= 0 && named < l.core.leaderEpoch() {
		return fmt.Errorf("replica %d served %s naming leader epoch %d in its epoch %d (KIP-320)",
			l.id, what, named, l.core.leaderEpoch())
	}
	return nil
}

// InTransit reports how many answers are on their way back to a replica.
func (c *Cluster) InTransit(id int32) int { return len(c.nodes[id].responses) }

// Answer brings answer i on its way back to a replica, which applies it
// only if its core still waits for it.
func (c *Cluster) Answer(id int32, i int) error {
	n := c.nodes[id]
	if i < 0 || i >= len(n.responses) {
		return refuse("replica %d has no answer %d on its way", id, i)
	}
	resp := n.responses[i]
	n.responses = append(n.responses[:i:i], n.responses[i+1:]...)
	if !n.core.current(resp.request) {
		c.logf("replica %d ignores replica %d's stale answer to %s: %s", id, resp.from, resp.request, resp)
	} else if resp.request.query {
		n.core.queryAnswered(resp.request.q, resp.epoch, resp.end, resp.code)
	} else {
		c.applyFetch(n, resp)
	}
	c.settle()
	return c.Check()
}

// applyFetch appends a fetch answer at the follower.
func (c *Cluster) applyFetch(n *clusterNode, resp *clusterResponse) {
	f := resp.request.f
	from := max(f.FetchOffset, n.core.endOffset())
	skip := from - f.FetchOffset
	if skip > int64(len(resp.records)) {
		skip = int64(len(resp.records))
	}
	taken, code := n.core.replicate(from, resp.records[skip:])
	n.log = append(n.log, resp.records[skip:skip+int64(taken)]...)
	if resp.code != errcode.None {
		code = resp.code
	}
	n.core.fetchAnswered(f, resp.hw, code)
}

// Consume is a consumer's fetch at a replica from offset, naming leader
// epoch epoch (-1: none): fenced as KIP-320 says, then served from the
// leader below its high watermark.
func (c *Cluster) Consume(id int32, offset int64, epoch int32) error {
	n := c.nodes[id]
	if !n.up {
		c.logf("consumer finds replica %d down", id)
		return c.Check()
	}
	code := n.core.checkEpoch(epoch)
	if code == errcode.None && n.core.role() != core.RoleLeader {
		code = errcode.NotLeaderOrFollower
	}
	if err := checkFenced(n, epoch, code, "a consumer fetch"); err != nil {
		return err
	}
	hw := n.core.highWatermark()
	if code == errcode.None && (offset < 0 || offset > hw) {
		code = errcode.OffsetOutOfRange
	}
	var records []int64
	if code == errcode.None {
		records = ids(n.log[offset:hw])
	}
	c.logf("replica %d answers a consumer's fetch at %d naming epoch %d: records %v, high watermark %d (error %d)",
		id, offset, epoch, records, hw, code)
	return c.Check()
}

func (c *Cluster) settleNode(n *clusterNode) {
	if c.executeReady(n) {
		c.settle()
	}
}

// Crash stops a replica; its log keeps keep records (anything from its
// durable offset to its end). The controller fences it once its session
// lapses, which this call lets happen.
func (c *Cluster) Crash(id int32, keep int64) error {
	n := c.nodes[id]
	if !n.up || keep < n.durable || keep > int64(len(n.log)) {
		return refuse("crash of replica %d keeping %d: not up or outside [%d, %d]", id, keep, n.durable, len(n.log))
	}
	c.logf("replica %d crashes keeping %d of %d records", id, keep, len(n.log))
	n.up, n.requests, n.responses, n.core = false, nil, nil, nil
	n.log = n.log[:keep]
	n.durable = keep
	// The produces waiting at a crashed leader get no answer: their
	// clients time out, and the tokens stay unanswered in c.waiting.
	c.heartbeatLive()
	c.now = c.now.Add(10 * time.Second)
	c.heartbeatLive()
	c.ctrl.Tick(c.now)
	c.commitController()
	c.settle()
	return c.Check()
}

func (c *Cluster) heartbeatLive() {
	for _, n := range c.nodes {
		if n.up {
			c.ctrl.Heartbeat(c.now, n.id, n.incarnation, true)
		}
	}
	c.ctrl.Tick(c.now)
	c.commitController()
}

// Restart starts a crashed replica on what its log kept: it registers as a
// new incarnation after an unclean shutdown, catches up with the metadata
// and is unfenced.
func (c *Cluster) Restart(id int32) error {
	n := c.nodes[id]
	if n.up {
		return refuse("replica %d is up", id)
	}
	n.up = true
	n.incarnation++
	n.epochs = truncateEpochs(n.epochs, int64(len(n.log)))
	n.core = c.open(n)
	c.logf("replica %d restarts with %d records", id, len(n.log))
	c.register(n, false)
	c.logControllerImage()
	c.settle()
	return c.Check()
}

func truncateEpochs(entries []core.EpochEntry, end int64) []core.EpochEntry {
	cache := core.NewEpochCache(entries)
	cache.TruncateFrom(end)
	return slices.Clone(cache.Entries())
}

func (c *Cluster) logControllerImage() {
	l := c.leadership()
	c.logf("controller: leader %d epoch %d isr %v", l.Leader, l.LeaderEpoch, l.ISR)
}

// Shrink lets every follower's lag exceed replica.lag.time.max.ms and ticks
// the leader, which proposes an ISR of those that caught up since.
func (c *Cluster) Shrink() error {
	c.now = c.now.Add(clusterLagMax + time.Second)
	c.heartbeatLive()
	if n := c.leader(); n != nil {
		n.core.tick(c.now)
	}
	c.settle()
	return c.Check()
}

// Elect moves leadership back to the preferred replica where it can lead.
func (c *Cluster) Elect() error {
	c.ctrl.ElectPreferredLeaders(c.now)
	c.commitController()
	c.settle()
	return c.Check()
}

// Stabilize syncs every replica, brings back every answer on its way and
// delivers every request in flight,
// round after round, until a round changes nothing (at most 32 rounds).
func (c *Cluster) Stabilize() error {
	_, err := c.stabilize()
	return err
}

// stabilize is Stabilize, returning the events it ran.
func (c *Cluster) stabilize() ([]clusterEvent, error) {
	var events []clusterEvent
	run := func(e clusterEvent) error {
		events = append(events, e)
		return (&clusterRun{c: c}).apply(e)
	}
	for range 32 {
		before := c.String()
		for _, n := range c.nodes {
			if n.up && n.durable < int64(len(n.log)) {
				if err := run(clusterEvent{kind: "sync", replica: n.id}); err != nil {
					return events, err
				}
			}
			if n.up && len(n.responses) > 0 {
				if err := run(clusterEvent{kind: "answer", replica: n.id}); err != nil {
					return events, err
				}
			}
			if n.up && len(n.requests) > 0 {
				if err := run(clusterEvent{kind: "deliver", replica: n.id}); err != nil {
					return events, err
				}
			}
		}
		if c.String() == before {
			return events, nil
		}
	}
	return events, nil
}

// Check evaluates the predicates of this package over every live replica.
func (c *Cluster) Check() error {
	if c.quiet {
		c.recordProgress()
		return nil
	}
	var statuses []core.PartitionStatus
	for _, n := range c.nodes {
		if !n.up {
			continue
		}
		s := n.core.status()
		statuses = append(statuses, s)
		if err := CheckOffsets(s); err != nil {
			return err
		}
		if err := CheckLogAgrees(s, int64(len(n.log)), n.durable); err != nil {
			return err
		}
		if err := CheckProgress(core.PartitionStatus{HighWatermark: n.lastHW, LeaderEpoch: n.lastEpoch}, s); err != nil {
			return err
		}
		n.lastHW, n.lastEpoch = s.HighWatermark, s.LeaderEpoch
		if err := c.checkLogMatching(n, s.HighWatermark); err != nil {
			return err
		}
	}
	committedEnd := int64(len(c.acked))
	if err := CheckReplicas(statuses, func(string, int32) int64 { return committedEnd },
		func(string, int32, int32) int32 { return -1 }); err != nil {
		return err
	}
	if l := c.leader(); l != nil {
		return CheckLeaderComplete(l.id, ids(l.log), c.acked)
	}
	return nil
}

func ids(log []logRecord) []int64 {
	out := make([]int64, len(log))
	for i, r := range log {
		out[i] = r.id
	}
	return out
}

func (c *Cluster) checkLogMatching(n *clusterNode, hw int64) error {
	c.recordCommitted(n, hw)
	return CheckLogMatching(n.id, ids(n.log), hw, c.committed)
}

// recordCommitted notes the records first seen below a high watermark.
func (c *Cluster) recordCommitted(n *clusterNode, hw int64) {
	for o := int64(len(c.committed)); o < hw; o++ {
		c.committed = append(c.committed, n.log[o].id)
	}
}

// recordProgress is what Check remembers, without checking.
func (c *Cluster) recordProgress() {
	for _, n := range c.nodes {
		if n.up {
			s := n.core.status()
			n.lastHW, n.lastEpoch = s.HighWatermark, s.LeaderEpoch
			c.recordCommitted(n, s.HighWatermark)
		}
	}
}

// String describes every replica, for transcripts.
func (c *Cluster) String() string {
	var b strings.Builder
	l := c.leadership()
	fmt.Fprintf(&b, "controller: leader=%d epoch=%d isr=%v\n", l.Leader, l.LeaderEpoch, l.ISR)
	for _, n := range c.nodes {
		if !n.up {
			fmt.Fprintf(&b, "replica %d: down, log %v durable=%d\n", n.id, ids(n.log), n.durable)
			continue
		}
		s := n.core.status()
		fmt.Fprintf(&b, "replica %d: %s epoch=%d log=%v hw=%d durable=%d", n.id, s.Role, s.LeaderEpoch, ids(n.log), s.HighWatermark, s.DurableOffset)
		for _, r := range n.requests {
			fmt.Fprintf(&b, " in-flight=%s", r)
		}
		for _, r := range n.responses {
			fmt.Fprintf(&b, " answer-to=%s:%s", r.request, r)
		}
		b.WriteString("\n")
	}
	return b.String()
}

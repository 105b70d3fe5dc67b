package sim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"cairn/diskfault"
	"cairn/netsim"
	"cairn/replica"
	"cairn/replica/transport"
)

// broker is one simulated broker process: a real replica.Node on an
// in-memory disk, whose inputs the simulator delivers and whose outputs it
// executes.
type broker struct {
	index       int
	id          netsim.NodeID
	config      replica.Config
	mem         *diskfault.Mem
	fs          diskfault.FS
	injected    *diskfault.Counter
	toggles     [faultKinds]*diskfault.Toggle
	rng         *rand.Rand
	node        *replica.Node // nil while down
	incarnation int
	paused      bool
	held        []heldInput // inputs that arrived while paused, in order
	open        map[netsim.ConnID]bool
	// peers are this broker's sessions with other brokers, by broker
	// index; dialed maps their connection ids back to the broker index, or
	// to -1 once their session failed.
	peers       map[int]*peerSession
	dialed      map[netsim.ConnID]int
	tickAt      time.Duration
	tickPending bool
	rates       [faultKinds]faultRate
	// What the control faults (aimed.go) left for this broker: copies of
	// its requests on connections of their own, connections whose next
	// answer is lost, a pause to take once the request being handled is,
	// sessions it gave up on whose PeerDown the node has yet to hear, and
	// crashes waiting for a metadata entry to be applied.
	ghosts      map[netsim.ConnID]ghostRequest
	dropAnswer  map[netsim.ConnID]bool
	pauseAfter  time.Duration
	downPending []int
	crashAt     []pendingCrash
}

// traceWriter puts a broker's log lines into the run's trace.
type traceWriter struct {
	w      *World
	prefix string
}

func (t *traceWriter) Write(p []byte) (int, error) {
	t.w.tracef("%s%s", t.prefix, strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// dropTime removes the wall-clock time from log records: the trace has the
// virtual time already, and the wall clock must never reach it.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// peerSession is a broker's connections to another broker between two
// PeerDowns. Which connection carries a request is transport.Session's
// decision, the very policy of the runtime shell (replica/shell): a control
// connection for every request but Fetch, and fetch connections that each
// carry one follower fetch at a time. The simulator owns only the netsim
// connections and what a dialing TCP connection does: hold frames until it
// is up.
type peerSession struct {
	route transport.Session[*peerConn]
}

// peerConn is one connection of a session: frames queue while it dials.
type peerConn struct {
	conn   netsim.ConnID
	up     bool
	queued [][]byte
}

// faultRate strikes with the probability of the disk fault now in force.
type faultRate struct {
	numerator, denominator uint64
	rng                    *rand.Rand
}

// Match implements diskfault.Predicate.
func (r *faultRate) Match(diskfault.Op) bool {
	return r.denominator > 0 && r.rng.Uint64N(r.denominator) < r.numerator
}

// heldInput is a network event or a simulator event that reached a paused
// broker; it is replayed in order on resume.
type heldInput struct {
	network *netsim.Event
	event   *event
}

func newBroker(w *World, index int) *broker {
	b := &broker{
		index:  index,
		id:     netsim.NodeID(index),
		mem:    diskfault.NewMem(),
		rng:    newStream(w.options.Seed, streamBroker+uint64(index)),
		open:   map[netsim.ConnID]bool{},
		peers:  map[int]*peerSession{},
		dialed: map[netsim.ConnID]int{},
		ghosts: map[netsim.ConnID]ghostRequest{},

		dropAnswer: map[netsim.ConnID]bool{},
	}
	b.config = replica.DefaultConfig()
	b.config.NodeID = int32(index)
	b.config.DataDir = "/data"
	b.config.AutoCreateTopics = false
	b.config.Standalone = w.options.Brokers == 1
	b.config.AdvertisedHost = fmt.Sprintf("sim-b%d", index)
	b.config.SessionTimeout = 3 * time.Second
	b.config.ReplicaLagMax = 2 * time.Second
	b.config.Durability = w.options.Durability
	b.config.Log.SegmentBytesMax = 64 << 10 // small segments: rolls happen in every run
	// The long timers, compressed into the run (drawTimers).
	b.config.Log.SegmentAgeMax = w.options.SegmentAgeMax
	b.config.ProducerIdleMax = w.options.ProducerIdleMax
	b.config.ProducerExpiryInterval = w.options.ProducerExpiryInterval
	// Consumer groups (group.go): few __consumer_offsets partitions, and no
	// wait for more members before a group's first rebalance.
	// __consumer_offsets is replicated as the scenario's topics are.
	b.config.OffsetsTopicPartitions = offsetsTopicPartitions
	b.config.GroupInitialRebalanceDelay = 0
	// Consumer-protocol groups (consumer_group.go): a session a member's
	// cut (groupCutMax) can outlast.
	b.config.GroupConsumerHeartbeatInterval = brokerConsumerHeartbeatInterval
	b.config.GroupConsumerSessionTimeout = brokerConsumerSessionTimeout
	b.config.DefaultReplicationFactor = int16(w.options.ReplicationFactor)
	// Leaders move back to their preferred replicas every 30 s for any
	// imbalance, as before these settings existed: within a run's virtual
	// minute a leader that moved away after a fault moves back, and every
	// seed keeps the trace it had.
	b.config.LeaderImbalanceCheckInterval = 30 * time.Second
	b.config.LeaderImbalancePerBrokerPercentage = 0
	var injectors []diskfault.Injector
	diskRng := newStream(w.options.Seed, streamDisk+uint64(16*index))
	add := func(kind FaultKind, make func(diskfault.Predicate) diskfault.Injector, ops ...diskfault.OpKind) {
		t := &diskfault.Toggle{}
		b.toggles[kind] = t
		rate := &b.rates[kind]
		rate.rng = diskRng
		injectors = append(injectors, make(diskfault.All(diskfault.Kinds(ops...), t, rate)))
	}
	add(FaultWriteError, diskfault.EIO, diskfault.OpWrite)
	add(FaultSyncError, diskfault.EIO, diskfault.OpSync)
	add(FaultReadError, diskfault.EIO, diskfault.OpRead)
	add(FaultNoSpace, diskfault.ENOSPC, diskfault.OpWrite)
	add(FaultBitFlip, func(p diskfault.Predicate) diskfault.Injector {
		inj, err := diskfault.BitFlip(p, diskRng)
		if err != nil {
			panic(err)
		}
		return inj
	}, diskfault.OpRead)
	b.injected = diskfault.NewCounter(diskfault.Chain(injectors...))
	b.fs = diskfault.Wrap(b.mem, b.injected)
	return b
}

// start opens the node on the broker's disk: recovery runs here.
func (b *broker) start(w *World) error {
	logger := slog.New(slog.NewTextHandler(&traceWriter{w: w, prefix: fmt.Sprintf("b%d log ", b.index)},
		&slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime}))
	node, err := replica.Open(b.config, replica.Env{FS: b.fs, Logger: logger, Rand: b.rng}, w.wallTime())
	if err != nil {
		return err
	}
	b.node = node
	return nil
}

// deliver hands a network event to the node, or holds it while paused.
func (b *broker) deliver(w *World, ev netsim.Event) {
	if b.node == nil {
		return
	}
	if b.paused {
		b.held = append(b.held, heldInput{network: &ev})
		return
	}
	if _, ok := b.ghosts[ev.Conn]; ok {
		b.onGhostEvent(w, ev)
		return
	}
	if peer, ok := b.dialed[ev.Conn]; ok {
		b.onPeerEvent(w, peer, ev)
		b.flush(w)
		return
	}
	conn := replica.ConnID(ev.Conn)
	switch ev.Kind {
	case netsim.EventAccepted:
		b.open[ev.Conn] = true
	case netsim.EventDeliver:
		if b.receiveAsController(w, ev) {
			return // held: the controller paused before handling it
		}
		w.tracef("b%d recv conn=%d %s", b.index, ev.Conn, describeRequest(ev.Payload))
		w.noteFetch(b, ev.Conn, ev.Payload)
		w.noteProduce(b, ev.Conn, ev.Payload)
		w.noteProduceArrival(ev.Conn, ev.Payload)
		b.node.HandleFrame(w.wallTime(), conn, ev.Payload)
	case netsim.EventClosed, netsim.EventReset:
		delete(b.open, ev.Conn)
		delete(b.dropAnswer, ev.Conn)
		b.node.ConnClosed(conn)
	}
	b.flush(w)
	if d := b.pauseAfter; d > 0 {
		b.pauseAfter = 0
		b.pause(w, d)
	}
}

// onPeerEvent handles an event on a connection this broker dialed to
// another broker: responses go to the node; a broken connection fails its
// whole session, and the node hears once that its requests there are lost.
func (b *broker) onPeerEvent(w *World, peer int, ev netsim.Event) {
	session := b.peers[peer]
	if peer < 0 || session == nil {
		return // a connection of a session that already failed
	}
	var c *peerConn
	for _, s := range session.route.Conns() {
		if s.conn == ev.Conn {
			c = s
		}
	}
	switch ev.Kind {
	case netsim.EventConnected:
		c.up = true
		for _, frame := range c.queued {
			w.net.Send(w.now, c.conn, b.id, frame)
		}
		c.queued = nil
	case netsim.EventDeliver:
		session.route.Answered(c)
		b.node.PeerResponse(w.wallTime(), int32(peer), ev.Payload)
	case netsim.EventDialFailed, netsim.EventClosed, netsim.EventReset:
		for _, other := range session.route.Conns() {
			b.dialed[other.conn] = -1
			if other != c {
				w.net.Close(w.now, other.conn, b.id)
			}
		}
		delete(b.peers, peer)
		b.node.PeerDown(w.wallTime(), int32(peer))
	}
}

// sendPeer sends a request frame (size prefix included) to another broker
// on the connection the session's policy picks, dialing first if needed.
func (b *broker) sendPeer(w *World, peer int, frame []byte) {
	if peer < 0 || peer >= len(w.brokers) || peer == b.index {
		return
	}
	session := b.peers[peer]
	if session == nil {
		session = &peerSession{}
		b.peers[peer] = session
	}
	c, _ := session.route.Route(frame, func() (*peerConn, bool) {
		c := &peerConn{conn: w.net.Dial(w.now, b.id, w.brokers[peer].id)}
		b.dialed[c.conn] = peer
		return c, true
	})
	if !c.up {
		c.queued = append(c.queued, transport.Payload(frame))
		return
	}
	if len(w.aimed.armed) > 0 && b.sendToController(w, peer, c, transport.Payload(frame)) {
		return
	}
	w.net.Send(w.now, c.conn, b.id, transport.Payload(frame))
}

// flush executes the node's Ready through replica.Node.Execute, the loop
// the runtime shell runs too.
func (b *broker) flush(w *World) {
	b.node.Execute(brokerDriver{b, w})
	for len(b.downPending) > 0 && b.node != nil {
		peer := b.downPending[0]
		b.downPending = b.downPending[1:]
		b.node.PeerDown(w.wallTime(), int32(peer))
		b.node.Execute(brokerDriver{b, w})
	}
}

// brokerDriver is the simulator as a node's replica.Driver: the network,
// the metadata quorum, fsync latency and ticks in virtual time.
type brokerDriver struct {
	b *broker
	w *World
}

func (d brokerDriver) Send(id replica.ConnID, frame []byte) {
	b, w := d.b, d.w
	conn := netsim.ConnID(id)
	if !b.open[conn] {
		return // the client is gone; so is the response
	}
	if b.dropAnswer[conn] {
		// drop-answer (aimed.go): the request was handled, and its
		// connection breaks as the answer leaves.
		delete(b.dropAnswer, conn)
		w.tracef("b%d answer lost on conn=%d", b.index, conn)
		d.Close(id)
		return
	}
	payload := transport.Payload(frame)
	w.checkFetchAnswer(b, conn, payload)
	w.noteProduceAnswer(b, conn, payload)
	w.net.Send(w.now, conn, b.id, payload)
}

func (d brokerDriver) Close(id replica.ConnID) {
	b, w := d.b, d.w
	conn := netsim.ConnID(id)
	if b.open[conn] {
		delete(b.open, conn)
		w.net.Close(w.now, conn, b.id)
		b.node.ConnClosed(id)
	}
}

func (d brokerDriver) SendPeer(m replica.PeerMessage) { d.b.sendPeer(d.w, int(m.To), m.Frame) }

func (d brokerDriver) Propose(entries [][]byte) {
	for _, entry := range entries {
		d.w.proposeMetadata(d.b.index, entry)
	}
}

func (d brokerDriver) StartSync(task *replica.SyncTask) {
	w := d.w
	latency := w.options.FsyncLatencyMin
	if spread := w.options.FsyncLatencyMax - w.options.FsyncLatencyMin; spread > 0 {
		latency += time.Duration(w.latencyRng.Int64N(int64(spread)))
	}
	w.schedule(w.now+latency, eventSyncDone, d.b.index, d.b.incarnation, task)
}

func (d brokerDriver) TickBy(deadline time.Time) {
	b, w := d.b, d.w
	if deadline.IsZero() {
		return
	}
	at := max(deadline.Sub(w.epoch), w.now)
	if !b.tickPending || at < b.tickAt {
		b.tickAt, b.tickPending = at, true
		w.schedule(at, eventBrokerTick, b.index, b.incarnation, nil)
	}
}

// onEvent runs a simulator event addressed to this broker.
func (b *broker) onEvent(w *World, e *event) {
	if e.incarnation != b.incarnation || b.node == nil {
		return // caused by a process that has since crashed
	}
	if b.paused {
		b.held = append(b.held, heldInput{event: e})
		return
	}
	switch e.kind {
	case eventMetadataDeliver:
		w.deliverMetadata(b)
	case eventMetadataFailed:
		b.node.ProposalFailed(w.wallTime())
	case eventSyncDone:
		task := e.payload.(*replica.SyncTask)
		err := task.Run()
		w.tracef("b%d fsync done err=%v", b.index, err)
		b.node.SyncDone(w.wallTime(), task, err)
	case eventBrokerTick:
		if b.tickPending && e.at >= b.tickAt {
			b.tickPending = false
		}
		b.node.Tick(w.wallTime())
	}
	b.flush(w)
}

// crash is power loss: the process dies, and the disk keeps what crash
// semantics keep.
func (b *broker) crash(w *World, restartAfter time.Duration) {
	if b.node == nil {
		return
	}
	w.tracef("b%d CRASH (restart in %v)", b.index, restartAfter)
	b.node = nil
	b.paused = false
	b.held = nil
	b.tickPending = false
	b.incarnation++
	clear(b.open)
	clear(b.peers)
	clear(b.dialed)
	clear(b.ghosts)
	clear(b.dropAnswer)
	b.pauseAfter, b.downPending, b.crashAt = 0, nil, nil
	if w.metadata != nil {
		w.metadata.delivered[b.index] = 0
		if w.metadata.leader == b.index {
			w.scheduleMetadataElection()
		}
	}
	w.checkSynced(b, fmt.Sprintf("at b%d's crash", b.index))
	b.mem.Crash(w.diskRng)
	w.net.SetDown(w.now, b.id, true)
	w.forgetStatus(b.index)
	w.schedule(w.now+restartAfter, eventRestart, b.index, b.incarnation, nil)
}

// loseDisk destroys the broker's disk: the process dies, and comes back on
// an empty one, as on a replaced machine. The new data directory gets a new
// identity, by which the controller learns that the broker lost its data.
func (b *broker) loseDisk(w *World, restartAfter time.Duration) {
	if b.node != nil {
		b.crash(w, restartAfter)
	}
	w.tracef("b%d DISK LOST", b.index)
	registered, _ := w.image.Broker(int32(b.index))
	w.lostDisk[b.index] = registered.DirectoryID
	w.replicaInputs++
	w.forgetHolder(b.index)
	b.mem = diskfault.NewMem()
	b.fs = diskfault.Wrap(b.mem, b.injected)
}

// restart brings a crashed broker back. Recovery may fail while disk
// faults are on; then it is retried, as an operator would. A failure
// without an injected fault is a bug.
func (b *broker) restart(w *World) {
	if b.node != nil {
		return
	}
	before := b.injected.Count()
	if err := b.start(w); err != nil {
		if b.injected.Count() > before {
			w.tracef("b%d restart failed under injected faults: %v", b.index, err)
			w.schedule(w.now+time.Second, eventRestart, b.index, b.incarnation, nil)
			return
		}
		w.violation("restart", fmt.Sprintf("broker %d failed to recover without any injected fault: %v", b.index, err))
		return
	}
	w.tracef("b%d restarted", b.index)
	w.net.SetDown(w.now, b.id, false)
	b.rejoinMetadata(w)
}

// rejoinMetadata replays the metadata log into a broker that restarted or
// resumed, and tells it who leads.
func (b *broker) rejoinMetadata(w *World) {
	if w.metadata == nil || b.node == nil {
		return
	}
	w.deliverMetadata(b)
	b.node.SetControllerLeader(w.wallTime(), int32(w.metadata.leader))
	b.flush(w)
}

func (b *broker) pause(w *World, d time.Duration) {
	if b.node == nil || b.paused {
		return
	}
	w.tracef("b%d PAUSE for %v", b.index, d)
	b.paused = true
	if w.metadata != nil && w.metadata.leader == b.index {
		w.scheduleMetadataElection()
	}
	w.schedule(w.now+d, eventResume, b.index, b.incarnation, nil)
}

func (b *broker) resume(w *World) {
	if !b.paused {
		return
	}
	w.tracef("b%d resume (%d held)", b.index, len(b.held))
	b.paused = false
	held := b.held
	b.held = nil
	for i, h := range held {
		if b.node == nil {
			return // crashed: what it held is gone with the process
		}
		if b.paused {
			// Paused again by what it just handled (pause-controller):
			// the rest waits, in order, behind what that pause held.
			b.held = append(b.held, held[i:]...)
			return
		}
		if h.network != nil {
			b.deliver(w, *h.network)
		} else {
			b.onEvent(w, h.event)
		}
	}
	b.rejoinMetadata(w)
}

// failed reports whether the broker needs a restart: a partition's log or
// its metadata log failed.
func (b *broker) failed() bool {
	if b.node == nil {
		return false
	}
	if b.node.MetadataFailed() {
		return true
	}
	for _, p := range b.node.Partitions() {
		if p.Failed {
			return true
		}
	}
	return false
}

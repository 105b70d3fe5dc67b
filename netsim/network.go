package netsim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// staleEntriesCompactMin is how many invalid entries the heap may carry
// before it is compacted (and then only once they are half of it), bounding
// the memory that cancelled deliveries and timers can hold.
const staleEntriesCompactMin = 1024

// queueCompactMin is how many delivered messages may sit at the front of a
// direction's queue before the queue is shifted down, so that a direction
// that never drains does not grow without bound.
const queueCompactMin = 256

// connectionState is where a connection is in its life.
type connectionState uint8

const (
	// connectionDialing: the handshake will succeed (Accepted, Connected
	// scheduled) unless a fault intervenes.
	connectionDialing connectionState = iota + 1
	// connectionFailing: the dialer's EventDialFailed is scheduled; the
	// dialed node never hears of the connection.
	connectionFailing
	// connectionEstablished: the dialed node has been told (Accepted).
	connectionEstablished
	// connectionBroken: the connection reset; ends are being told.
	connectionBroken
	// connectionFinished: both ends are done; no entry refers to it.
	connectionFinished
)

// endState is what one end knows about its connection.
type endState uint8

const (
	endPending endState = iota // not yet told Connected or Accepted
	endOpen                    // told, and may Send
	endDone                    // closed by itself, or told DialFailed, Closed or Reset
)

// connectionEnd is one endpoint of a connection. Index 0 is the dialer,
// index 1 the dialed node.
type connectionEnd struct {
	node          NodeID
	state         endState
	openKind      EventKind // what the entryOpen will tell this end
	openSequence  uint64    // valid entryOpen, or 0
	resetSequence uint64    // valid entryReset, or 0
}

// message is one frame in flight, or the closing marker that follows the
// last frame of a closed end.
type message struct {
	payload []byte
	readyAt time.Duration // when it arrives if nothing holds it
	closing bool
}

// direction carries messages from ends[i] to ends[1-i] of its connection, in
// order. Only the head of the queue has a scheduled delivery; the next is
// scheduled when the head is delivered, so order holds by construction.
type direction struct {
	path            *path
	queue           []message
	queueHead       int           // index of the first undelivered message
	lastReadyAt     time.Duration // readyAt of the last message queued
	blocked         bool          // a partition holds this direction
	deliverSequence uint64        // valid entryDeliver for the head, or 0
	timeoutSequence uint64        // valid entryTimeout while blocked with data, or 0
}

func (d *direction) empty() bool { return d.queueHead == len(d.queue) }

func (d *direction) head() *message { return &d.queue[d.queueHead] }

// popFront removes and returns the head message.
func (d *direction) popFront() message {
	m := d.queue[d.queueHead]
	d.queue[d.queueHead] = message{}
	d.queueHead++
	switch {
	case d.empty():
		d.queue, d.queueHead = d.queue[:0], 0
	case d.queueHead >= queueCompactMin && 2*d.queueHead >= len(d.queue):
		kept := copy(d.queue, d.queue[d.queueHead:])
		clear(d.queue[kept:])
		d.queue, d.queueHead = d.queue[:kept], 0
	}
	return m
}

// connection is the state of one ConnID.
type connection struct {
	id         ConnID
	state      connectionState
	ends       [2]connectionEnd
	directions [2]direction // directions[i] carries ends[i] → ends[1-i]
	dialAt     time.Duration
	connectAt  time.Duration // when the handshake completes, if it does
}

// endIndex returns which end node is, panicking if it is neither.
func (c *connection) endIndex(node NodeID) int {
	for i := range c.ends {
		if c.ends[i].node == node {
			return i
		}
	}
	panic(fmt.Sprintf("netsim: node %d is not an endpoint of connection %d (%d→%d)",
		node, c.id, c.ends[0].node, c.ends[1].node))
}

// pathKey names one direction between two nodes.
type pathKey struct{ from, to NodeID }

// path is the shared state of one direction between two nodes.
type path struct {
	options    PathOptions
	overridden bool          // options were set by SetPathOptions
	clogUntil  time.Duration // messages are held until then
	linkFreeAt time.Duration // when the last message accepted finishes transmitting
}

// Network is a simulated network. It is not safe for concurrent use: one
// goroutine, the simulator's, drives it.
//
// Calls must come in virtual-time order: a call at time now panics if an
// earlier call or Pop was later, or if an event earlier than now is still
// pending (pop it first). Calls that only a running node could make (Dial,
// Send, Close) panic if that node is down.
type Network struct {
	rng     *rand.Rand
	options Options
	now     time.Duration

	events         entryHeap
	staleEntries   int // invalid entries still in events
	sequenceLatest uint64

	connectionIDLatest ConnID
	connections        map[ConnID]*connection // lookup only; never iterated
	// connectionsOrdered holds every unfinished connection in ID order (plus
	// finished ones not yet swept), so that fault injection visits
	// connections in an order that does not depend on map iteration.
	connectionsOrdered  []*connection
	connectionsFinished int // finished connections still in connectionsOrdered

	paths              map[pathKey]*path // lookup only
	down               map[NodeID]bool   // lookup only
	isolated           map[NodeID]bool   // lookup only
	partitionSides     map[NodeID]int    // lookup only
	partitionSymmetric bool
	// cuts are the directions Cut blocks until Mend, apart from the
	// partition and isolations (Heal leaves them).
	cuts map[pathKey]bool // lookup only

	stats Stats
}

// New returns an idle network that draws every random choice from rng. It
// panics if opts fail Validate.
func New(rng *rand.Rand, opts Options) *Network {
	if rng == nil {
		panic("netsim: New needs a seeded *rand.Rand")
	}
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Network{
		rng:            rng,
		options:        opts,
		connections:    make(map[ConnID]*connection),
		paths:          make(map[pathKey]*path),
		down:           make(map[NodeID]bool),
		isolated:       make(map[NodeID]bool),
		partitionSides: make(map[NodeID]int),
		cuts:           make(map[pathKey]bool),
	}
}

// Options returns the options the network was made with.
func (n *Network) Options() Options { return n.options }

// Stats returns the counts so far.
func (n *Network) Stats() Stats { return n.stats }

// Next returns the time of the earliest pending event, and false if there is
// none.
func (n *Network) Next() (at time.Duration, ok bool) {
	n.discardStale()
	if len(n.events) == 0 {
		return 0, false
	}
	return n.events[0].at, true
}

// Pop removes and returns the earliest pending event (ties in the order they
// were scheduled), and advances the network's time to it. It panics if no
// event is pending.
func (n *Network) Pop() Event {
	n.discardStale()
	if len(n.events) == 0 {
		panic("netsim: Pop with no pending event")
	}
	e := n.events.pop()
	if e.at < n.now {
		panic(fmt.Sprintf("netsim: event at %v is before the network's time %v", e.at, n.now))
	}
	n.now = e.at
	*e.slot() = 0
	switch e.kind {
	case entryOpen:
		return n.popOpen(e)
	case entryReset:
		return n.popReset(e)
	case entryDeliver:
		return n.popDeliver(e)
	case entryTimeout:
		return n.popTimeout(e)
	}
	panic("netsim: entry of unknown kind")
}

// Dial starts a connection from one node to another and returns its ID at
// once. The dialer later gets EventConnected, after a round trip plus the
// path's ConnectDelay (with the dialed node getting EventAccepted at the
// same instant), or EventDialFailed: after that same time if the target is
// down (refused), or after Options.ConnectTimeout if a partition separates
// the two. A node may not dial itself.
func (n *Network) Dial(now time.Duration, from, to NodeID) ConnID {
	n.advance(now, "Dial")
	if from == to {
		panic(fmt.Sprintf("netsim: node %d dials itself", from))
	}
	n.assertUp(from, "Dial")
	n.sweepFinished()
	n.connectionIDLatest++
	c := &connection{id: n.connectionIDLatest, state: connectionDialing, dialAt: now}
	c.ends[0].node, c.ends[1].node = from, to
	c.directions[0].path, c.directions[1].path = n.path(from, to), n.path(to, from)
	n.connections[c.id] = c
	n.connectionsOrdered = append(n.connectionsOrdered, c)
	n.stats.Dials++
	n.stats.ConnectionsLive++

	forward, backward := c.directions[0].path.options, c.directions[1].path.options
	handshake := forward.drawDelay(n.rng) + backward.drawDelay(n.rng) + forward.ConnectDelay
	c.connectAt = now + handshake
	switch {
	case n.down[to]:
		n.failDial(c, c.connectAt)
	case n.blocked(from, to) || n.blocked(to, from):
		n.failDial(c, now+n.options.ConnectTimeout)
	default:
		// Accepted first: the dialed node must know the connection before
		// anything the dialer sends can reach it.
		c.ends[1].openKind = EventAccepted
		n.schedule(c.connectAt, c, entryOpen, 1)
		c.ends[0].openKind = EventConnected
		n.schedule(c.connectAt, c, entryOpen, 0)
	}
	return c.id
}

// Send queues payload from one end of a connection to the other. It arrives
// at the later of (a) the previous message's arrival on this direction of
// the connection and (b) now plus the path's transmission time, delay and
// any retransmission delay — unless a clog or partition holds it longer, or
// the connection breaks first. The network keeps payload, not a copy, until
// it is delivered: the caller must not change it after Send.
//
// A message sent on a connection that is already over for either end (it
// was closed or reset, even if the sender has not heard yet) is dropped
// silently and counted in Stats.MessagesDropped. Send panics if the sender
// has not yet been told EventConnected or EventAccepted.
func (n *Network) Send(now time.Duration, conn ConnID, from NodeID, payload []byte) {
	n.send(now, conn, from, payload, 0)
}

// SendHeld is Send for a message whose segments are lost again and again
// (a retransmission stall on one connection): it arrives no sooner than
// hold after it would have, and everything sent after it on this direction
// of the connection, a Close included, waits behind it, as TCP's in-order
// delivery makes it wait. Other connections between the same nodes are not
// held. It is how the simulator delivers a request after its sender gave
// up on the connection and sent newer ones on another.
func (n *Network) SendHeld(now time.Duration, conn ConnID, from NodeID, payload []byte, hold time.Duration) {
	if hold < 0 {
		panic(fmt.Sprintf("netsim: negative hold %v", hold))
	}
	n.send(now, conn, from, payload, hold)
}

func (n *Network) send(now time.Duration, conn ConnID, from NodeID, payload []byte, hold time.Duration) {
	n.advance(now, "Send")
	n.assertUp(from, "Send")
	n.stats.MessagesSent++
	n.stats.BytesSent += int64(len(payload))
	c := n.lookup(conn)
	if c == nil {
		n.stats.MessagesDropped++
		return
	}
	i := c.endIndex(from)
	sender, receiver := &c.ends[i], &c.ends[1-i]
	if sender.state == endPending {
		panic(fmt.Sprintf("netsim: node %d sends on connection %d before being told it is open", from, conn))
	}
	if sender.state == endDone || receiver.state == endDone || c.state != connectionEstablished {
		n.stats.MessagesDropped++
		return
	}
	if n.options.ResetProbability.chance(n.rng) {
		n.stats.ResetsRandom++
		n.stats.MessagesDropped++
		n.breakConnection(now, c, -1)
		return
	}
	d := &c.directions[i]
	readyAt := n.transmit(now, d.path, len(payload)) + n.retransmissionDelay() + hold
	n.enqueue(now, c, i, message{payload: payload, readyAt: max(readyAt, d.lastReadyAt)})
}

// Close ends a connection for one of its nodes, which gets no more events
// about it. The other end gets EventClosed after every message sent before
// the Close has been delivered (clogs and partitions hold the close like any
// message). Messages still travelling towards the closing node are
// discarded. Closing a dial that has not completed abandons it: neither
// node hears of it again. Closing a connection that is already over for the
// caller does nothing.
func (n *Network) Close(now time.Duration, conn ConnID, by NodeID) {
	n.advance(now, "Close")
	n.assertUp(by, "Close")
	c := n.lookup(conn)
	if c == nil {
		return
	}
	i := c.endIndex(by)
	end := &c.ends[i]
	switch {
	case end.state == endDone:
		return
	case end.state == endPending && i == 1:
		panic(fmt.Sprintf("netsim: node %d closes connection %d before being told it exists", by, conn))
	case c.state == connectionDialing || c.state == connectionFailing:
		n.stats.DialsAbandoned++
		n.abandon(c)
		return
	}
	n.stats.Closes++
	n.endSilently(c, i)
	if c.state == connectionEstablished {
		n.dropQueue(&c.directions[1-i])
		if c.ends[1-i].state != endDone {
			d := &c.directions[i]
			readyAt := max(now+d.path.options.drawDelay(n.rng), d.lastReadyAt)
			n.enqueue(now, c, i, message{readyAt: readyAt, closing: true})
		}
	}
	n.finishIfDone(c)
}

// advance moves the network's time to now, checking that calls come in time
// order.
func (n *Network) advance(now time.Duration, operation string) {
	if now < n.now {
		panic(fmt.Sprintf("netsim: %s at %v, but the network is already at %v", operation, now, n.now))
	}
	if at, ok := n.Next(); ok && at < now {
		panic(fmt.Sprintf("netsim: %s at %v while an event at %v is pending; pop it first", operation, now, at))
	}
	n.now = now
}

func (n *Network) assertUp(node NodeID, operation string) {
	if n.down[node] {
		panic(fmt.Sprintf("netsim: %s by node %d, which is down", operation, node))
	}
}

// lookup returns the connection, or nil if it has finished. It panics on an
// ID that was never issued.
func (n *Network) lookup(conn ConnID) *connection {
	if conn <= 0 || conn > n.connectionIDLatest {
		panic(fmt.Sprintf("netsim: unknown connection %d", conn))
	}
	return n.connections[conn]
}

// path returns the shared state of the direction from → to, creating it with
// the default options on first use.
func (n *Network) path(from, to NodeID) *path {
	key := pathKey{from, to}
	p := n.paths[key]
	if p == nil {
		p = &path{options: n.options.Path}
		n.paths[key] = p
	}
	return p
}

// transmit puts sizeBytes on the path at now and returns when it arrives,
// before any retransmission.
func (n *Network) transmit(now time.Duration, p *path, sizeBytes int) time.Duration {
	sent := now
	if p.options.BandwidthBytesPerSecond > 0 {
		sent = max(now, p.linkFreeAt) + transmissionTime(sizeBytes, p.options.BandwidthBytesPerSecond)
		p.linkFreeAt = sent
	}
	return sent + p.options.drawDelay(n.rng)
}

// retransmissionDelay draws how much repeated losses delay one message.
func (n *Network) retransmissionDelay() time.Duration {
	total, timeout := time.Duration(0), n.options.RetransmissionDelay
	for range retransmissionsMax {
		if !n.options.LossProbability.chance(n.rng) {
			break
		}
		n.stats.Retransmissions++
		total += timeout
		timeout *= 2
	}
	return total
}

// detectionDelay draws how long one end takes to learn of a reset.
func (n *Network) detectionDelay() time.Duration {
	spread := uint64(n.options.ResetDetectionDelayMax - n.options.ResetDetectionDelayMin)
	return n.options.ResetDetectionDelayMin + time.Duration(n.rng.Uint64N(spread+1))
}

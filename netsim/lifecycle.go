package netsim

import (
	"fmt"
	"time"
)

// schedule adds the one valid entry of its kind for an end or direction.
func (n *Network) schedule(at time.Duration, c *connection, kind entryKind, index int) {
	if at < n.now {
		panic(fmt.Sprintf("netsim: scheduling at %v, before the network's time %v", at, n.now))
	}
	n.sequenceLatest++
	e := entry{at: at, sequence: n.sequenceLatest, connection: c, kind: kind, index: uint8(index)}
	if *e.slot() != 0 {
		panic(fmt.Sprintf("netsim: connection %d already has a %d entry for %d", c.id, kind, index))
	}
	*e.slot() = e.sequence
	n.events.push(e)
}

// invalidate cancels the entry a slot records, if any.
func (n *Network) invalidate(slot *uint64) {
	if *slot != 0 {
		*slot = 0
		n.staleEntries++
	}
}

// discardStale pops invalid entries off the front, and compacts the heap
// once invalid entries are at least half of a large heap.
func (n *Network) discardStale() {
	if n.staleEntries >= staleEntriesCompactMin && 2*n.staleEntries >= len(n.events) {
		n.events.compact()
		n.staleEntries = 0
	}
	for len(n.events) > 0 && !n.events[0].valid() {
		n.events.pop()
		n.staleEntries--
	}
}

// event builds the Event that tells ends[to] of c about kind.
func (n *Network) event(kind EventKind, c *connection, to int, payload []byte) Event {
	return Event{At: n.now, Kind: kind, Conn: c.id, To: c.ends[to].node, From: c.ends[1-to].node, Payload: payload}
}

// enqueue appends m to the direction from ends[i], and schedules it or arms
// the partition timeout if it is the new head.
func (n *Network) enqueue(now time.Duration, c *connection, i int, m message) {
	d := &c.directions[i]
	wasEmpty := d.empty()
	d.queue = append(d.queue, m)
	d.lastReadyAt = m.readyAt
	switch {
	case !wasEmpty:
	case d.blocked:
		n.schedule(now+n.options.ConnectionTimeout, c, entryTimeout, i)
	default:
		n.scheduleHead(now, c, i)
	}
}

// scheduleHead schedules delivery of the head of an unblocked, nonempty
// direction: when it is ready, but not before its path's clog lifts.
func (n *Network) scheduleHead(now time.Duration, c *connection, i int) {
	d := &c.directions[i]
	n.schedule(max(d.head().readyAt, d.path.clogUntil, now), c, entryDeliver, i)
}

// dropQueue discards everything a direction still carries.
func (n *Network) dropQueue(d *direction) {
	for j := d.queueHead; j < len(d.queue); j++ {
		if !d.queue[j].closing {
			n.stats.MessagesDropped++
		}
	}
	clear(d.queue)
	d.queue, d.queueHead = d.queue[:0], 0
	n.invalidate(&d.deliverSequence)
	n.invalidate(&d.timeoutSequence)
}

// endSilently makes ends[i] done without telling it anything more.
func (n *Network) endSilently(c *connection, i int) {
	end := &c.ends[i]
	n.invalidate(&end.openSequence)
	n.invalidate(&end.resetSequence)
	end.state = endDone
}

// failDial replaces a pending handshake by the dialer's EventDialFailed at
// the given time.
func (n *Network) failDial(c *connection, at time.Duration) {
	c.state = connectionFailing
	n.endSilently(c, 1)
	n.invalidate(&c.ends[0].openSequence)
	c.ends[0].openKind = EventDialFailed
	n.schedule(at, c, entryOpen, 0)
}

// abandon ends a connection that never got established, telling no one.
func (n *Network) abandon(c *connection) {
	n.endSilently(c, 0)
	n.endSilently(c, 1)
	n.finishIfDone(c)
}

// breakConnection resets an established connection: everything in flight is
// lost, and every end still open except skip (which the caller tells
// itself) learns by EventReset after its own detection delay.
func (n *Network) breakConnection(now time.Duration, c *connection, skip int) {
	if c.state != connectionEstablished {
		panic(fmt.Sprintf("netsim: resetting connection %d in state %d", c.id, c.state))
	}
	c.state = connectionBroken
	n.stats.Resets++
	for i := range c.directions {
		n.dropQueue(&c.directions[i])
	}
	for i := range c.ends {
		if i != skip && c.ends[i].state != endDone {
			n.schedule(now+n.detectionDelay(), c, entryReset, i)
		}
	}
}

// finishIfDone retires a connection once both ends are done with it.
func (n *Network) finishIfDone(c *connection) {
	if c.state == connectionFinished || c.ends[0].state != endDone || c.ends[1].state != endDone {
		return
	}
	for i := range c.directions {
		d := &c.directions[i]
		if !d.empty() || d.deliverSequence != 0 || d.timeoutSequence != 0 {
			panic(fmt.Sprintf("netsim: connection %d finished with direction %d still busy", c.id, i))
		}
	}
	c.state = connectionFinished
	delete(n.connections, c.id)
	n.connectionsFinished++
	n.stats.ConnectionsLive--
}

// sweepFinished removes finished connections from connectionsOrdered once
// they are half of it. It runs only at the start of Dial, never while a
// caller iterates connectionsOrdered.
func (n *Network) sweepFinished() {
	if n.connectionsFinished < 64 || 2*n.connectionsFinished < len(n.connectionsOrdered) {
		return
	}
	kept := n.connectionsOrdered[:0]
	for _, c := range n.connectionsOrdered {
		if c.state != connectionFinished {
			kept = append(kept, c)
		}
	}
	clear(n.connectionsOrdered[len(kept):])
	n.connectionsOrdered = kept
	n.connectionsFinished = 0
}

func (n *Network) popOpen(e entry) Event {
	c, i := e.connection, int(e.index)
	end := &c.ends[i]
	switch end.openKind {
	case EventAccepted:
		if c.state != connectionDialing {
			panic(fmt.Sprintf("netsim: connection %d accepted in state %d", c.id, c.state))
		}
		c.state = connectionEstablished
		n.stats.ConnectionsEstablished++
		for j := range c.directions {
			c.directions[j].blocked = n.blocked(c.ends[j].node, c.ends[1-j].node)
		}
		end.state = endOpen
	case EventConnected:
		if c.state != connectionEstablished && c.state != connectionBroken {
			panic(fmt.Sprintf("netsim: connection %d connected in state %d", c.id, c.state))
		}
		end.state = endOpen
	case EventDialFailed:
		n.stats.DialsFailed++
		end.state = endDone
		n.finishIfDone(c)
	}
	return n.event(end.openKind, c, i, nil)
}

func (n *Network) popReset(e entry) Event {
	c, i := e.connection, int(e.index)
	if c.state != connectionBroken || c.ends[i].state != endOpen {
		panic(fmt.Sprintf("netsim: reset of connection %d (state %d) to an end in state %d",
			c.id, c.state, c.ends[i].state))
	}
	c.ends[i].state = endDone
	ev := n.event(EventReset, c, i, nil)
	n.finishIfDone(c)
	return ev
}

func (n *Network) popDeliver(e entry) Event {
	c, i := e.connection, int(e.index)
	d, receiver := &c.directions[i], &c.ends[1-i]
	if c.state != connectionEstablished || receiver.state != endOpen || d.blocked {
		panic(fmt.Sprintf("netsim: delivery on connection %d (state %d, blocked %v) to an end in state %d",
			c.id, c.state, d.blocked, receiver.state))
	}
	m := d.popFront()
	if m.closing {
		receiver.state = endDone
		ev := n.event(EventClosed, c, 1-i, nil)
		n.finishIfDone(c)
		return ev
	}
	if !d.empty() {
		n.scheduleHead(n.now, c, i)
	}
	n.stats.MessagesDelivered++
	n.stats.BytesDelivered += int64(len(m.payload))
	return n.event(EventDeliver, c, 1-i, m.payload)
}

// popTimeout resets a connection whose direction from ends[i] a partition
// held for the connection timeout. The sender's TCP gives up, so it learns
// at once; the receiver learns after its detection delay. If the sender has
// already closed (its closing marker is what is held), the receiver is told
// at once instead: a small simplification of a corner case.
func (n *Network) popTimeout(e entry) Event {
	c, i := e.connection, int(e.index)
	d := &c.directions[i]
	if c.state != connectionEstablished || !d.blocked || d.empty() {
		panic(fmt.Sprintf("netsim: timeout on connection %d (state %d, blocked %v, empty %v)",
			c.id, c.state, d.blocked, d.empty()))
	}
	told := i
	if c.ends[i].state != endOpen {
		told = 1 - i
	}
	if c.ends[told].state != endOpen {
		panic(fmt.Sprintf("netsim: timeout on connection %d with no open end", c.id))
	}
	n.stats.ResetsByTimeout++
	n.breakConnection(n.now, c, told)
	c.ends[told].state = endDone
	ev := n.event(EventReset, c, told, nil)
	n.finishIfDone(c)
	return ev
}

package netsim

import (
	"fmt"
	"time"
)

// Clog holds every message on the direction from → to, on every connection
// present or future, until the given time; then they flow again in order.
// A later Clog of the same direction replaces the earlier one, so Clog with
// until ≤ now lifts it. A clog only delays: it never resets a connection and
// does not affect dials.
func (n *Network) Clog(now time.Duration, from, to NodeID, until time.Duration) {
	n.advance(now, "Clog")
	p := n.path(from, to)
	p.clogUntil = until
	for _, c := range n.connectionsOrdered {
		if c.state != connectionEstablished {
			continue
		}
		for i := range c.directions {
			d := &c.directions[i]
			if d.path != p || d.blocked || d.empty() {
				continue
			}
			n.invalidate(&d.deliverSequence)
			n.scheduleHead(now, c, i)
		}
	}
}

// Partition replaces the current partition (but not isolations) by one
// between the given sides. If symmetric, no message crosses between
// different sides; otherwise only messages leaving sides[0] for another
// side are blocked, and the rest flow. A node in no side is not
// partitioned. Messages held by a partition are delivered if it heals
// within Options.ConnectionTimeout; otherwise their connection resets. An
// idle connection (nothing held) survives any partition, as a TCP
// connection without keepalives does.
// Dials across a partition (in either direction, since a handshake needs
// both) fail after Options.ConnectTimeout, even if the partition heals
// before that. It panics if a node is in two sides.
func (n *Network) Partition(now time.Duration, sides [][]NodeID, symmetric bool) {
	n.advance(now, "Partition")
	sideOf := make(map[NodeID]int)
	for side, nodes := range sides {
		for _, node := range nodes {
			if previous, ok := sideOf[node]; ok && previous != side {
				panic(fmt.Sprintf("netsim: node %d is in partition sides %d and %d", node, previous, side))
			}
			sideOf[node] = side
		}
	}
	n.partitionSides, n.partitionSymmetric = sideOf, symmetric
	n.refreshBlocking(now)
}

// Isolate cuts node off from every other node in both directions, on top of
// any partition, until Heal.
func (n *Network) Isolate(now time.Duration, node NodeID) {
	n.advance(now, "Isolate")
	n.isolated[node] = true
	n.refreshBlocking(now)
}

// Heal removes the partition and every isolation; held messages flow again.
// It does not lift clogs or cuts, bring nodes up, or revive connections that
// have already reset or dials that are already failing.
func (n *Network) Heal(now time.Duration) {
	n.advance(now, "Heal")
	clear(n.isolated)
	clear(n.partitionSides)
	n.refreshBlocking(now)
}

// Cut blocks the direction from → to, on top of the partition and any
// isolation and untouched by Heal, until Mend lifts it: messages are held
// as a partition holds them (and reset their connection after
// Options.ConnectionTimeout), and dials between the two nodes fail after
// the connect timeout. Its owner — a fault schedule of its own, such as a
// workload cutting one client off from some brokers — can so lift it
// without healing anyone else's partition.
func (n *Network) Cut(now time.Duration, from, to NodeID) {
	n.advance(now, "Cut")
	n.cuts[pathKey{from, to}] = true
	n.refreshBlocking(now)
}

// Mend lifts a Cut of from → to; held messages flow again.
func (n *Network) Mend(now time.Duration, from, to NodeID) {
	n.advance(now, "Mend")
	delete(n.cuts, pathKey{from, to})
	n.refreshBlocking(now)
}

// SetDown crashes a node (down true) or lets it run again (down false).
// A crash ends every connection of the node at once on its side, without
// telling it anything more (it is a new process when it comes back); each
// peer that is still open gets EventReset after its detection delay, and a
// dial the node had started is forgotten. While down, dials to the node
// are refused, and the node may not Dial, Send or Close.
func (n *Network) SetDown(now time.Duration, node NodeID, down bool) {
	n.advance(now, "SetDown")
	if !down {
		delete(n.down, node)
		return
	}
	if n.down[node] {
		return
	}
	n.down[node] = true
	for _, c := range n.connectionsOrdered {
		if c.state == connectionFinished {
			continue
		}
		for i := range c.ends {
			if c.ends[i].node == node {
				n.crashEnd(now, c, i)
			}
		}
	}
}

// crashEnd ends ends[i] of c because its node crashed.
func (n *Network) crashEnd(now time.Duration, c *connection, i int) {
	switch c.state {
	case connectionDialing, connectionFailing:
		if i == 0 {
			n.abandon(c)
			return
		}
		// The dialed node crashed mid-handshake: the dialer is refused
		// when it would have connected.
		if c.state == connectionDialing {
			n.failDial(c, c.connectAt)
		}
		return
	case connectionEstablished:
		n.endSilently(c, i)
		n.stats.ResetsByCrash++
		n.breakConnection(now, c, i)
	case connectionBroken:
		n.endSilently(c, i)
	}
	n.finishIfDone(c)
}

// Calm stops random loss and random resets for every message sent from
// now on; delays, bandwidth and the rest stay. A simulation's liveness
// phase calls it: whether a healed cluster finishes is asked of a network
// that no longer loses one message in a few to a retransmission timeout.
func (n *Network) Calm() {
	n.options.LossProbability = Ratio{}
	n.options.ResetProbability = Ratio{}
}

// SetPathOptions overrides the behaviour of the direction from → to for
// messages and dials from now on. It panics if options fail Validate.
func (n *Network) SetPathOptions(from, to NodeID, options PathOptions) {
	if err := options.Validate(); err != nil {
		panic(err)
	}
	p := n.path(from, to)
	p.options, p.overridden = options, true
}

// ClearPathOptions returns the direction from → to to Options.Path.
func (n *Network) ClearPathOptions(from, to NodeID) {
	p := n.path(from, to)
	p.options, p.overridden = n.options.Path, false
}

// blocked reports whether the current partition, an isolation or a cut stops
// messages from → to.
func (n *Network) blocked(from, to NodeID) bool {
	if n.isolated[from] || n.isolated[to] || n.cuts[pathKey{from, to}] {
		return true
	}
	sideFrom, partitionedFrom := n.partitionSides[from]
	sideTo, partitionedTo := n.partitionSides[to]
	if !partitionedFrom || !partitionedTo || sideFrom == sideTo {
		return false
	}
	return n.partitionSymmetric || sideFrom == 0
}

// refreshBlocking brings every connection in line with the current
// partition and isolations.
func (n *Network) refreshBlocking(now time.Duration) {
	for _, c := range n.connectionsOrdered {
		switch c.state {
		case connectionDialing:
			a, b := c.ends[0].node, c.ends[1].node
			if n.blocked(a, b) || n.blocked(b, a) {
				n.failDial(c, max(now, c.dialAt+n.options.ConnectTimeout))
			}
		case connectionEstablished:
			for i := range c.directions {
				n.refreshDirection(now, c, i)
			}
		}
	}
}

// refreshDirection holds or releases one direction. A direction that starts
// holding data arms the connection timeout; one that is released disarms it
// and delivers its head no earlier than now.
func (n *Network) refreshDirection(now time.Duration, c *connection, i int) {
	d := &c.directions[i]
	blocked := n.blocked(c.ends[i].node, c.ends[1-i].node)
	if blocked == d.blocked {
		return
	}
	d.blocked = blocked
	if d.empty() {
		return
	}
	if blocked {
		n.invalidate(&d.deliverSequence)
		n.schedule(now+n.options.ConnectionTimeout, c, entryTimeout, i)
		return
	}
	n.invalidate(&d.timeoutSequence)
	n.scheduleHead(now, c, i)
}

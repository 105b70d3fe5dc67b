package netsim

import (
	"encoding/binary"
	"hash"
	"hash/fnv"
	"time"
)

// harness drives a Network with a random workload and faults, and checks
// every event against a model of what each end may see. Its choices come
// from choose, so the same workload runs under rapid (which shrinks it) and
// under a plain seeded generator.
type harness struct {
	network *Network
	choose  func(n int, label string) int
	fail    func(format string, args ...any)
	now     time.Duration
	nodes   []NodeID
	down    map[NodeID]bool
	conns   []*modelConn // in Dial order
	live    []*modelConn // conns some end of which is not done, in Dial order
	byID    map[ConnID]*modelConn
	events  int
	// The faults in force, to check that nothing crosses them.
	clogUntil map[[2]NodeID]time.Duration
	sideOf    map[NodeID]int
	symmetric bool
	isolated  map[NodeID]bool
	digest    hash.Hash64 // of every event, for determinism checks
}

// modelConn is what the harness knows of one connection.
type modelConn struct {
	id    ConnID
	nodes [2]NodeID // dialer, dialed
	state [2]endState
	// sent[i] counts messages ends[i] sent while the connection was open
	// for it; received[i] counts messages ends[i] received.
	sent, received [2]uint64
	closedBy       [2]bool // ends[i] called Close
}

const harnessHeaderBytes = 16

func newHarness(network *Network, nodeCount int, choose func(int, string) int, fail func(string, ...any)) *harness {
	h := &harness{
		network: network, choose: choose, fail: fail,
		down: make(map[NodeID]bool), byID: make(map[ConnID]*modelConn),
		clogUntil: make(map[[2]NodeID]time.Duration), sideOf: make(map[NodeID]int),
		isolated: make(map[NodeID]bool),
		digest:   fnv.New64a(),
	}
	for i := 1; i <= nodeCount; i++ {
		h.nodes = append(h.nodes, NodeID(i))
	}
	return h
}

// step performs one random action. Sends dominate; faults are rare enough
// that connections live long enough to carry traffic.
func (h *harness) step() {
	switch action := h.choose(20, "action"); {
	case action < 10:
		h.send()
	case action < 12:
		h.dial()
	case action < 13:
		h.close()
	case action < 18:
		h.wait()
	case action < 19:
		h.partition()
	default:
		switch h.choose(3, "fault") {
		case 0:
			h.clogOrIsolate()
		case 1:
			h.crashOrRestart()
		case 2:
			h.heal()
		}
	}
}

func (h *harness) upNode(label string) (NodeID, bool) {
	node := h.nodes[h.choose(len(h.nodes), label)]
	return node, !h.down[node]
}

func (h *harness) dial() {
	from, upFrom := h.upNode("dial from")
	to, _ := h.upNode("dial to")
	if !upFrom || from == to {
		return
	}
	id := h.network.Dial(h.now, from, to)
	c := &modelConn{id: id, nodes: [2]NodeID{from, to}}
	h.conns = append(h.conns, c)
	h.live = append(h.live, c)
	h.byID[id] = c
}

// openEnd picks an end that may act, or returns nil if there is none. With
// pendingDialers, a dialer not yet told the outcome of its dial may be
// picked too (it may Close, abandoning the dial, but not Send).
func (h *harness) openEnd(label string, pendingDialers bool) (*modelConn, int) {
	type candidate struct {
		c *modelConn
		i int
	}
	var candidates []candidate
	live := h.live[:0]
	for _, c := range h.live {
		if c.state[0] == endDone && c.state[1] == endDone {
			continue
		}
		live = append(live, c)
		for i := range c.nodes {
			pendingDialer := pendingDialers && i == 0 && c.state[i] == endPending
			if (c.state[i] == endOpen || pendingDialer) && !h.down[c.nodes[i]] {
				candidates = append(candidates, candidate{c, i})
			}
		}
	}
	h.live = live
	if len(candidates) == 0 {
		return nil, 0
	}
	chosen := candidates[h.choose(len(candidates), label)]
	return chosen.c, chosen.i
}

func (h *harness) send() {
	c, i := h.openEnd("send on", false)
	if c == nil {
		return
	}
	sizes := []int{harnessHeaderBytes, 100, 4 << 10, 64 << 10}
	payload := make([]byte, sizes[h.choose(len(sizes), "size")])
	binary.BigEndian.PutUint64(payload, uint64(c.id))
	binary.BigEndian.PutUint64(payload[8:], c.sent[i])
	c.sent[i]++
	h.network.Send(h.now, c.id, c.nodes[i], payload)
}

func (h *harness) close() {
	c, i := h.openEnd("close", h.choose(4, "abandon") == 0)
	if c == nil {
		return
	}
	h.network.Close(h.now, c.id, c.nodes[i])
	c.state[i], c.closedBy[i] = endDone, true
}

func (h *harness) wait() {
	waits := []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 20 * time.Millisecond,
		200 * time.Millisecond, 2 * time.Second, 20 * time.Second}
	h.advance(h.now + waits[h.choose(len(waits), "wait")])
}

func (h *harness) partition() {
	if h.choose(3, "heal") == 0 {
		h.heal()
		return
	}
	sides := make([][]NodeID, 1+h.choose(3, "side count"))
	for _, node := range h.nodes {
		side := h.choose(len(sides)+1, "side") // the last choice leaves the node out
		if side < len(sides) {
			sides[side] = append(sides[side], node)
		}
	}
	h.symmetric = h.choose(2, "symmetric") == 0
	h.network.Partition(h.now, sides, h.symmetric)
	clear(h.sideOf)
	for side, nodes := range sides {
		for _, node := range nodes {
			h.sideOf[node] = side
		}
	}
}

func (h *harness) heal() {
	h.network.Heal(h.now)
	clear(h.sideOf)
	clear(h.isolated)
}

// crosses reports whether a fault in force stops messages from → to.
func (h *harness) crosses(from, to NodeID) bool {
	if h.isolated[from] || h.isolated[to] || h.clogUntil[[2]NodeID{from, to}] > h.now {
		return true
	}
	sideFrom, okFrom := h.sideOf[from]
	sideTo, okTo := h.sideOf[to]
	return okFrom && okTo && sideFrom != sideTo && (h.symmetric || sideFrom == 0)
}

func (h *harness) clogOrIsolate() {
	from, _ := h.upNode("clog from")
	to, _ := h.upNode("clog to")
	if h.choose(4, "isolate") == 0 {
		h.network.Isolate(h.now, from)
		h.isolated[from] = true
		return
	}
	clogs := []time.Duration{0, 5 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second}
	until := h.now + clogs[h.choose(len(clogs), "clog")]
	h.network.Clog(h.now, from, to, until)
	h.clogUntil[[2]NodeID{from, to}] = until
}

func (h *harness) crashOrRestart() {
	node := h.nodes[h.choose(len(h.nodes), "crash")]
	if h.down[node] {
		h.network.SetDown(h.now, node, false)
		delete(h.down, node)
		return
	}
	h.network.SetDown(h.now, node, true)
	h.down[node] = true
	for _, c := range h.conns {
		for i := range c.nodes {
			if c.nodes[i] == node {
				c.state[i] = endDone
			}
		}
	}
}

// advance pops every event up to until and moves time there.
func (h *harness) advance(until time.Duration) {
	for {
		at, ok := h.network.Next()
		if !ok || at > until {
			break
		}
		h.observe(h.network.Pop())
	}
	h.now = until
}

// settle ends every fault, then delivers everything, and checks that each
// connection still open at both ends received all it was sent.
func (h *harness) settle() {
	h.heal()
	for _, node := range h.nodes {
		h.network.SetDown(h.now, node, false)
		delete(h.down, node)
		for _, to := range h.nodes {
			h.network.Clog(h.now, node, to, h.now)
			h.clogUntil[[2]NodeID{node, to}] = h.now
		}
	}
	for {
		if _, ok := h.network.Next(); !ok {
			break
		}
		h.observe(h.network.Pop())
	}
	for _, c := range h.conns {
		if c.state[0] == endPending {
			h.fail("conn %d: dial never resolved", c.id)
		}
		for i := range c.nodes {
			if c.state[1-i] == endOpen && c.received[1-i] != c.sent[i] {
				h.fail("conn %d: end %d open but received %d of %d messages", c.id, 1-i, c.received[1-i], c.sent[i])
			}
		}
	}
}

// observe checks one event against the model.
func (h *harness) observe(e Event) {
	h.events++
	var header [33]byte
	binary.BigEndian.PutUint64(header[0:], uint64(e.At))
	header[8] = byte(e.Kind)
	binary.BigEndian.PutUint64(header[9:], uint64(e.Conn))
	binary.BigEndian.PutUint32(header[17:], uint32(e.To))
	binary.BigEndian.PutUint32(header[21:], uint32(e.From))
	binary.BigEndian.PutUint64(header[25:], uint64(len(e.Payload)))
	h.digest.Write(header[:])
	h.digest.Write(e.Payload)
	if e.At < h.now {
		h.fail("event %v before the harness time %v", e, h.now)
	}
	h.now = e.At
	c := h.byID[e.Conn]
	if c == nil {
		h.fail("event %v about an unknown connection", e)
		return
	}
	i := 0
	if e.To == c.nodes[1] {
		i = 1
	}
	if e.To != c.nodes[i] || e.From != c.nodes[1-i] || h.down[e.To] {
		h.fail("event %v: wrong endpoints or a down receiver for %d→%d", e, c.nodes[0], c.nodes[1])
	}
	want := endOpen
	if e.Kind == EventConnected || e.Kind == EventAccepted || e.Kind == EventDialFailed {
		want = endPending
	}
	if c.state[i] != want {
		h.fail("event %v to an end in state %d, want %d", e, c.state[i], want)
	}
	switch e.Kind {
	case EventConnected, EventAccepted:
		if (e.Kind == EventConnected) != (i == 0) {
			h.fail("event %v to the wrong end", e)
		}
		c.state[i] = endOpen
	case EventDialFailed, EventReset:
		c.state[i] = endDone
	case EventClosed:
		if h.crosses(e.From, e.To) {
			h.fail("event %v crosses a clog or partition", e)
		}
		if !c.closedBy[1-i] || c.received[i] != c.sent[1-i] {
			h.fail("event %v: peer closed %v, received %d of %d", e, c.closedBy[1-i], c.received[i], c.sent[1-i])
		}
		c.state[i] = endDone
	case EventDeliver:
		h.checkDelivery(c, i, e)
	}
}

func (h *harness) checkDelivery(c *modelConn, i int, e Event) {
	if h.crosses(e.From, e.To) {
		h.fail("event %v crosses a clog or partition", e)
	}
	if len(e.Payload) < harnessHeaderBytes {
		h.fail("event %v: short payload", e)
		return
	}
	conn := ConnID(binary.BigEndian.Uint64(e.Payload))
	sequence := binary.BigEndian.Uint64(e.Payload[8:])
	if conn != c.id || sequence != c.received[i] {
		h.fail("event %v: got message %d of conn %d, want message %d of conn %d",
			e, sequence, conn, c.received[i], c.id)
	}
	c.received[i]++
}

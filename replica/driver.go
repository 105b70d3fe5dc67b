package replica

import "time"

// Driver carries out a node's effects: the runtime shell (replica/shell)
// over TCP, goroutines and the wall clock, the simulator (sim) over netsim,
// the in-memory disk and virtual time. Execute is the one loop that takes a
// Ready and hands it to a driver, so both run the effects in the same order.
type Driver interface {
	// Send writes a response frame (size prefix included) to a client
	// connection, after every frame sent to it before.
	Send(conn ConnID, frame []byte)
	// Close closes a connection once what Send gave it is written.
	Close(conn ConnID)
	// SendPeer sends a request to another broker.
	SendPeer(message PeerMessage)
	// Propose replicates metadata log entries, in order.
	Propose(entries [][]byte)
	// StartSync runs task off the node's thread if it likes, and reports
	// it with SyncDone.
	StartSync(task *SyncTask)
	// TickBy asks for a Tick no later than deadline; zero means no
	// deadline.
	TickBy(deadline time.Time)
}

// Execute takes the node's Ready, hands every effect to d in the order
// Ready documents (responses, then closes, peer requests, proposals and
// fsyncs), advances, and then asks for the next tick. A Driver may call the
// node's ConnClosed from Close; it must not call anything else on the node
// before Execute returns.
func (n *Node) Execute(d Driver) {
	rd := n.Ready()
	for _, out := range rd.Outbound {
		d.Send(out.Conn, out.Frame)
	}
	for _, id := range rd.Close {
		d.Close(id)
	}
	for _, message := range rd.PeerSends {
		d.SendPeer(message)
	}
	if len(rd.Proposals) > 0 {
		d.Propose(rd.Proposals)
	}
	for _, task := range rd.Syncs {
		d.StartSync(task)
	}
	n.Advance()
	d.TickBy(rd.Deadline)
}

package netsim

import (
	"fmt"
	"time"
)

// NodeID names an endpoint of connections: a broker or a workload client.
type NodeID int32

// ConnID names one connection for the whole run. IDs start at 1, are issued
// in Dial order and are never reused.
type ConnID int64

// EventKind says what an Event tells its receiver.
type EventKind uint8

const (
	// EventConnected tells the dialer that its connection is established;
	// it may Send from now on.
	EventConnected EventKind = iota + 1
	// EventAccepted tells the dialed node that a new connection has
	// arrived; it may Send from now on. It comes at the same instant as the
	// dialer's EventConnected, just before it.
	EventAccepted
	// EventDialFailed tells the dialer that its connection never came up:
	// refused by a down node, or timed out across a partition.
	EventDialFailed
	// EventDeliver hands the receiver one message, in send order.
	EventDeliver
	// EventClosed tells the receiver that the other end closed the
	// connection after every message it had sent was delivered. The
	// connection is over for the receiver.
	EventClosed
	// EventReset tells the receiver that the connection broke; messages not
	// yet delivered are lost. The connection is over for the receiver.
	EventReset
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventAccepted:
		return "accepted"
	case EventDialFailed:
		return "dial-failed"
	case EventDeliver:
		return "deliver"
	case EventClosed:
		return "closed"
	case EventReset:
		return "reset"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something the network tells one endpoint, To, about connection
// Conn, whose other endpoint is From. After an EventDialFailed, EventClosed
// or EventReset, To gets no more events about Conn; nor does a node after it
// calls Close on Conn.
type Event struct {
	// At is the virtual time of the event.
	At time.Duration
	// Kind says what happened.
	Kind EventKind
	// Conn is the connection the event is about.
	Conn ConnID
	// To is the endpoint that receives the event.
	To NodeID
	// From is the other endpoint of the connection.
	From NodeID
	// Payload is the message of an EventDeliver: the very slice given to
	// Send, not a copy. Nil for other kinds.
	Payload []byte
}

// String describes the event on one line, for traces.
func (e Event) String() string {
	s := fmt.Sprintf("%v %v conn=%d to=%d from=%d", e.At, e.Kind, e.Conn, e.To, e.From)
	if e.Kind == EventDeliver {
		s += fmt.Sprintf(" bytes=%d", len(e.Payload))
	}
	return s
}

// Stats count what the network has done since New. All counts are
// cumulative.
type Stats struct {
	// Dials counts Dial calls.
	Dials int64
	// DialsFailed counts EventDialFailed events.
	DialsFailed int64
	// DialsAbandoned counts dials that their dialer closed before they
	// completed or failed.
	DialsAbandoned int64
	// ConnectionsEstablished counts dials that completed.
	ConnectionsEstablished int64
	// ConnectionsLive counts connections that some end has not yet finished
	// with.
	ConnectionsLive int64
	// Closes counts Close calls on open connections.
	Closes int64
	// Resets counts established connections that broke, for any reason.
	Resets int64
	// ResetsRandom counts resets drawn by Options.ResetProbability.
	ResetsRandom int64
	// ResetsByTimeout counts resets of connections that a partition held
	// longer than Options.ConnectionTimeout.
	ResetsByTimeout int64
	// ResetsByCrash counts resets caused by SetDown.
	ResetsByCrash int64
	// MessagesSent counts Send calls, including those whose message was
	// dropped.
	MessagesSent int64
	// BytesSent counts the payload bytes of MessagesSent.
	BytesSent int64
	// MessagesDelivered counts EventDeliver events.
	MessagesDelivered int64
	// BytesDelivered counts the payload bytes of MessagesDelivered.
	BytesDelivered int64
	// MessagesDropped counts messages never delivered: sent on a connection
	// that was already over for either end, or discarded by a reset or by
	// the receiver's Close.
	MessagesDropped int64
	// Retransmissions counts losses turned into retransmission delay.
	Retransmissions int64
}

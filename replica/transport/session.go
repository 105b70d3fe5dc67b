package transport

// The peer-session policy. A broker talks to each peer over a session: a
// control connection for every request but Fetch, and a small pool of fetch
// connections, each carrying one follower fetch at a time. A Kafka broker
// answers the requests of one connection in order, and a leader parks a
// follower's fetch until it has data or its wait ends, so on a single
// connection a fetch for idle partitions would hold back the answer to a
// fetch for busy ones, and with it every acks=all produce there, by up to
// the whole wait. The node keeps at most one fetch in flight per partition
// precisely so that a parked fetch holds up no other partition; separate
// connections make it so.
//
// A session fails as a whole: when any of its connections breaks, the
// driver closes all of them (Conns) and tells the node once (PeerDown); the
// next request to the peer starts a new Session. Session decides only which
// connection carries a request; the driver owns the connections (sockets in
// the shell, netsim connections in the simulator) and calls it from one
// thread, or under one lock.

// FetchConnectionsMax bounds the fetch connections to one peer. The node
// has at most one fetch in flight per partition; past this many, fetches
// share the least busy connection.
const FetchConnectionsMax = 8

// Session is the routing state of one session with a peer. C is the
// driver's handle of a connection; the zero Session is ready to use.
type Session[C comparable] struct {
	control *sessionConn[C]
	fetches []*sessionConn[C]
}

type sessionConn[C comparable] struct {
	conn C
	// pending counts requests routed to the connection and not yet
	// answered; a fetch goes where it is zero.
	pending int
}

// Route picks the connection for a request frame (size prefix included)
// and counts the request as pending there: the control connection, or for a
// fetch an idle fetch connection, a new one, or, at the limit, the least
// busy. dial makes a new connection; when it reports false (the session
// failed meanwhile) Route does too, and nothing is counted.
func (s *Session[C]) Route(frame []byte, dial func() (C, bool)) (C, bool) {
	c, ok := s.pick(IsFetch(frame), dial)
	if !ok {
		var none C
		return none, false
	}
	c.pending++
	return c.conn, true
}

func (s *Session[C]) pick(fetch bool, dial func() (C, bool)) (*sessionConn[C], bool) {
	if !fetch {
		if s.control == nil {
			conn, ok := dial()
			if !ok {
				return nil, false
			}
			s.control = &sessionConn[C]{conn: conn}
		}
		return s.control, true
	}
	var best *sessionConn[C]
	for _, c := range s.fetches {
		if best == nil || c.pending < best.pending {
			best = c
		}
	}
	if best != nil && (best.pending == 0 || len(s.fetches) >= FetchConnectionsMax) {
		return best, true
	}
	conn, ok := dial()
	if !ok {
		return nil, false
	}
	c := &sessionConn[C]{conn: conn}
	s.fetches = append(s.fetches, c)
	return c, true
}

// Answered counts one response that arrived on conn.
func (s *Session[C]) Answered(conn C) {
	for _, c := range s.all() {
		if c.conn == conn && c.pending > 0 {
			c.pending--
			return
		}
	}
}

// Has reports whether conn belongs to the session.
func (s *Session[C]) Has(conn C) bool {
	for _, c := range s.all() {
		if c.conn == conn {
			return true
		}
	}
	return false
}

// Conns lists the session's connections, the control connection first:
// the ones a failing session closes.
func (s *Session[C]) Conns() []C {
	var out []C
	for _, c := range s.all() {
		out = append(out, c.conn)
	}
	return out
}

func (s *Session[C]) all() []*sessionConn[C] {
	var out []*sessionConn[C]
	if s.control != nil {
		out = append(out, s.control)
	}
	return append(out, s.fetches...)
}

// Pending is how many requests routed to conn are not yet answered.
func (s *Session[C]) Pending(conn C) int {
	for _, c := range s.all() {
		if c.conn == conn {
			return c.pending
		}
	}
	return 0
}

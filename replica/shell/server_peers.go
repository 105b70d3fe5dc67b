package shell

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/replica"
	"cairn/replica/transport"
)

// Connections to peer brokers: the sockets, goroutines and timeouts of the
// peer sessions whose policy (a control connection and a pool of fetch
// connections per peer, failing as a whole) is transport.Session, which the
// simulator runs too. Each connection keeps its requests in the node's
// order; responses are matched by correlation id, as the node does.
//
// A session fails as a whole: when any of its connections breaks, all
// close, and once every one has stopped the node hears PeerDown once, after
// which no response of that session reaches it. The next request to the
// peer starts a new session.

const (
	// peerDialTimeout bounds connecting to a peer; a peer that does not
	// answer by then is down as far as the node is concerned.
	peerDialTimeout = 2 * time.Second
	// peerResponseTimeout is how long a connection may owe a response
	// before the peer counts as down. The slowest answers a peer owes are a
	// parked follower fetch (peerFetchWait) and a controller answer held
	// until a metadata proposal commits or fails (proposeTimeout).
	peerResponseTimeout = 15 * time.Second
	// peerWriteTimeout bounds one write to a peer that stopped reading.
	peerWriteTimeout = 10 * time.Second
	// peerQueueBytesMax and peerQueueFramesMax bound what waits to be
	// written on one connection. The node keeps few requests in flight per
	// peer, so reaching either means the peer stopped reading: the session
	// is given up, and the node retries after its backoff.
	peerQueueBytesMax  = 64 << 20
	peerQueueFramesMax = 4096
	// peerResponseBytesMax is the largest response frame accepted from a
	// peer, the same bound as a client's request.
	peerResponseBytesMax = transport.RequestFrameBytesMax
)

var errServerClosed = errors.New("server closed")

// peerLink is this node's side of its conversation with one other broker.
// Guarded by the server's mu.
type peerLink struct {
	broker  int32
	address string
	session *peerSession
	// down says the previous session failed; only the first failure of a
	// run is logged above debug, since a dead peer fails every retry.
	down bool
}

// peerSession is the set of connections to a peer between two PeerDowns.
type peerSession struct {
	shell *clusterShell
	link  *peerLink
	// route picks each request's connection; guarded by the server's mu.
	route transport.Session[*peerConnection]
	// failed is closed, under mu, when the session fails.
	failed  chan struct{}
	mu      sync.Mutex
	err     error
	conns   []*peerConnection
	running sync.WaitGroup
}

// peerConnection is one TCP connection of a session.
type peerConnection struct {
	session *peerSession
	wake    chan struct{}

	mu          sync.Mutex
	nc          net.Conn
	closed      bool
	queue       [][]byte
	queuedBytes int
	// outstanding counts requests written and not yet answered; a read
	// deadline runs while it is above zero.
	outstanding int
}

// sendLocked hands a request frame to its peer's session, starting one if
// needed.
func (c *clusterShell) sendLocked(message replica.PeerMessage) {
	link := c.links[message.To]
	if link == nil {
		link = &peerLink{broker: message.To, address: c.config.Brokers[message.To]}
		c.links[message.To] = link
	}
	if logger := c.server.logger; logger.Enabled(context.Background(), slog.LevelDebug) {
		payload := transport.Payload(message.Frame)
		logger.Debug("peer request", "peer", message.To, "api", kmsg.NameForKey(transport.RequestKey(payload)),
			"correlation", transport.RequestCorrelation(payload), "bytes", len(message.Frame), "fetch", describeFetch(message.Frame))
	}
	if link.session == nil {
		link.session = &peerSession{shell: c, link: link, failed: make(chan struct{})}
		c.goroutines.Add(1)
		go link.session.watch()
	}
	session := link.session
	conn, ok := session.route.Route(message.Frame, func() (*peerConnection, bool) {
		conn := session.start()
		return conn, conn != nil
	})
	if !ok {
		return // the session failed; PeerDown will fail this request
	}
	conn.enqueue(message.Frame)
}

// start adds a connection to the session and dials it, unless the session
// has failed.
func (s *peerSession) start() *peerConnection {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.failed:
		return nil
	default:
	}
	conn := &peerConnection{session: s, wake: make(chan struct{}, 1)}
	s.conns = append(s.conns, conn)
	s.running.Add(1)
	go conn.run()
	return conn
}

// fail ends the session, keeping the first reason: every connection closes
// and frames still queued are dropped (PeerDown fails their requests).
func (s *peerSession) fail(err error) {
	s.mu.Lock()
	select {
	case <-s.failed:
		s.mu.Unlock()
		return
	default:
	}
	s.err = err
	close(s.failed)
	conns := s.conns
	s.mu.Unlock()
	for _, conn := range conns {
		conn.close()
	}
}

// watch reports the session's end to the node once every connection has
// stopped, so that no response of the session follows the PeerDown.
func (s *peerSession) watch() {
	defer s.shell.goroutines.Done()
	<-s.failed
	s.running.Wait()
	s.shell.lost(s)
}

func (p *peerConnection) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.queue, p.queuedBytes = nil, 0
	if p.nc != nil {
		p.nc.Close()
	}
}

func (p *peerConnection) enqueue(frame []byte) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.queuedBytes+len(frame) > peerQueueBytesMax || len(p.queue) >= peerQueueFramesMax {
		p.mu.Unlock()
		p.session.fail(fmt.Errorf("more than %d requests or %d bytes waiting to be written", peerQueueFramesMax, peerQueueBytesMax))
		return
	}
	p.queue = append(p.queue, frame)
	p.queuedBytes += len(frame)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// attach installs the dialled socket, unless the connection closed during
// the dial.
func (p *peerConnection) attach(nc net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		nc.Close()
		return false
	}
	p.nc = nc
	return true
}

// run dials, then writes and reads until the session fails.
func (p *peerConnection) run() {
	s := p.session
	defer s.running.Done()
	if s.link.address == "" {
		s.fail(fmt.Errorf("broker %d has no address in the cluster configuration", s.link.broker))
		return
	}
	dialer := net.Dialer{Timeout: peerDialTimeout}
	nc, err := dialer.DialContext(s.shell.ctx, "tcp", s.link.address)
	if err != nil {
		s.fail(err)
		return
	}
	if !p.attach(nc) {
		return
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	s.shell.connected(s)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		p.readLoop(nc)
	}()
	p.writeLoop(nc)
	<-readerDone
}

func (p *peerConnection) writeLoop(nc net.Conn) {
	var batch net.Buffers
	for {
		select {
		case <-p.wake:
		case <-p.session.failed:
			return
		}
		p.mu.Lock()
		frames := p.queue
		p.queue, p.queuedBytes = nil, 0
		if len(frames) > 0 {
			if p.outstanding == 0 {
				_ = nc.SetReadDeadline(time.Now().Add(peerResponseTimeout))
			}
			p.outstanding += len(frames)
		}
		p.mu.Unlock()
		if len(frames) == 0 {
			continue
		}
		_ = nc.SetWriteDeadline(time.Now().Add(peerWriteTimeout))
		batch = append(batch[:0], frames...)
		if _, err := batch.WriteTo(nc); err != nil {
			p.session.fail(fmt.Errorf("write: %w", err))
			return
		}
	}
}

func (p *peerConnection) readLoop(nc net.Conn) {
	var size [transport.FrameSizeBytes]byte
	for {
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			p.session.fail(fmt.Errorf("read: %w", err))
			return
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 4 || n > peerResponseBytesMax {
			p.session.fail(fmt.Errorf("response frame of %d bytes", n))
			return
		}
		// A fresh buffer per response: the node may keep slices of it
		// (fetched batches) beyond PeerResponse.
		frame := make([]byte, n)
		if _, err := io.ReadFull(nc, frame); err != nil {
			p.session.fail(fmt.Errorf("read: %w", err))
			return
		}
		if err := p.answered(nc); err != nil {
			p.session.fail(err)
			return
		}
		p.session.shell.deliver(p, frame)
	}
}

// answered counts one response and moves the read deadline: cleared when
// nothing more is owed, renewed otherwise.
func (p *peerConnection) answered(nc net.Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.outstanding == 0 {
		return errors.New("a response to no request")
	}
	p.outstanding--
	if p.outstanding == 0 {
		return nc.SetReadDeadline(time.Time{})
	}
	return nc.SetReadDeadline(time.Now().Add(peerResponseTimeout))
}

func (c *clusterShell) connected(session *peerSession) {
	s := c.server
	s.mu.Lock()
	defer s.mu.Unlock()
	link := session.link
	if link.down {
		s.logger.Info("connected to peer again", "peer", link.broker, "address", link.address)
	} else {
		s.logger.Debug("connected to peer", "peer", link.broker, "address", link.address)
	}
	link.down = false
}

// deliver hands one response, which arrived on conn, to the node.
func (c *clusterShell) deliver(conn *peerConnection, frame []byte) {
	s := c.server
	session := conn.session
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || session.link.session != session {
		return
	}
	session.route.Answered(conn)
	if s.logger.Enabled(context.Background(), slog.LevelDebug) {
		s.logger.Debug("peer response", "peer", session.link.broker, "correlation", transport.ResponseCorrelation(frame), "bytes", len(frame))
	}
	s.node.PeerResponse(time.Now(), session.link.broker, frame)
	s.flushLocked()
}

// lost tells the node its session with a peer is over. The next request to
// that peer, which the node sends after its backoff, starts a new one.
func (c *clusterShell) lost(session *peerSession) {
	s := c.server
	s.mu.Lock()
	defer s.mu.Unlock()
	link := session.link
	if link.session == session {
		link.session = nil
	}
	if s.closed {
		return
	}
	session.mu.Lock()
	err := session.err
	session.mu.Unlock()
	if link.down {
		s.logger.Debug("peer still unreachable", "peer", link.broker, "address", link.address, "err", err)
	} else {
		s.logger.Warn("lost connection to peer", "peer", link.broker, "address", link.address, "err", err)
	}
	link.down = true
	s.node.PeerDown(time.Now(), link.broker)
	s.flushLocked()
}

// stopPeersLocked closes every peer session for shutdown.
func (c *clusterShell) stopPeersLocked() {
	for _, id := range slices.Sorted(maps.Keys(c.links)) {
		if session := c.links[id].session; session != nil {
			session.fail(errServerClosed)
		}
	}
}

// describeFetch lists the partitions and offsets of a Fetch request frame as
// topic/partition@offset, for debug logs; other requests give "".
func describeFetch(frame []byte) string {
	if !transport.IsFetch(frame) {
		return ""
	}
	h, body, req, err := transport.ParseRequestHeader(transport.Payload(frame))
	if err != nil || req == nil {
		return "undecodable"
	}
	req.SetVersion(h.APIVersion)
	if transport.Decode(req, body) != nil {
		return "undecodable"
	}
	var parts []string
	for _, rt := range req.(*kmsg.FetchRequest).Topics {
		for _, rp := range rt.Partitions {
			parts = append(parts, fmt.Sprintf("%s/%d@%d", rt.Topic, rp.Partition, rp.FetchOffset))
		}
	}
	return strings.Join(parts, ",")
}

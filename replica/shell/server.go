package shell

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"cairn/replica"
	"cairn/replica/transport"
)

// Server runs a replica.Node on TCP and the real clock: the runtime shell around
// the deterministic node. Goroutines live here and only here: one reader and
// one writer per connection, one per fsync in flight, and a timer; for a
// clustered node also a connection (writer and reader) per peer broker, a
// proposer and the metadata log's callbacks (server_cluster.go). Every call
// into the node happens under mu, and every call is followed by flushLocked,
// which executes what the node asked for.
type Server struct {
	mu       sync.Mutex
	node     *replica.Node
	logger   *slog.Logger
	conns    map[replica.ConnID]*serverConn
	nextConn replica.ConnID
	timer    *time.Timer
	deadline time.Time
	// lastTick is when the timer last ran Tick.
	lastTick time.Time
	closed   bool
	listener net.Listener
	syncs    sync.WaitGroup
	// registered is closed once the node's metadata shows this broker
	// registered and unfenced: it can lead and serve partitions.
	registered     chan struct{}
	registeredOnce bool
	// cluster is the clustered node's side of the shell; nil for a
	// standalone node.
	cluster *clusterShell
	// metrics, when not nil, counts requests, bytes and fsyncs
	// (metrics.go); set by AttachMetrics before Serve.
	metrics *Metrics
	// written holds frames the writers sent, until the node takes them
	// back.
	written written
}

// NewServer wraps an open node. A clustered node (Config.Standalone false)
// needs NewClusteredServer instead, which also runs its metadata log and its
// connections to peers.
func NewServer(node *replica.Node, logger *slog.Logger) *Server {
	s := &Server{node: node, logger: logger, conns: map[replica.ConnID]*serverConn{}, registered: make(chan struct{})}
	s.timer = time.AfterFunc(time.Hour, s.tick)
	s.timer.Stop()
	s.mu.Lock()
	s.noteRegisteredLocked()
	s.mu.Unlock()
	return s
}

// Registered is closed once this broker is registered with the controller
// and unfenced, that is, once it serves: before that, Metadata does not list
// it and the controller places no partition on it. A standalone node is
// registered as soon as it opens.
func (s *Server) Registered() <-chan struct{} { return s.registered }

// Serve accepts connections until the listener closes.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if tcp, ok := nc.(*net.TCPConn); ok {
			_ = tcp.SetNoDelay(true)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.nextConn++
		c := newServerConn(s.nextConn, nc)
		s.conns[c.id] = c
		s.mu.Unlock()
		go c.writeLoop(s.logger, &s.written)
		go s.readLoop(c)
	}
}

// Close stops accepting, closes every connection (to clients and to
// peers), waits for fsyncs in flight, closes the node's logs cleanly, and
// then stops the metadata log's Raft replica. The Raft replica goes last and
// outside mu: its callbacks take mu, and once closed is set they leave the
// node alone (a restart replays the whole metadata log anyway).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.listener != nil {
		s.listener.Close()
	}
	for _, c := range s.conns {
		c.shutdown()
	}
	s.timer.Stop()
	if s.cluster != nil {
		s.cluster.stopLocked()
	}
	s.mu.Unlock()
	s.syncs.Wait()
	s.mu.Lock()
	err := s.node.Close()
	s.mu.Unlock()
	if s.cluster != nil {
		if closeErr := s.cluster.close(); err == nil {
			err = closeErr
		}
	}
	return err
}

func (s *Server) readLoop(c *serverConn) {
	defer func() {
		c.shutdown()
		s.mu.Lock()
		delete(s.conns, c.id)
		s.node.ConnClosed(c.id)
		s.mu.Unlock()
	}()
	var size [transport.FrameSizeBytes]byte
	var frame []byte
	for {
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			return
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if err := transport.CheckFrameSize(n); err != nil {
			s.logger.Warn("closing connection", "conn", c.id, "remote", c.nc.RemoteAddr().String(), "err", err)
			return
		}
		// The node keeps no reference to a frame, so one buffer per
		// connection serves every request that fits in it.
		if int(n) > cap(frame) {
			frame = make([]byte, n)
		}
		frame = frame[:n]
		if _, err := io.ReadFull(c.nc, frame); err != nil {
			s.logger.Debug("connection lost mid-request", "conn", c.id, "err", err)
			return
		}
		received := time.Now()
		// Decoding needs no node state: do it before taking the lock, so
		// that one client's costly request does not stall the others.
		request := replica.DecodeRequest(frame)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if s.metrics != nil { // metrics hook (metrics.go)
			s.metrics.requestReceived(request.APIKey(), int(n))
			c.timer.requested(request.CorrelationID(), request.APIKey(), received)
		}
		s.node.HandleRequest(time.Now(), c.id, request)
		s.flushLocked()
		s.mu.Unlock()
		if int(n) > largeFrameBytes {
			frame = nil // do not pin a huge buffer to an idle connection
		}
	}
}

// largeFrameBytes is the largest read buffer a connection keeps between
// requests.
const largeFrameBytes = 4 << 20

// flushLocked executes the node's Ready (replica.Node.Execute) and hands
// the node back the frames the writers finished with. Called with mu held.
func (s *Server) flushLocked() {
	s.releaseWrittenLocked()
	s.node.Execute(shellDriver{s})
	s.noteRegisteredLocked()
}

// shellDriver is the shell as the node's replica.Driver. Its methods run
// with the server's mu held, inside flushLocked.
type shellDriver struct{ s *Server }

func (d shellDriver) Send(id replica.ConnID, frame []byte) {
	s := d.s
	c, ok := s.conns[id]
	if !ok {
		return // the client is gone; so is the response
	}
	if s.metrics != nil { // metrics hook (metrics.go)
		s.metrics.responseSent(len(frame))
		if request, ok := c.timer.responded(frame); ok {
			s.metrics.api(request.apiKey).observe(time.Since(request.received))
		}
	}
	c.enqueue(frame)
}

func (d shellDriver) Close(id replica.ConnID) {
	if c, ok := d.s.conns[id]; ok {
		c.closeAfterWrites()
	}
}

func (d shellDriver) SendPeer(message replica.PeerMessage) {
	if s := d.s; s.cluster != nil && !s.closed {
		s.cluster.sendLocked(message)
	}
}

func (d shellDriver) Propose(entries [][]byte) {
	if s := d.s; s.cluster != nil && !s.closed {
		s.cluster.proposeLocked(entries)
	}
}

func (d shellDriver) StartSync(task *replica.SyncTask) {
	d.s.syncs.Add(1)
	go d.s.runSync(task)
}

func (d shellDriver) TickBy(deadline time.Time) { d.s.armTimer(deadline) }

// written collects the frames connection writers have sent, for the node to
// reuse (replica.Node.ReleaseFrame). The writers run outside mu, and the
// node may only be called under it, so they leave the frames here and
// flushLocked hands them over.
type written struct {
	mu     sync.Mutex
	frames [][]byte
}

// writtenFramesMax bounds the frames waiting to go back to the node; past
// it they are left to the collector.
const writtenFramesMax = 256

func (w *written) add(frames [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, frame := range frames {
		if len(w.frames) >= writtenFramesMax {
			return
		}
		w.frames = append(w.frames, frame)
	}
}

// releaseWrittenLocked hands the written frames to the node. Called with mu
// held.
func (s *Server) releaseWrittenLocked() {
	s.written.mu.Lock()
	frames := s.written.frames
	s.written.frames = nil
	s.written.mu.Unlock()
	for _, frame := range frames {
		s.node.ReleaseFrame(frame)
	}
}

// noteRegisteredLocked closes registered the first time the node's image
// shows this broker registered and unfenced.
func (s *Server) noteRegisteredLocked() {
	if !s.registeredOnce && s.node.Serving() {
		s.registeredOnce = true
		close(s.registered)
	}
}

func (s *Server) runSync(task *replica.SyncTask) {
	defer s.syncs.Done()
	started := time.Now()
	err := task.Run()
	if s.metrics != nil { // metrics hook (metrics.go)
		s.metrics.fsyncDone(time.Since(started), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node.SyncDone(time.Now(), task, err)
	s.flushLocked()
}

func (s *Server) armTimer(deadline time.Time) {
	if s.cluster != nil {
		deadline = s.cluster.clampDeadline(deadline, s.lastTick)
	}
	if deadline.IsZero() || deadline.Equal(s.deadline) {
		return
	}
	s.deadline = deadline
	s.timer.Reset(max(time.Until(deadline), 0))
}

func (s *Server) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.deadline = time.Time{}
	s.lastTick = time.Now()
	s.node.Tick(s.lastTick)
	s.flushLocked()
}

// serverConn is one client connection's outbound side: frames queue here and
// a writer goroutine sends them, many per system call.
type serverConn struct {
	id     replica.ConnID
	nc     net.Conn
	mu     sync.Mutex
	queue  [][]byte
	wake   chan struct{}
	done   bool // no more frames; close once the queue drains
	closed chan struct{}
	once   sync.Once
	// timer times requests for the metrics; guarded by the server's mu.
	timer responseTimer
}

func newServerConn(id replica.ConnID, nc net.Conn) *serverConn {
	return &serverConn{id: id, nc: nc, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (c *serverConn) enqueue(frame []byte) {
	c.mu.Lock()
	c.queue = append(c.queue, frame)
	c.mu.Unlock()
	c.signal()
}

func (c *serverConn) closeAfterWrites() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.signal()
}

func (c *serverConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// shutdown closes the socket now; the reader and writer both return.
func (c *serverConn) shutdown() {
	c.once.Do(func() {
		close(c.closed)
		c.nc.Close()
	})
}

func (c *serverConn) writeLoop(logger *slog.Logger, written *written) {
	var batch net.Buffers
	for {
		select {
		case <-c.wake:
		case <-c.closed:
			return
		}
		c.mu.Lock()
		frames := c.queue
		c.queue = nil
		done := c.done
		c.mu.Unlock()
		if len(frames) > 0 {
			batch = append(batch[:0], frames...)
			if _, err := batch.WriteTo(c.nc); err != nil {
				logger.Debug("write failed", "conn", c.id, "err", err)
				c.shutdown()
				return
			}
			// Written: the frames' memory can serve the next responses.
			written.add(frames)
			clear(frames)
		}
		if done {
			c.shutdown()
			return
		}
	}
}

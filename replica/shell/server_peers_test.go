package shell

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"cairn/diskfault"
	"cairn/replica"
)

// fakePeer is a broker that records the correlation id of every request it
// gets, per connection, and answers only when told.
type fakePeer struct {
	listener net.Listener
	conns    chan *fakePeerConn
}

type fakePeerConn struct {
	nc       net.Conn
	requests chan int32
	// closed is closed when the other side closed the connection.
	closed chan struct{}
}

func newFakePeer(t *testing.T) *fakePeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{listener: l, conns: make(chan *fakePeerConn, 16)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			c := &fakePeerConn{nc: nc, requests: make(chan int32, 16), closed: make(chan struct{})}
			t.Cleanup(func() { nc.Close() })
			p.conns <- c
			go func() {
				defer close(c.closed)
				for {
					var size [4]byte
					if _, err := io.ReadFull(nc, size[:]); err != nil {
						return
					}
					frame := make([]byte, binary.BigEndian.Uint32(size[:]))
					if _, err := io.ReadFull(nc, frame); err != nil {
						return
					}
					c.requests <- int32(binary.BigEndian.Uint32(frame[4:]))
				}
			}()
		}
	}()
	return p
}

// accept returns the next connection the shell opened.
func (p *fakePeer) accept(t *testing.T) *fakePeerConn {
	t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the shell opened no connection")
		return nil
	}
}

func (c *fakePeerConn) expect(t *testing.T, correlation int32) {
	t.Helper()
	select {
	case got := <-c.requests:
		if got != correlation {
			t.Fatalf("request %d arrived where %d was expected", got, correlation)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("request %d never arrived", correlation)
	}
}

// answer sends a response to a flexible request: correlation id and an
// empty tag section. The node ignores a correlation id it never sent.
func (c *fakePeerConn) answer(t *testing.T, correlation int32) {
	t.Helper()
	frame := binary.BigEndian.AppendUint32(nil, 5)
	frame = binary.BigEndian.AppendUint32(frame, uint32(correlation))
	frame = append(frame, 0)
	if _, err := c.nc.Write(frame); err != nil {
		t.Fatal(err)
	}
}

func (c *fakePeerConn) expectClosed(t *testing.T) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
}

// TestPeerSessions checks the shell's side of peer traffic against a fake
// broker: each follower fetch in flight gets a connection of its own (a
// parked fetch must not hold back another), other requests share one; an
// answered fetch frees its connection for the next; and when one connection
// breaks, the whole session closes and the next request starts a new one.
func TestPeerSessions(t *testing.T) {
	peer := newFakePeer(t)
	config := replica.DefaultConfig()
	config.Standalone = false
	config.DataDir = t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := replica.Open(config, replica.Env{FS: diskfault.OS{}, Logger: logger, Rand: rand.New(rand.NewPCG(1, 2))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(node, logger)
	c := newClusterShell(s, ClusterConfig{Brokers: map[int32]string{0: "127.0.0.1:1", 1: peer.listener.Addr().String()}})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	formatter := kmsg.NewRequestFormatter()
	send := func(correlation int32, req kmsg.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		c.sendLocked(replica.PeerMessage{To: 1, Frame: formatter.AppendRequest(nil, req, correlation)})
	}
	fetch := func() kmsg.Request {
		r := kmsg.NewPtrFetchRequest()
		r.SetVersion(12) // the version followers fetch with
		return r
	}
	heartbeat := kmsg.NewPtrBrokerHeartbeatRequest()

	send(1, fetch())
	first := peer.accept(t)
	first.expect(t, 1)
	send(2, fetch())
	second := peer.accept(t)
	second.expect(t, 2)
	send(3, heartbeat)
	control := peer.accept(t)
	control.expect(t, 3)
	send(4, heartbeat)
	control.expect(t, 4)

	second.answer(t, 2)
	// The answer is counted on the shell's reader goroutine; wait for it
	// before the next fetch picks a connection.
	if !waitUntil(5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		route := &c.links[1].session.route
		return route.Pending(route.Conns()[2]) == 0 // control, first, second
	}) {
		t.Fatal("the answer to fetch 2 was not counted")
	}
	send(5, fetch())
	second.expect(t, 5)

	first.nc.Close()
	second.expectClosed(t)
	control.expectClosed(t)
	if !waitUntil(5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return c.links[1].session == nil
	}) {
		t.Fatal("the broken session was never reported to the node")
	}
	send(6, heartbeat)
	peer.accept(t).expect(t, 6)
}

func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
